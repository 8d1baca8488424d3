//! kafclaw-agent: the agent runtime. A durable inbound queue (a crash loses no accepted
//! message), sessions processed concurrently and in order within one session, the context
//! builder with the soul files, the tool loop with a policy check before every tool call,
//! approvals that park a task and resume it, task records and timeline events with trace
//! and span ids, and append-only JSONL sessions.
//!
//! It is NOT an HTTP server (kafclaw-gateway is), a channel or a Kafka client: every
//! front end hands it an [`InboundMessage`] and waits for the [`TaskOutcome`]. It chooses
//! no concrete implementations either: the binary builds the timeline, the chat chain,
//! the tool registry and the policy engine and passes them in as [`AgentDeps`].
//!
//! The public surface below is the contract the gateway and the CLI build on; the
//! runtime's behaviour is described in `docs/agent.md`.

mod api;
mod context;
mod events;
mod options;
mod runtime;
mod scope;
mod session;
mod trace;
mod turn;

pub use api::{
    Agent, AgentDeps, Error, InboundMessage, Result, StartReport, Submitted, TaskOutcome, TaskState,
};
pub use context::{SOUL_FILES, ScaffoldAction, ScaffoldedFile, scaffold_workspace};
pub use events::{
    EVENT_APPROVAL_DECIDED, EVENT_APPROVAL_REQUESTED, EVENT_LLM_CALL, EVENT_MESSAGE_IN,
    EVENT_MESSAGE_OUT, EVENT_SECURITY, EVENT_TASK_FAILED, EVENT_TASK_RESUMED, EVENT_TOOL_CALL,
};
pub use options::{AgentOptions, AttackAction};
pub use scope::{ToolCallScope, current_tool_call};
