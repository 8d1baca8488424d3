//! Integration tests of kafclaw-agent: the runtime with a real timeline file, the real
//! tools and policy engine, and scripted LLM servers on loopback for both wire formats.

mod approvals;
mod conversation;
mod policy;
mod queue;
mod support;
