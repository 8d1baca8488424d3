//! The contract between the agent runtime and its front ends (CLI, gateway, group router):
//! what goes in ([`InboundMessage`], [`AgentDeps`]), what comes out ([`Submitted`],
//! [`TaskOutcome`]), and the [`Agent`] handle. The work is done in `runtime` and `turn`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::options::AgentOptions;
use crate::runtime::Inner;

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
    /// A file of the runtime (session transcript, workspace) could not be used.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What we tried, e.g. `append to the session transcript`.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
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

/// What [`Agent::start`] found in the durable queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartReport {
    /// Tasks a crash had interrupted, put back in the queue (they run again from the
    /// start of their turn).
    pub resumed: Vec<String>,
    /// Every pending task queued at start, in queue order (includes `resumed`).
    pub queued: Vec<String>,
    /// Tasks that had used up their attempts: failed, with the reason.
    pub failed: Vec<(String, String)>,
}

/// The running agent. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("timeline", &self.inner.timeline.path())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts the runtime: recovers tasks a crash interrupted (re-queues or fails them with
    /// a reason) and starts the workers.
    pub async fn start(deps: AgentDeps) -> Result<Agent> {
        Self::start_with(deps, AgentOptions::default()).await
    }

    /// [`Agent::start`] with options.
    pub async fn start_with(deps: AgentDeps, options: AgentOptions) -> Result<Agent> {
        Ok(Agent {
            inner: Inner::start(deps, options).await?,
        })
    }

    /// Queues a message durably (it survives a crash from here on) and returns its task.
    pub async fn submit(&self, msg: InboundMessage) -> Result<Submitted> {
        self.inner.submit(msg).await
    }

    /// Waits until the task is completed or failed, at most `timeout`.
    pub async fn wait(&self, task_id: &str, timeout: Duration) -> Result<TaskOutcome> {
        self.inner.wait(task_id, timeout).await
    }

    /// Like [`Agent::submit`], with a deadline stored on the task: a task whose deadline
    /// has passed when a worker takes it fails without being worked on, and a running
    /// task stops (fails) at its next model or tool call after the deadline. The group
    /// front end uses it for tasks whose requester set a deadline.
    pub async fn submit_until(
        &self,
        msg: InboundMessage,
        deadline: chrono::DateTime<chrono::Utc>,
    ) -> Result<Submitted> {
        self.inner.submit_with(msg, Some(deadline)).await
    }

    /// `submit` then `wait`.
    pub async fn chat(&self, msg: InboundMessage, timeout: Duration) -> Result<TaskOutcome> {
        let s = self.submit(msg).await?;
        self.wait(&s.task_id, timeout).await
    }

    /// The current state of a task without waiting.
    pub async fn outcome(&self, task_id: &str) -> Result<TaskOutcome> {
        self.inner.outcome(task_id).await
    }

    /// Approves or denies a parked tool call; the task resumes (or gets the denial as the
    /// tool result).
    pub async fn decide_approval(
        &self,
        approval_id: &str,
        approve: bool,
        decided_by: &str,
    ) -> Result<()> {
        self.inner
            .decide_approval(approval_id, approve, decided_by)
            .await
    }

    /// Stops taking work; running tasks get `grace` to finish, the rest stay queued (pending)
    /// in the timeline for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown(grace).await;
    }

    /// The agent's timeline.
    pub fn timeline(&self) -> &kafclaw_timeline::Timeline {
        &self.inner.timeline
    }

    /// What the start found in the durable queue.
    pub fn start_report(&self) -> &StartReport {
        &self.inner.start_report
    }

    /// Waits until this process has no task queued or running (parked tasks count as
    /// running), at most `timeout`; returns whether it became idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner.wait_idle(timeout).await
    }
}
