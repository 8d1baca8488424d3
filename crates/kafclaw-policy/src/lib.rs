//! kafclaw-policy: decides whether a tool call may run. Tool tiers, sender trust
//! classes, allow-lists, quotas and rate limits. It holds logic and traits; it does
//! no IO of its own (decisions are recorded through a trait the caller implements).

mod tier;

pub use tier::{ToolTier, TrustClass};
