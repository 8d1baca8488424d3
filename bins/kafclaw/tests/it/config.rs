//! Tests of `kafclaw config` through the real binary.
