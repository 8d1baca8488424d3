//! `PolicyEngine`: applies the evaluation order of `docs/policy.md` and records every
//! decision through a [`DecisionSink`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rate::{Clock, RateLimiter, SystemClock};
use crate::{
    Decision, DecisionSink, Error, Outcome, PolicyConfig, QuotaExceeded, RateLimit, Result,
    ToolRequest, ToolTier, TrustClass,
};

/// Stable reason codes, the part of `Decision::reason` before the colon.
pub mod reason {
    /// Step 1: the tool registry does not know the tool.
    pub const UNKNOWN_TOOL: &str = "unknown_tool";
    /// Step 2: an external sender is missing from a non-empty allow-list.
    pub const SENDER_NOT_ALLOWED: &str = "sender_not_allowed";
    /// Step 3: the sender's or the channel's rate limit is exhausted.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Step 4: the tool's tier is above the class maximum.
    pub const TIER_ABOVE_CLASS_MAX: &str = "tier_above_class_max";
    /// Step 5: the class needs an approval for this tier.
    pub const APPROVAL_REQUIRED: &str = "approval_required";
    /// Step 6: allowed.
    pub const ALLOWED: &str = "allowed";
}

/// Decides whether tool calls may run. Cheap to share behind an `Arc`; all methods take
/// `&self`.
pub struct PolicyEngine {
    config: PolicyConfig,
    sender_limiter: Option<RateLimiter>,
    channel_limiter: Option<RateLimiter>,
    daily_token_limit: AtomicU64,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn DecisionSink>,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("config", &self.config)
            .field("daily_token_limit", &self.daily_token_limit)
            .finish_non_exhaustive()
    }
}

fn validate_rate(
    field_calls: &'static str,
    field_window: &'static str,
    r: &RateLimit,
) -> Result<()> {
    if r.max_calls == 0 {
        return Err(Error::InvalidConfig {
            field: field_calls,
            reason: "must be at least 1 (leave the limit unset to disable it)".into(),
        });
    }
    if r.window_secs == 0 {
        return Err(Error::InvalidConfig {
            field: field_window,
            reason: "must be at least 1 second".into(),
        });
    }
    Ok(())
}

impl PolicyEngine {
    /// An engine using the system clock.
    pub fn new(config: PolicyConfig, sink: Arc<dyn DecisionSink>) -> Result<Self> {
        Self::with_clock(config, sink, Arc::new(SystemClock))
    }

    /// An engine with an injected clock (rate limits read it).
    pub fn with_clock(
        config: PolicyConfig,
        sink: Arc<dyn DecisionSink>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if let Some(r) = &config.sender_rate_limit {
            validate_rate(
                "sender_rate_limit.max_calls",
                "sender_rate_limit.window_secs",
                r,
            )?;
        }
        if let Some(r) = &config.channel_rate_limit {
            validate_rate(
                "channel_rate_limit.max_calls",
                "channel_rate_limit.window_secs",
                r,
            )?;
        }
        if config.allowed_senders.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::InvalidConfig {
                field: "allowed_senders",
                reason: "contains an empty sender id".into(),
            });
        }
        Ok(Self {
            sender_limiter: config.sender_rate_limit.map(RateLimiter::new),
            channel_limiter: config.channel_rate_limit.map(RateLimiter::new),
            daily_token_limit: AtomicU64::new(config.daily_token_limit),
            config,
            clock,
            sink,
        })
    }

    /// The configuration the engine was built with (`daily_token_limit` there is the
    /// initial value; see [`Self::daily_token_limit`] for the current one).
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Judges one tool call and records the decision. Follows the evaluation order of
    /// `docs/policy.md` exactly. If the sink fails, returns [`Error::Record`]; the caller
    /// must then not run the tool.
    pub async fn evaluate(&self, request: ToolRequest) -> Result<Decision> {
        let decision = self.decide(request);
        if let Err(source) = self.sink.record(&decision).await {
            return Err(Error::Record {
                tool: decision.tool,
                outcome: decision.outcome,
                source,
            });
        }
        Ok(decision)
    }

    fn decide(&self, req: ToolRequest) -> Decision {
        let (outcome, reason) = self.rule(&req);
        Decision {
            outcome,
            reason,
            tool: req.tool,
            tier: req.tier,
            sender: req.sender,
            trust_class: req.trust_class,
            channel: req.channel,
            trace_id: req.trace_id,
            task_id: req.task_id,
        }
    }

    fn rule(&self, req: &ToolRequest) -> (Outcome, String) {
        let class = req.trust_class;
        // 1. Unknown tool.
        let Some(tier) = req.tier else {
            return (
                Outcome::Deny,
                format!(
                    "{}: tool {:?} is not in the tool registry",
                    reason::UNKNOWN_TOOL,
                    req.tool
                ),
            );
        };
        // 2. Allow-list (external senders only, when the list is non-empty).
        if class == TrustClass::External
            && !self.config.allowed_senders.is_empty()
            && !self.config.allowed_senders.contains(&req.sender)
        {
            return (
                Outcome::Deny,
                format!(
                    "{}: external sender {:?} is not on the sender allow-list",
                    reason::SENDER_NOT_ALLOWED,
                    req.sender
                ),
            );
        }
        let rules = self.config.class(class);
        // 3. Rate limits (sender, then channel), for classes that are rate limited.
        if rules.rate_limited {
            let now = self.clock.now();
            if let Some(rl) = &self.sender_limiter {
                let key = format!("{}\u{1f}{}", req.channel, req.sender);
                if !rl.try_acquire(&key, now) {
                    let l = rl.limit();
                    return (
                        Outcome::Deny,
                        format!(
                            "{}: sender {:?} on channel {:?} exceeded {} tool calls per {} s",
                            reason::RATE_LIMITED,
                            req.sender,
                            req.channel,
                            l.max_calls,
                            l.window_secs
                        ),
                    );
                }
            }
            if let Some(rl) = &self.channel_limiter
                && !rl.try_acquire(&req.channel, now)
            {
                let l = rl.limit();
                return (
                    Outcome::Deny,
                    format!(
                        "{}: channel {:?} exceeded {} tool calls per {} s",
                        reason::RATE_LIMITED,
                        req.channel,
                        l.max_calls,
                        l.window_secs
                    ),
                );
            }
        }
        // 4. Tier above the class maximum.
        if tier > rules.max_tier {
            return (
                Outcome::Deny,
                format!(
                    "{}: tool {} is tier {}; {} senders may use up to tier {}",
                    reason::TIER_ABOVE_CLASS_MAX,
                    req.tool,
                    tier,
                    class,
                    rules.max_tier
                ),
            );
        }
        // 5. Tier needs an approval for this class.
        if rules.approval_tiers.contains(&tier) {
            return (
                Outcome::RequireApproval,
                format!(
                    "{}: tool {} is tier {}, which needs an approval for {} senders",
                    reason::APPROVAL_REQUIRED,
                    req.tool,
                    tier,
                    class
                ),
            );
        }
        // 6. Allow.
        (
            Outcome::Allow,
            format!(
                "{}: tool {} is tier {}, allowed for {} senders",
                reason::ALLOWED,
                req.tool,
                tier,
                class
            ),
        )
    }

    /// The daily token limit in force (0 = unlimited).
    pub fn daily_token_limit(&self) -> u64 {
        self.daily_token_limit.load(Ordering::Relaxed)
    }

    /// Changes the daily token limit at runtime (the `daily_token_limit` setting).
    pub fn set_daily_token_limit(&self, limit: u64) {
        self.daily_token_limit.store(limit, Ordering::Relaxed);
    }

    /// Call BEFORE a model call with the tokens used today (UTC) and an estimate for the
    /// call; refuses it when the budget is exhausted or would be overrun.
    pub fn check_quota(&self, used_today: u64, estimated: u64) -> Result<(), QuotaExceeded> {
        crate::quota::check_quota(self.daily_token_limit(), used_today, estimated)
    }

    /// The highest tier a class may use under this configuration.
    pub fn max_tier(&self, class: TrustClass) -> ToolTier {
        self.config.class(class).max_tier
    }
}
