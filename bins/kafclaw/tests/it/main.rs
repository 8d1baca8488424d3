//! Integration tests of the `kafclaw` binary: each module drives the real executable.

mod config;
mod envelope;
mod kshark;
mod tools;
