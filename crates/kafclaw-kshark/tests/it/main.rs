//! Integration tests of kafclaw-kshark. Everything that touches Kafka runs against
//! the real test broker (`cargo xtask test`, or a broker started with
//! `cargo xtask kafka start` and its `broker.env` loaded); without one the tests
//! skip locally and fail in CI.

mod failures;
mod group;
mod live;
mod schema;
mod support;
