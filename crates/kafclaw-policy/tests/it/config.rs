//! PolicyConfig defaults, serde form and validation.

use std::sync::Arc;

use kafclaw_policy::{Error, PolicyConfig, PolicyEngine, RateLimit, ToolTier, TrustClass};

use crate::support::VecSink;

#[test]
fn defaults_match_the_documented_table() {
    let c = PolicyConfig::default();
    assert_eq!(c.class(TrustClass::Owner).max_tier, ToolTier::HighRisk);
    assert_eq!(c.class(TrustClass::Peer).max_tier, ToolTier::Write);
    assert_eq!(c.class(TrustClass::External).max_tier, ToolTier::ReadOnly);
    for class in TrustClass::ALL {
        assert!(c.class(class).approval_tiers.is_empty(), "{class}");
    }
    assert!(!c.owner.rate_limited);
    assert!(c.peer.rate_limited);
    assert!(c.external.rate_limited);
    assert!(c.allowed_senders.is_empty());
    assert_eq!(c.daily_token_limit, 0);
}

#[test]
fn json_round_trip_and_partial_input() {
    let c = PolicyConfig::default();
    let text = serde_json::to_string(&c).unwrap();
    let back: PolicyConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, c);

    let partial: PolicyConfig = serde_json::from_str(
        r#"{"peer": {"max_tier": 2, "approval_tiers": [2]}, "daily_token_limit": 5000}"#,
    )
    .unwrap();
    assert_eq!(partial.peer.max_tier, ToolTier::HighRisk);
    assert!(partial.peer.approval_tiers.contains(&ToolTier::HighRisk));
    assert!(!partial.peer.rate_limited);
    assert_eq!(partial.external, PolicyConfig::default().external);
    assert_eq!(partial.daily_token_limit, 5000);
}

#[test]
fn bad_json_names_the_problem() {
    let err = serde_json::from_str::<PolicyConfig>(r#"{"owner": {"max_tier": 3}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tool tier must be 0, 1 or 2"), "{err}");
    let err = serde_json::from_str::<PolicyConfig>(r#"{"owners": {}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("owners"), "{err}");
}

#[test]
fn zero_rate_limits_are_rejected_with_the_field_name() {
    let sink = Arc::new(VecSink::default());
    let config = PolicyConfig {
        sender_rate_limit: Some(RateLimit {
            max_calls: 0,
            window_secs: 60,
        }),
        ..PolicyConfig::default()
    };
    let err = PolicyEngine::new(config, sink.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "sender_rate_limit.max_calls",
                ..
            }
        ),
        "{err}"
    );
    let config = PolicyConfig {
        channel_rate_limit: Some(RateLimit {
            max_calls: 5,
            window_secs: 0,
        }),
        ..PolicyConfig::default()
    };
    let err = PolicyEngine::new(config, sink.clone()).unwrap_err();
    assert!(
        err.to_string().contains("channel_rate_limit.window_secs"),
        "{err}"
    );
}

#[test]
fn empty_allow_list_entry_is_rejected() {
    let mut config = PolicyConfig::default();
    config.allowed_senders.insert("  ".into());
    let err = PolicyEngine::new(config, Arc::new(VecSink::default())).unwrap_err();
    assert!(err.to_string().contains("allowed_senders"), "{err}");
}

#[test]
fn quota_uses_the_runtime_limit() {
    let h = crate::support::harness(PolicyConfig {
        daily_token_limit: 100,
        ..PolicyConfig::default()
    });
    assert!(h.engine.check_quota(50, 10).is_ok());
    let err = h.engine.check_quota(100, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "daily token quota exhausted: used 100 of 100 tokens today (the next call needs about 1)"
    );
    h.engine.set_daily_token_limit(0);
    assert!(h.engine.check_quota(1_000_000, 1_000_000).is_ok());
    h.engine.set_daily_token_limit(2000);
    assert_eq!(h.engine.daily_token_limit(), 2000);
    assert!(h.engine.check_quota(1500, 600).is_err());
}
