//! The event types the runtime writes to the timeline. Every event carries the task's
//! trace id; the task's own events carry the task span, model and tool calls their own
//! span with the task span as parent.

/// A message was accepted (task span; parent: the caller's span from `traceparent`).
pub const EVENT_MESSAGE_IN: &str = "message_in";
/// A task interrupted by a restart was started again.
pub const EVENT_TASK_RESUMED: &str = "task_resumed";
/// One model call (its own span): model, tokens, duration, stop reason, tool calls.
pub const EVENT_LLM_CALL: &str = "llm_call";
/// One tool call (its own span): the policy outcome and reason, arguments, result.
pub const EVENT_TOOL_CALL: &str = "tool_call";
/// A tool call was parked until a human decides (the tool call's span).
pub const EVENT_APPROVAL_REQUESTED: &str = "approval_requested";
/// The decision on a parked tool call: approved, denied or expired (the tool call's span).
pub const EVENT_APPROVAL_DECIDED: &str = "approval_decided";
/// An inbound message matched an attack-intent rule.
pub const EVENT_SECURITY: &str = "security";
/// The task completed with this answer.
pub const EVENT_MESSAGE_OUT: &str = "message_out";
/// The task failed with this reason.
pub const EVENT_TASK_FAILED: &str = "task_failed";

/// Longest text kept in an event's content (bytes).
pub(crate) const MAX_EVENT_TEXT: usize = 10 * 1024;
