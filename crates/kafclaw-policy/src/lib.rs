//! kafclaw-policy: decides whether a tool call may run. It knows tool tiers, sender
//! trust classes (owner, group peer, external), the sender allow-list, per-sender and
//! per-channel rate limits and the daily token quota, and it follows one documented
//! evaluation order (`docs/policy.md`). It is NOT a store and does no IO of its own:
//! every decision goes to a [`DecisionSink`] the caller supplies (kafclaw-timeline
//! implements it on SQLite), and token usage is passed in by the caller.

mod config;
mod decision;
mod engine;
mod error;
mod quota;
mod rate;
mod tier;

pub use config::{ClassPolicy, PolicyConfig, RateLimit};
pub use decision::{Decision, DecisionSink, Outcome, ParseOutcomeError, SinkError, ToolRequest};
pub use engine::{PolicyEngine, reason};
pub use error::{Error, Result};
pub use quota::{QuotaExceeded, check_quota};
pub use rate::{Clock, ManualClock, RateLimiter, SystemClock};
pub use tier::{ToolTier, TrustClass};
