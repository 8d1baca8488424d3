//! Tests of `kafclaw envelope` through the real binary.
