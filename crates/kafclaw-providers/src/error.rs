//! The one error type of the crate.

use std::time::Duration;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between the agent loop and a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model string is not of the form `provider/model` or names nothing.
    #[error("model {value:?}: {reason}")]
    InvalidModelRef {
        /// The string as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The provider id of a model string is not one we know.
    #[error("model {model:?}: unknown provider {provider:?} (known: {known})")]
    UnknownProvider {
        /// The provider id as written.
        provider: String,
        /// The model string it came from.
        model: String,
        /// The known provider ids.
        known: String,
    },

    /// The provider exists but this version cannot talk to it (e.g. OAuth-only providers).
    #[error("provider {provider:?} is not supported: {hint}")]
    UnsupportedProvider {
        /// The provider id.
        provider: String,
        /// What to use instead.
        hint: String,
    },

    /// The provider needs an API key and none is configured.
    #[error("provider {provider:?} has no API key: set {key} (or the environment variable {env})")]
    MissingApiKey {
        /// The provider id.
        provider: String,
        /// The config key to set, e.g. `providers.openai.apiKey`.
        key: String,
        /// The environment variable that sets it.
        env: String,
    },

    /// The provider has no endpoint configured and no public default.
    #[error("provider {provider:?} has no endpoint: set {key} (or the environment variable {env})")]
    MissingApiBase {
        /// The provider id.
        provider: String,
        /// The config key to set, e.g. `providers.vllm.apiBase`.
        key: String,
        /// The environment variable that sets it.
        env: String,
    },

    /// A configuration value the chain needs is unusable (a bad regular expression, an
    /// unknown detector name, ...).
    #[error("{key}: {problem}")]
    Config {
        /// The dotted config key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The request itself cannot be sent (e.g. no messages).
    #[error("invalid chat request: {reason}")]
    InvalidRequest {
        /// What is wrong with it.
        reason: String,
    },

    /// The provider does not offer this operation.
    #[error("provider {provider:?} does not support {operation}")]
    Unsupported {
        /// The provider id.
        provider: String,
        /// `embeddings`, `transcription`, `speech`, ...
        operation: &'static str,
    },

    /// The provider answered with an HTTP error status.
    #[error("{provider}/{model}: HTTP {status}: {message}")]
    Http {
        /// The provider id.
        provider: String,
        /// The model requested.
        model: String,
        /// The status code.
        status: u16,
        /// The `Retry-After` the server asked for, if any.
        retry_after: Option<Duration>,
        /// The vendor's error message (shortened), or the start of the body.
        message: String,
    },

    /// The request did not complete in time.
    #[error("{provider}/{model}: no answer within {after:?}")]
    Timeout {
        /// The provider id.
        provider: String,
        /// The model requested.
        model: String,
        /// The time limit.
        after: Duration,
    },

    /// The connection failed or broke (no usable HTTP answer).
    #[error("{provider}/{model}: {reason}")]
    Transport {
        /// The provider id.
        provider: String,
        /// The model requested.
        model: String,
        /// What happened.
        reason: String,
    },

    /// The answer arrived but is not what the vendor's format promises.
    #[error("{provider}/{model}: malformed reply: {reason}")]
    MalformedReply {
        /// The provider id.
        provider: String,
        /// The model requested.
        model: String,
        /// What was wrong, e.g. `missing choices[0].message`.
        reason: String,
    },

    /// The vendor reported an error inside a stream.
    #[error("{provider}/{model}: the stream reported an error: {message}")]
    StreamError {
        /// The provider id.
        provider: String,
        /// The model requested.
        model: String,
        /// The vendor's error type and message.
        message: String,
    },

    /// Every model of the plan failed; `last` is the last failure.
    #[error("all models failed ({}); last error: {last}", tried.join(", "))]
    AllModelsFailed {
        /// The models tried, in order (`provider/model`).
        tried: Vec<String>,
        /// The last error.
        #[source]
        last: Box<Error>,
    },

    /// A FinOps budget is used up; the call was refused before anything was sent.
    #[error(
        "{budget} exhausted: spent {spent:.4} of {limit:.4} USD (this call would add about {estimated:.4}); the call was not sent"
    )]
    BudgetExceeded {
        /// The budget key, `finops.dailyBudget` or `finops.monthlyBudget`.
        budget: &'static str,
        /// The budget in USD.
        limit: f64,
        /// Spent so far in the period, USD.
        spent: f64,
        /// The estimated cost of this call, USD.
        estimated: f64,
    },

    /// The daily token quota is used up; the call was refused before anything was sent.
    #[error("{0}; the call was not sent")]
    QuotaExceeded(#[from] kafclaw_policy::QuotaExceeded),

    /// A middleware refused the request or the answer.
    #[error("blocked by {stage}: {reason}")]
    Blocked {
        /// `promptGuard`, ...
        stage: &'static str,
        /// Why (names the detector, never the matched text).
        reason: String,
    },

    /// Reading or writing the usage ledger (the timeline) failed.
    #[error("usage ledger: {action}: {reason}")]
    Ledger {
        /// What we were doing.
        action: &'static str,
        /// The underlying error.
        reason: String,
    },
}

impl Error {
    /// Whether trying the same model again may succeed: 408, 409, 429, 5xx, time-outs and
    /// broken connections.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Error::Timeout { .. } | Error::Transport { .. } => true,
            Error::StreamError { message, .. } => message.contains("overloaded"),
            _ => false,
        }
    }

    /// Whether the next model of the plan should be tried after this error: any failure
    /// of the call itself, but not refusals and configuration problems, which would
    /// repeat for every model.
    pub fn allows_fallback(&self) -> bool {
        matches!(
            self,
            Error::Http { .. }
                | Error::Timeout { .. }
                | Error::Transport { .. }
                | Error::MalformedReply { .. }
                | Error::StreamError { .. }
                | Error::Unsupported { .. }
        )
    }

    /// The `Retry-After` delay of an HTTP error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
