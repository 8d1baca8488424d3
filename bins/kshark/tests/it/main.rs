//! Integration tests of the kshark binary.
