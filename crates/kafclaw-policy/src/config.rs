//! `PolicyConfig`: the plain, serde-friendly input of the policy engine.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{ToolTier, TrustClass};

/// Everything the policy engine needs to decide. The config crate maps its keys onto
/// this struct; `Default` gives the shipped defaults (see `docs/policy.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rules for the operator (CLI, local API with a valid token, scheduler).
    pub owner: ClassPolicy,
    /// Rules for other agents of our Kafka group.
    pub peer: ClassPolicy,
    /// Rules for everyone else (chat channels, unauthenticated senders).
    pub external: ClassPolicy,
    /// External sender ids allowed to use tools at all. Empty means "no allow-list":
    /// every external sender is judged by the class rules alone.
    pub allowed_senders: BTreeSet<String>,
    /// Tool calls per sender (applies to the classes with `rate_limited = true`).
    pub sender_rate_limit: Option<RateLimit>,
    /// Tool calls per channel (applies to the classes with `rate_limited = true`).
    pub channel_rate_limit: Option<RateLimit>,
    /// Model tokens per UTC day across all tasks; 0 means unlimited.
    pub daily_token_limit: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            owner: ClassPolicy {
                max_tier: ToolTier::HighRisk,
                approval_tiers: BTreeSet::new(),
                rate_limited: false,
            },
            peer: ClassPolicy {
                max_tier: ToolTier::Write,
                approval_tiers: BTreeSet::new(),
                rate_limited: true,
            },
            external: ClassPolicy {
                max_tier: ToolTier::ReadOnly,
                approval_tiers: BTreeSet::new(),
                rate_limited: true,
            },
            allowed_senders: BTreeSet::new(),
            sender_rate_limit: None,
            channel_rate_limit: None,
            daily_token_limit: 0,
        }
    }
}

impl PolicyConfig {
    /// The rules that apply to one trust class.
    pub fn class(&self, class: TrustClass) -> &ClassPolicy {
        match class {
            TrustClass::Owner => &self.owner,
            TrustClass::Peer => &self.peer,
            TrustClass::External => &self.external,
        }
    }

    /// Mutable access to the rules of one trust class.
    pub fn class_mut(&mut self, class: TrustClass) -> &mut ClassPolicy {
        match class {
            TrustClass::Owner => &mut self.owner,
            TrustClass::Peer => &mut self.peer,
            TrustClass::External => &mut self.external,
        }
    }
}

/// Per-trust-class rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassPolicy {
    /// The highest tool tier this class may use; anything above is denied.
    pub max_tier: ToolTier,
    /// Tiers (at or below `max_tier`) that need a human approval before they run.
    #[serde(default)]
    pub approval_tiers: BTreeSet<ToolTier>,
    /// Whether the sender and channel rate limits apply to this class.
    #[serde(default)]
    pub rate_limited: bool,
}

/// "At most `max_calls` calls per `window_secs` seconds", enforced as a token bucket that
/// holds `max_calls` tokens and refills them evenly over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Bucket size: how many calls may come in a burst.
    pub max_calls: u32,
    /// Length of the window in seconds over which `max_calls` tokens refill.
    pub window_secs: u64,
}
