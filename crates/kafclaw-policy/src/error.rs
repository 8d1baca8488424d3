//! The crate's error type.

use crate::{Outcome, QuotaExceeded, SinkError};

/// Errors of the policy engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `PolicyConfig` field has a value the engine cannot use.
    #[error("invalid policy config: {field}: {reason}")]
    InvalidConfig {
        /// Dotted path of the field, e.g. `sender_rate_limit.window_secs`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The decision was made but the sink could not record it. Treat as a denial.
    #[error("policy decision for tool {tool} ({outcome}) could not be recorded: {source}")]
    Record {
        /// The tool the decision was about.
        tool: String,
        /// The outcome that was not recorded.
        outcome: Outcome,
        /// The sink's error.
        #[source]
        source: SinkError,
    },
    /// The daily token quota is exhausted.
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
