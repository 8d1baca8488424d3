//! The units of the chat middleware chain (classifier, prompt guard, output sanitizer,
//! FinOps) and the events through which their decisions become visible.

use std::fmt;

pub(crate) mod classifier;
pub(crate) mod finops;
pub(crate) mod guard;
pub(crate) mod patterns;
pub(crate) mod sanitizer;

/// Which part of the chain made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Content classifier (`contentClassification`).
    Classifier,
    /// Prompt guard (`promptGuard`).
    PromptGuard,
    /// Daily token quota (`policy.dailyTokenLimit`, setting `daily_token_limit`).
    Quota,
    /// FinOps budgets and cost (`finops`).
    FinOps,
    /// Model choice, retries and fallbacks.
    Router,
    /// Output sanitizer (`outputSanitization`).
    OutputSanitizer,
}

impl Stage {
    /// The stage's name (the config section where there is one).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Classifier => "contentClassification",
            Stage::PromptGuard => "promptGuard",
            Stage::Quota => "quota",
            Stage::FinOps => "finops",
            Stage::Router => "router",
            Stage::OutputSanitizer => "outputSanitization",
        }
    }
}

/// What a stage did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Attached a label (sensitivity level, task type, chosen model).
    Tag,
    /// Sent the request to a different model.
    Reroute,
    /// Found something and let it pass.
    Warn,
    /// Replaced matches with `[REDACTED:<detector>]`.
    Redact,
    /// Tried the same model again.
    Retry,
    /// Moved on to the next model of the plan.
    Fallback,
    /// Replaced the whole answer (a deny pattern matched).
    Deny,
    /// Cut the answer at the configured length.
    Truncate,
    /// Stored usage and cost.
    Record,
}

impl Action {
    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Tag => "tag",
            Action::Reroute => "reroute",
            Action::Warn => "warn",
            Action::Redact => "redact",
            Action::Retry => "retry",
            Action::Fallback => "fallback",
            Action::Deny => "deny",
            Action::Truncate => "truncate",
            Action::Record => "record",
        }
    }
}

/// One visible decision of the chain, for the agent to write to the timeline. Details
/// name detectors and counts, never the matched text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddlewareEvent {
    /// Who decided.
    pub stage: Stage,
    /// What was done.
    pub action: Action,
    /// Human-readable specifics.
    pub detail: String,
}

impl MiddlewareEvent {
    pub(crate) fn new(stage: Stage, action: Action, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::debug!(stage = stage.as_str(), action = action.as_str(), %detail, "chat middleware");
        Self {
            stage,
            action,
            detail,
        }
    }
}

impl fmt::Display for MiddlewareEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.stage.as_str(),
            self.action.as_str(),
            self.detail
        )
    }
}
