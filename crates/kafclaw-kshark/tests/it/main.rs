//! Integration tests of kafclaw-kshark.
