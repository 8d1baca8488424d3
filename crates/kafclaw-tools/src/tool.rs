//! The [`Tool`] trait, what a call returns ([`ToolOutput`]) and what it knows about
//! its caller ([`ToolContext`]).

use async_trait::async_trait;
use kafclaw_policy::{ToolTier, TrustClass};
use serde_json::Value;

use crate::Result;

/// A tool the LLM may call.
///
/// Implementations must be stateless with respect to callers: everything about the
/// request arrives in `args` and `ctx`. [`crate::Registry::execute`] validates `args`
/// against [`Tool::parameters`] before calling [`Tool::execute`]; implementations
/// should still parse `args` into typed values rather than trusting them.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Unique name: lowercase ASCII letters, digits and `_`, starting with a letter.
    fn name(&self) -> &str;
    /// One paragraph for the model: what the tool does and its limits.
    fn description(&self) -> &str;
    /// JSON Schema (the subset described in `docs/tools.md`) of the argument object.
    fn parameters(&self) -> Value;
    /// Risk tier, used by the policy engine.
    fn tier(&self) -> ToolTier;
    /// Run the tool.
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<ToolOutput>;
}

/// What a tool call returns to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolOutput {
    /// Text for the model.
    pub content: String,
    /// The tool ran but reports failure (non-zero exit, timeout, HTTP error status).
    pub is_error: bool,
    /// Part of the output was cut off at a size cap (the content says where).
    pub truncated: bool,
}

impl ToolOutput {
    /// A successful, complete text result.
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
            truncated: false,
        }
    }

    /// Mark the output as a failure report.
    pub fn with_error(mut self, is_error: bool) -> Self {
        self.is_error = is_error;
        self
    }

    /// Mark the output as truncated.
    pub fn with_truncated(mut self, truncated: bool) -> Self {
        self.truncated = truncated;
        self
    }
}

/// Who asked for a tool call, carried per call (never shared mutable state).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolContext {
    /// Trust class of the message that led to the call.
    pub trust: TrustClass,
    /// Sender id (channel-specific), if known.
    pub sender: Option<String>,
    /// Channel name (`cli`, `web`, `slack`, `group`, ...), if known.
    pub channel: Option<String>,
    /// Trace id for correlating timeline entries.
    pub trace_id: Option<String>,
    /// Task id of the task the call belongs to.
    pub task_id: Option<String>,
}

impl ToolContext {
    /// A context with only a trust class.
    pub fn new(trust: TrustClass) -> Self {
        Self {
            trust,
            sender: None,
            channel: None,
            trace_id: None,
            task_id: None,
        }
    }

    /// Set the sender.
    pub fn with_sender(mut self, sender: impl Into<String>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// Set the channel.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Set the trace id.
    pub fn with_trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self
    }

    /// Set the task id.
    pub fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }
}
