//! Integration tests for kafclaw-policy: the evaluation order, decision recording,
//! quotas and config handling.

mod config;
mod engine;
mod support;
