//! Tasks: what a requester submits ([`TaskSpec`]), what a worker receives
//! ([`IncomingTask`]) and answers through a [`TaskHandler`], and how a requester
//! waits ([`PendingTask`]). Also the receiver's delegation checks (depth, deadline).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use kafclaw_envelope::{TaskRequest, TaskResponse, TaskState};
use tokio::sync::{oneshot, watch};

use crate::error::{Error, Result};

/// A task to submit: open to the group (claimed by exactly one capable agent) or
/// addressed to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub(crate) content: String,
    pub(crate) description: String,
    pub(crate) target: Option<String>,
    pub(crate) skill: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<DateTime<Utc>>,
    pub(crate) traceparent: Option<String>,
}

impl TaskSpec {
    /// A task any capable member may claim.
    pub fn open(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            description: String::new(),
            target: None,
            skill: None,
            timeout: None,
            deadline: None,
            traceparent: None,
        }
    }

    /// A task for one agent (`target_id` on the wire).
    pub fn to(agent_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            target: Some(agent_id.into()),
            ..Self::open(content)
        }
    }

    /// A short description (default: the first line of the content, cut at 80 characters).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Only agents offering this skill may claim it.
    pub fn skill(mut self, skill: impl Into<String>) -> Self {
        self.skill = Some(skill.into());
        self
    }

    /// How long the requester waits for the response (default: the agent's task timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline that travels with the task; a receiver rejects it once passed.
    pub fn deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The W3C `traceparent` that travels in the request's envelope, so the worker's
    /// spans continue the requester's trace.
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }
}

/// What a handler returns: the response content, or why the task failed.
pub type TaskResult = std::result::Result<String, String>;

/// Does the work of tasks this agent runs.
#[async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// Runs one task. It runs outside the consumer's transaction, on its own tokio task.
    async fn handle(&self, task: IncomingTask) -> TaskResult;
}

#[async_trait]
impl<F, Fut> TaskHandler for F
where
    F: Fn(IncomingTask) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TaskResult> + Send + 'static,
{
    async fn handle(&self, task: IncomingTask) -> TaskResult {
        (self)(task).await
    }
}

/// Submits child tasks on behalf of a running task.
#[async_trait]
pub(crate) trait Delegator: Send + Sync + 'static {
    async fn delegate(&self, parent: &TaskRequest, spec: TaskSpec) -> Result<TaskResponse>;
}

/// A task this agent runs.
#[derive(Clone)]
pub struct IncomingTask {
    pub(crate) request: TaskRequest,
    pub(crate) deadline: Option<DateTime<Utc>>,
    pub(crate) traceparent: Option<String>,
    pub(crate) delegator: Arc<dyn Delegator>,
}

impl std::fmt::Debug for IncomingTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingTask")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl IncomingTask {
    /// The requester's task id.
    pub fn task_id(&self) -> &str {
        &self.request.task_id
    }

    /// The task's content.
    pub fn content(&self) -> &str {
        &self.request.content
    }

    /// The task's description.
    pub fn description(&self) -> &str {
        &self.request.description
    }

    /// Who asked.
    pub fn requester_id(&self) -> &str {
        &self.request.requester_id
    }

    /// The agent at the start of the delegation chain.
    pub fn original_requester_id(&self) -> &str {
        if self.request.original_requester_id.is_empty() {
            &self.request.requester_id
        } else {
            &self.request.original_requester_id
        }
    }

    /// Delegation depth (0 for a task submitted directly).
    pub fn depth(&self) -> u32 {
        u32::try_from(self.request.delegation_depth).unwrap_or(0)
    }

    /// The deadline, if the task has one.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        self.deadline
    }

    /// The W3C `traceparent` of the request's envelope, when the requester sent one.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// The request as it came over the wire.
    pub fn request(&self) -> &TaskRequest {
        &self.request
    }

    /// Delegates part of the work: the child carries depth + 1, this task as parent,
    /// the original requester, and a deadline no later than this task's. Refused
    /// locally when the depth would exceed this agent's maximum.
    pub async fn delegate(&self, spec: TaskSpec) -> Result<TaskResponse> {
        self.delegator.delegate(&self.request, spec).await
    }
}

/// What is known about a submitted task while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskProgress {
    /// The latest status.
    pub state: Option<TaskState>,
    /// The agent working on it (the claim that won, or the target).
    pub worker: Option<String>,
    /// The latest status summary.
    pub summary: String,
}

/// Forgets a pending task when its caller stops waiting.
pub(crate) type Cancel = Box<dyn FnOnce(&str) + Send + Sync>;

/// A submitted task: its id, its progress, and its response.
pub struct PendingTask {
    pub(crate) task_id: String,
    pub(crate) progress: watch::Receiver<TaskProgress>,
    pub(crate) response: oneshot::Receiver<TaskResponse>,
    pub(crate) timeout: Duration,
    pub(crate) cancel: Option<Cancel>,
}

impl std::fmt::Debug for PendingTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingTask")
            .field("task_id", &self.task_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PendingTask {
    /// The task id (the requester's, carried by the response).
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Status updates (accepted, in progress, ...) and the winner of the claim.
    pub fn progress(&self) -> watch::Receiver<TaskProgress> {
        self.progress.clone()
    }

    /// Waits for the first response, up to the task's timeout.
    pub async fn wait(mut self) -> Result<TaskResponse> {
        let outcome = tokio::time::timeout(self.timeout, &mut self.response).await;
        if let Some(cancel) = self.cancel.take() {
            cancel(&self.task_id);
        }
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::TaskTimeout {
                task_id: self.task_id.clone(),
                waited: self.timeout,
            }),
        }
    }
}

/// Formats a deadline as Go writes it: RFC 3339 without fractional seconds (rounded
/// up, so a deadline never moves earlier).
pub(crate) fn format_deadline(at: DateTime<Utc>) -> String {
    let secs = if at.timestamp_subsec_nanos() > 0 {
        at.timestamp() + 1
    } else {
        at.timestamp()
    };
    DateTime::from_timestamp(secs, 0)
        .unwrap_or(at)
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The receiver's checks: depth within `max_depth` and deadline not passed. Returns
/// the parsed deadline, or the reason to reject.
pub(crate) fn check_incoming(
    req: &TaskRequest,
    max_depth: u32,
    now: DateTime<Utc>,
) -> std::result::Result<Option<DateTime<Utc>>, String> {
    if req.delegation_depth < 0 {
        return Err(format!(
            "invalid delegation_depth {}: must not be negative",
            req.delegation_depth
        ));
    }
    if req.delegation_depth > i64::from(max_depth) {
        return Err(format!(
            "delegation depth {} exceeds the maximum of {max_depth}",
            req.delegation_depth
        ));
    }
    let deadline = parse_deadline(&req.deadline_at)?;
    if let Some(d) = deadline
        && d <= now
    {
        return Err(format!(
            "deadline {} passed {} ms before the task could start",
            req.deadline_at,
            (now - d).num_milliseconds()
        ));
    }
    Ok(deadline)
}

pub(crate) fn parse_deadline(text: &str) -> std::result::Result<Option<DateTime<Utc>>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|d| Some(d.with_timezone(&Utc)))
        .map_err(|e| format!("invalid deadline_at {text:?}: {e}"))
}

/// Default description: the first line of the content, at most 80 characters.
pub(crate) fn default_description(content: &str) -> String {
    let line = content.lines().next().unwrap_or_default();
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(depth: i64, deadline: &str) -> TaskRequest {
        TaskRequest {
            delegation_depth: depth,
            deadline_at: deadline.into(),
            ..TaskRequest::new("t", "a", "d", "c")
        }
    }

    #[test]
    fn depth_and_deadline_are_checked() {
        let now = Utc::now();
        assert_eq!(check_incoming(&req(0, ""), 3, now), Ok(None));
        assert_eq!(check_incoming(&req(3, ""), 3, now), Ok(None));
        let e = check_incoming(&req(4, ""), 3, now).unwrap_err();
        assert!(e.contains("depth 4 exceeds the maximum of 3"), "{e}");
        assert!(check_incoming(&req(-1, ""), 3, now).is_err());
        let past = format_deadline(now - chrono::Duration::seconds(5));
        let e = check_incoming(&req(0, &past), 3, now).unwrap_err();
        assert!(e.contains("passed"), "{e}");
        let future = format_deadline(now + chrono::Duration::seconds(5));
        assert!(check_incoming(&req(0, &future), 3, now).unwrap().is_some());
        // Any offset is accepted, as Go writes the sender's zone.
        let zoned = (now + chrono::Duration::seconds(60))
            .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
            .to_rfc3339_opts(SecondsFormat::Secs, false);
        assert!(check_incoming(&req(0, &zoned), 3, now).is_ok());
        let e = check_incoming(&req(0, "tomorrow"), 3, now).unwrap_err();
        assert!(e.contains("invalid deadline_at"), "{e}");
    }

    #[test]
    fn deadlines_round_up_to_whole_seconds() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.001Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_deadline(at), "2026-01-02T03:04:06Z");
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_deadline(at), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn description_defaults_to_the_first_line() {
        assert_eq!(default_description("line one\nline two"), "line one");
        assert_eq!(default_description(&"x".repeat(100)).len(), 80);
    }
}
