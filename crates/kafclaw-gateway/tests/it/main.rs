//! Integration tests of the gateway crate: a real agent behind a real gateway on
//! loopback; the group and orchestrator APIs against the real Kafka test broker with
//! real group agents and orchestrators.

mod group;
mod orchestrator;
mod support;
