//! Integration tests of the gateway crate: a real agent behind a real gateway on
//! loopback; the group API against the real Kafka test broker with real group agents.

mod group;
mod support;
