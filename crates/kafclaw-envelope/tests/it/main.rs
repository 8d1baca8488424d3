//! Integration tests of kafclaw-envelope: golden examples, schemas, property tests,
//! Go compatibility and adversarial input.

mod adversarial;
mod go_shape;
mod golden;
mod roundtrip;
mod schemas;
mod strategies;
mod support;
