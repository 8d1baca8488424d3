//! Integration tests of kafclaw-envelope.
