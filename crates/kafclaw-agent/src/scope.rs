//! The tool call being run, visible to the tool while it runs ([`current_tool_call`]):
//! a tool that starts work elsewhere (a delegation to another agent) continues the
//! task's trace under the tool call's span and respects the task's deadline.

use std::future::Future;

use chrono::{DateTime, Utc};

/// The task and span of the tool call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolCallScope {
    /// The task the call belongs to.
    pub task_id: String,
    /// The task's trace id.
    pub trace_id: String,
    /// The tool call's own span (its `tool_call` event carries it).
    pub span_id: String,
    /// The task's deadline, when it was submitted with one.
    pub deadline: Option<DateTime<Utc>>,
}

impl ToolCallScope {
    /// A W3C `traceparent` naming the tool call's span as parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

tokio::task_local! {
    static CURRENT: ToolCallScope;
}

/// Runs `fut` (a tool's execution) with `scope` as the current tool call.
pub(crate) async fn with_tool_call<F: Future>(scope: ToolCallScope, fut: F) -> F::Output {
    CURRENT.scope(scope, fut).await
}

/// The tool call in progress, when called from inside a tool the agent runtime runs
/// (on the same tokio task); `None` elsewhere.
pub fn current_tool_call() -> Option<ToolCallScope> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scope_is_visible_inside_only() {
        assert_eq!(current_tool_call(), None);
        let scope = ToolCallScope {
            task_id: "t1".into(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            deadline: None,
        };
        let seen = with_tool_call(scope.clone(), async { current_tool_call() }).await;
        assert_eq!(seen, Some(scope));
        assert_eq!(
            seen.map(|s| s.traceparent()).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(current_tool_call(), None);
    }
}
