//! Integration tests of kafclaw-providers against scripted servers on loopback.
