//! Integration tests of kafclaw-group against the real Apache Kafka broker that
//! `cargo xtask test` starts (see docs/testing.md).

mod agents;
mod interop;
mod membership;
mod memory;
mod observe;
mod onboarding;
mod restart;
mod resume;
mod skills;
mod support;
mod tasks;
mod transport;
