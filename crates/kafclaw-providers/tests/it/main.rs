//! Integration tests of kafclaw-providers against scripted LLM servers on loopback (see
//! kafclaw-testkit's `llm` module) and a real timeline file.

mod accounting;
mod adapters;
mod middleware;
mod resilience;
mod resolve;
mod support;
