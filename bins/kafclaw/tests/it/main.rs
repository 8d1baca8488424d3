//! Integration tests of the `kafclaw` binary: each module drives the real executable.

mod config;
mod envelope;
mod group;
mod kshark;
mod models;
mod tools;
