//! Tuning of the runtime that `config.json` does not carry, with documented defaults.

use std::time::Duration;

/// What the runtime does with a message from a non-owner sender that matches an
/// attack-intent rule (`kafclaw_tools::detect_attack_intent`). Either way a `security`
/// event is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttackAction {
    /// The task fails with the rule's name; the model never sees the message (default).
    #[default]
    Refuse,
    /// The message goes to the model; the event marks it (the policy still limits tools).
    Mark,
}

/// Options of [`crate::Agent::start_with`]; [`crate::Agent::start`] uses the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentOptions {
    /// Tasks processed at the same time, across all sessions (default 4). A task parked
    /// for an approval does not count.
    pub concurrency: usize,
    /// Messages of earlier turns replayed to the model, at most (default 50).
    pub history_messages: u64,
    /// Characters of earlier turns replayed to the model, about at most (default 64 000).
    pub history_chars: usize,
    /// How long an approval request waits before it expires (default 5 minutes); the
    /// runtime setting `approval_timeout_seconds` overrides it.
    pub approval_timeout: Duration,
    /// How often a parked task re-reads its approval from the timeline, to see decisions
    /// made by another process sharing the file (default 2 s). Decisions made through
    /// [`crate::Agent::decide_approval`] wake the task at once.
    pub approval_poll: Duration,
    /// What to do with attack-intent matches from non-owner senders (default refuse).
    pub attack_action: AttackAction,
    /// Refuse to start when the model of `model.name` has no usable provider (default
    /// true); with false, such tasks fail one by one with the provider's error instead.
    pub require_provider: bool,
    /// The largest inbound message accepted, in bytes (default 256 KiB).
    pub max_message_bytes: usize,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            history_messages: 50,
            history_chars: 64_000,
            approval_timeout: Duration::from_secs(300),
            approval_poll: Duration::from_secs(2),
            attack_action: AttackAction::Refuse,
            require_provider: true,
            max_message_bytes: 256 * 1024,
        }
    }
}
