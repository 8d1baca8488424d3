//! Task request, response and status payloads (also used on skill topics).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// `status` of a task response.
    ResponseStatus {
        /// The task was done (Go always sends this, even for errors).
        Completed = "completed",
        /// The task failed.
        Failed = "failed",
        /// The responder refused the task.
        Rejected = "rejected",
    }
}

wire_enum! {
    /// `status` of a `task_status` payload.
    TaskState {
        /// The responder claims the task (the first claim in partition order wins).
        Accepted = "accepted",
        /// Work is under way.
        InProgress = "in_progress",
        /// Work is done.
        Completed = "completed",
        /// Work failed.
        Failed = "failed",
    }
}

/// Payload of `request` (on `requests`) and `skill_request` (on `skill.{s}.requests`).
///
/// `skill` and `target_id` are our additive extensions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TaskRequest {
    /// The requester's task id; every response and status carries it back.
    pub task_id: String,
    /// Short description of the task.
    pub description: String,
    /// The task's content (what the worker should do).
    pub content: String,
    /// Agent id of the requester.
    pub requester_id: String,
    /// Parent task when this is a delegation (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_task_id: String,
    /// Delegation depth, 1 for the first delegation (omitted when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub delegation_depth: i64,
    /// The requester at the root of a delegation chain (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub original_requester_id: String,
    /// Deadline as RFC 3339 text (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deadline_at: String,
    /// Extension: the skill this request is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Extension: the one agent that should do the task; absent means open to claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

impl TaskRequest {
    /// A new open request.
    pub fn new(
        task_id: impl Into<String>,
        requester_id: impl Into<String>,
        description: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        TaskRequest {
            task_id: task_id.into(),
            requester_id: requester_id.into(),
            description: description.into(),
            content: content.into(),
            ..Self::default()
        }
    }
}

/// Payload of `response` (on `responses`) and `skill_response` (on `skill.{s}.responses`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TaskResponse {
    /// The requester's task id.
    pub task_id: String,
    /// Agent id of the responder.
    pub responder_id: String,
    /// The answer.
    pub content: String,
    /// `completed`, `failed` or `rejected` ([`ResponseStatus`]).
    #[schemars(extend("enum" = ResponseStatus::NAMES))]
    pub status: String,
}

impl TaskResponse {
    /// A response to `task_id`.
    pub fn new(
        task_id: impl Into<String>,
        responder_id: impl Into<String>,
        status: ResponseStatus,
        content: impl Into<String>,
    ) -> Self {
        TaskResponse {
            task_id: task_id.into(),
            responder_id: responder_id.into(),
            content: content.into(),
            status: status.as_str().to_owned(),
        }
    }

    /// The status, when it is one of the known ones.
    pub fn status(&self) -> Option<ResponseStatus> {
        ResponseStatus::parse(&self.status)
    }
}

/// Payload of `task_status` (on `tasks.status`; Go agents put it on `responses`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TaskStatusPayload {
    /// The requester's task id.
    pub task_id: String,
    /// Agent id of the reporting agent.
    pub responder_id: String,
    /// `accepted`, `in_progress`, `completed` or `failed` ([`TaskState`]).
    #[schemars(extend("enum" = TaskState::NAMES))]
    pub status: String,
    /// Free text (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

impl TaskStatusPayload {
    /// A status report for `task_id`.
    pub fn new(
        task_id: impl Into<String>,
        responder_id: impl Into<String>,
        state: TaskState,
    ) -> Self {
        TaskStatusPayload {
            task_id: task_id.into(),
            responder_id: responder_id.into(),
            status: state.as_str().to_owned(),
            summary: String::new(),
        }
    }

    /// The state, when it is one of the known ones.
    pub fn state(&self) -> Option<TaskState> {
        TaskState::parse(&self.status)
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}
