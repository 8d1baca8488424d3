//! The contract between the agent runtime and its front ends (CLI, gateway, group router).
//!
//! Being implemented: every method body below is replaced by the runtime's real code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kafclaw_policy::TrustClass;

/// Errors of the agent runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No LLM provider is configured; the message says how to configure one.
    #[error("no LLM provider is configured: {0}")]
    NoProvider(String),
    /// A request to the runtime was invalid (names the field).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The task or approval does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `task` or `approval`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// Waiting for a task timed out (the task goes on).
    #[error("task {task_id} did not finish within {waited:?}")]
    Timeout {
        /// The task.
        task_id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The runtime is shutting down and accepts no new work.
    #[error("the agent is shutting down")]
    ShuttingDown,
    /// The timeline failed.
    #[error("timeline: {0}")]
    Timeline(#[from] kafclaw_timeline::Error),
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the runtime needs; built by the binary (the composition root).
pub struct AgentDeps {
    /// The loaded configuration (paths, model, agents, policy, tools, ...).
    pub config: kafclaw_config::LoadedConfig,
    /// The timeline (already open).
    pub timeline: kafclaw_timeline::Timeline,
    /// The model chain (providers + middleware).
    pub chat: Arc<kafclaw_providers::ChatChain>,
    /// The tool registry (sandbox already configured).
    pub tools: Arc<kafclaw_tools::Registry>,
    /// The policy engine (records decisions in the timeline).
    pub policy: Arc<kafclaw_policy::PolicyEngine>,
    /// Directory of the append-only JSONL session files.
    pub sessions_dir: PathBuf,
    /// Directory holding the soul files (AGENTS.md, SOUL.md, USER.md, TOOLS.md, IDENTITY.md).
    pub workspace: PathBuf,
}

/// A message for the agent, from any front end.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// Channel it came in on: `cli`, `api`, `group`, `scheduler`, ...
    pub channel: String,
    /// Sender id as the channel knows it.
    pub sender: String,
    /// Trust class, fixed here and carried with the task.
    pub trust: TrustClass,
    /// Session key; messages of one session are handled in order. `None`: a new session.
    pub session: Option<String>,
    /// The text.
    pub content: String,
    /// Idempotency key: a second message with the same key returns the first task.
    pub idempotency_key: Option<String>,
    /// W3C traceparent of the caller, if any: the task's trace continues it.
    pub traceparent: Option<String>,
}

/// What `submit` returns: the task is durably queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Task id.
    pub task_id: String,
    /// Trace id of the task.
    pub trace_id: String,
    /// Session key the task runs in.
    pub session: String,
    /// False when the idempotency key matched an earlier task.
    pub is_new: bool,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Queued, not started.
    Pending,
    /// Running (model or tool calls in progress).
    Processing,
    /// Parked until an approval is decided.
    AwaitingApproval,
    /// Finished with a reply.
    Completed,
    /// Finished with an error.
    Failed,
}

/// The result of a finished (or still running) task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    /// Task id.
    pub task_id: String,
    /// Trace id.
    pub trace_id: String,
    /// Session key.
    pub session: String,
    /// State when the outcome was taken.
    pub state: TaskState,
    /// The reply text (completed tasks).
    pub reply: Option<String>,
    /// The error (failed tasks), saying what went wrong.
    pub error: Option<String>,
}

/// The running agent. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    _private: Arc<()>,
}

impl Agent {
    /// Starts the runtime: recovers tasks a crash interrupted (re-queues or fails them with
    /// a reason) and starts the workers.
    pub async fn start(_deps: AgentDeps) -> Result<Agent> {
        Err(Error::Other(
            "the agent runtime is being implemented".into(),
        ))
    }

    /// Queues a message durably (it survives a crash from here on) and returns its task.
    pub async fn submit(&self, _msg: InboundMessage) -> Result<Submitted> {
        Err(Error::Other(
            "the agent runtime is being implemented".into(),
        ))
    }

    /// Waits until the task is completed or failed, at most `timeout`.
    pub async fn wait(&self, _task_id: &str, _timeout: Duration) -> Result<TaskOutcome> {
        Err(Error::Other(
            "the agent runtime is being implemented".into(),
        ))
    }

    /// `submit` then `wait`.
    pub async fn chat(&self, msg: InboundMessage, timeout: Duration) -> Result<TaskOutcome> {
        let s = self.submit(msg).await?;
        self.wait(&s.task_id, timeout).await
    }

    /// The current state of a task without waiting.
    pub async fn outcome(&self, _task_id: &str) -> Result<TaskOutcome> {
        Err(Error::Other(
            "the agent runtime is being implemented".into(),
        ))
    }

    /// Approves or denies a parked tool call; the task resumes (or gets the denial as the
    /// tool result).
    pub async fn decide_approval(
        &self,
        _approval_id: &str,
        _approve: bool,
        _decided_by: &str,
    ) -> Result<()> {
        Err(Error::Other(
            "the agent runtime is being implemented".into(),
        ))
    }

    /// Stops taking work; running tasks get `grace` to finish, the rest stay queued (pending)
    /// in the timeline for the next start.
    pub async fn shutdown(&self, _grace: Duration) {}

    /// The agent's timeline.
    pub fn timeline(&self) -> &kafclaw_timeline::Timeline {
        unreachable!("the agent runtime is being implemented")
    }
}
