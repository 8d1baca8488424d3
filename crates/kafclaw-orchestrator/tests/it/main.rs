//! Integration tests of kafclaw-orchestrator against the real Apache Kafka broker
//! (`cargo xtask test -- -p kafclaw-orchestrator`, see docs/testing.md).

mod support;
mod three_agents;
