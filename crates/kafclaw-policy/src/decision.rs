//! What the engine is asked (`ToolRequest`), what it answers (`Decision`), and where the
//! answer is recorded (`DecisionSink`).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{ToolTier, TrustClass};

/// The verdict on one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The tool may run now.
    #[serde(rename = "allow")]
    Allow,
    /// The tool must not run.
    #[serde(rename = "deny")]
    Deny,
    /// The tool may run once a human approves it.
    #[serde(rename = "approval_required")]
    RequireApproval,
}

impl Outcome {
    /// The stable text form (`allow`, `deny`, `approval_required`), as stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::RequireApproval => "approval_required",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of `allow`, `deny`, `approval_required`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy outcome {0:?}: expected allow, deny or approval_required")]
pub struct ParseOutcomeError(pub String);

impl FromStr for Outcome {
    type Err = ParseOutcomeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Outcome::Allow),
            "deny" => Ok(Outcome::Deny),
            "approval_required" => Ok(Outcome::RequireApproval),
            other => Err(ParseOutcomeError(other.to_owned())),
        }
    }
}

/// One tool call to judge, with the request context it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    /// Tool name as the model asked for it.
    pub tool: String,
    /// The tool's tier from the tool registry; `None` when the registry does not know
    /// the tool (it is then denied, never treated as harmless).
    pub tier: Option<ToolTier>,
    /// Sender id as the channel reports it (agent id for group peers).
    pub sender: String,
    /// Trust class of the sender, fixed when the task was created.
    pub trust_class: TrustClass,
    /// Channel the task came in on (`cli`, `api`, `slack`, `group`, ...).
    pub channel: String,
    /// Trace id of the request, if any.
    pub trace_id: Option<String>,
    /// Task id of the request, if any.
    pub task_id: Option<String>,
}

/// The engine's answer to a [`ToolRequest`], with everything needed to audit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow, deny or require approval.
    pub outcome: Outcome,
    /// Why: a stable code, a colon, and a sentence (e.g.
    /// `tier_above_class_max: tool exec is tier 2; external senders may use up to tier 0`).
    pub reason: String,
    /// Tool name.
    pub tool: String,
    /// Tool tier (`None` for an unknown tool).
    pub tier: Option<ToolTier>,
    /// Sender id.
    pub sender: String,
    /// Sender trust class.
    pub trust_class: TrustClass,
    /// Channel name.
    pub channel: String,
    /// Trace id, if any.
    pub trace_id: Option<String>,
    /// Task id, if any.
    pub task_id: Option<String>,
}

impl Decision {
    /// The stable code at the start of `reason` (the part before the first colon).
    pub fn reason_code(&self) -> &str {
        self.reason
            .split_once(':')
            .map_or(self.reason.as_str(), |(code, _)| code)
    }
}

/// Error type a sink may return; the engine wraps it with the decision's context.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where decisions are recorded. The timeline crate implements this on its SQLite store;
/// the engine calls it once for every decision it makes.
#[async_trait]
pub trait DecisionSink: Send + Sync {
    /// Persists one decision. An error makes [`crate::PolicyEngine::evaluate`] fail, and
    /// callers treat a failed evaluation as a denial.
    async fn record(&self, decision: &Decision) -> Result<(), SinkError>;
}
