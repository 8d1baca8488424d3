//! kafclaw-agent: the agent runtime. A durable inbound queue (a crash loses no accepted
//! message), sessions processed concurrently and in order within one session, the context
//! builder with the soul files, the tool loop with a policy check before every tool call,
//! approvals that park a task and resume it, task records and timeline events with trace
//! and span ids, and append-only JSONL sessions.
//!
//! It is NOT an HTTP server (kafclaw-gateway is), a channel or a Kafka client: every
//! front end hands it an [`InboundMessage`] and waits for the [`TaskOutcome`].
//!
//! The public surface below is the contract the gateway and the CLI build on.

mod api;

pub use api::{Agent, AgentDeps, Error, InboundMessage, Result, Submitted, TaskOutcome, TaskState};
