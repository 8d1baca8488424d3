//! The evaluation order, one test per step and trust class, plus the order between steps
//! and decision recording.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_policy::{
    Error, Outcome, PolicyConfig, PolicyEngine, RateLimit, ToolTier, TrustClass, reason,
};

use crate::support::{FailingSink, harness, request};

const ALL: [TrustClass; 3] = TrustClass::ALL;

fn all_rate_limited(sender: Option<RateLimit>, channel: Option<RateLimit>) -> PolicyConfig {
    let mut c = PolicyConfig {
        sender_rate_limit: sender,
        channel_rate_limit: channel,
        ..PolicyConfig::default()
    };
    for class in ALL {
        c.class_mut(class).rate_limited = true;
    }
    c
}

// Step 1: unknown tool -> deny, for every class (even the owner).
#[tokio::test]
async fn step1_unknown_tool_is_denied_for_every_class() {
    let h = harness(PolicyConfig::default());
    for class in ALL {
        let d = h
            .engine
            .evaluate(request(class, "teleport", None))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{class}");
        assert_eq!(d.reason_code(), reason::UNKNOWN_TOOL, "{class}");
        assert!(d.reason.contains("teleport"), "{}", d.reason);
        assert_eq!(d.tier, None);
    }
}

// Step 2: the allow-list binds external senders only.
#[tokio::test]
async fn step2_allow_list_denies_unlisted_external_sender() {
    let mut config = PolicyConfig::default();
    config.allowed_senders.insert("friend".into());
    let h = harness(config);

    let d = h
        .engine
        .evaluate(request(
            TrustClass::External,
            "read_file",
            Some(ToolTier::ReadOnly),
        ))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason_code(), reason::SENDER_NOT_ALLOWED);
    assert!(d.reason.contains("external-sender"), "{}", d.reason);

    let mut listed = request(TrustClass::External, "read_file", Some(ToolTier::ReadOnly));
    listed.sender = "friend".into();
    let d = h.engine.evaluate(listed).await.unwrap();
    assert_eq!(d.outcome, Outcome::Allow);

    // An empty sender id is not a way around the list.
    let mut anonymous = request(TrustClass::External, "read_file", Some(ToolTier::ReadOnly));
    anonymous.sender = String::new();
    let d = h.engine.evaluate(anonymous).await.unwrap();
    assert_eq!(d.reason_code(), reason::SENDER_NOT_ALLOWED);
}

#[tokio::test]
async fn step2_allow_list_does_not_apply_to_owner_and_peer() {
    let mut config = PolicyConfig::default();
    config.allowed_senders.insert("friend".into());
    let h = harness(config);
    for class in [TrustClass::Owner, TrustClass::Peer] {
        let d = h
            .engine
            .evaluate(request(class, "write_file", Some(ToolTier::Write)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Allow, "{class}: {}", d.reason);
    }
}

#[tokio::test]
async fn step2_empty_allow_list_lets_external_through_to_class_rules() {
    let h = harness(PolicyConfig::default());
    let d = h
        .engine
        .evaluate(request(
            TrustClass::External,
            "read_file",
            Some(ToolTier::ReadOnly),
        ))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Allow);
}

// Step 3: rate limits, per sender and per channel, for every class that is rate limited.
#[tokio::test]
async fn step3_sender_rate_limit_denies_every_rate_limited_class() {
    let h = harness(all_rate_limited(
        Some(RateLimit {
            max_calls: 2,
            window_secs: 60,
        }),
        None,
    ));
    for class in ALL {
        let req = request(class, "read_file", Some(ToolTier::ReadOnly));
        for _ in 0..2 {
            let d = h.engine.evaluate(req.clone()).await.unwrap();
            assert_eq!(d.outcome, Outcome::Allow, "{class}");
        }
        let d = h.engine.evaluate(req.clone()).await.unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{class}");
        assert_eq!(d.reason_code(), reason::RATE_LIMITED, "{class}");
        assert!(d.reason.contains(&req.sender), "{}", d.reason);
    }
    // Tokens come back with time: one every 30 s.
    h.clock.advance(Duration::from_secs(30));
    for class in ALL {
        let d = h
            .engine
            .evaluate(request(class, "read_file", Some(ToolTier::ReadOnly)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Allow, "{class} after refill");
    }
}

#[tokio::test]
async fn step3_channel_rate_limit_is_shared_by_senders_of_the_channel() {
    let h = harness(all_rate_limited(
        None,
        Some(RateLimit {
            max_calls: 3,
            window_secs: 10,
        }),
    ));
    for (i, class) in ALL.into_iter().enumerate() {
        let d = h
            .engine
            .evaluate(request(class, "read_file", Some(ToolTier::ReadOnly)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Allow, "call {i}");
    }
    for class in ALL {
        let d = h
            .engine
            .evaluate(request(class, "read_file", Some(ToolTier::ReadOnly)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{class}");
        assert_eq!(d.reason_code(), reason::RATE_LIMITED);
        assert!(
            d.reason.contains("channel \"test-channel\""),
            "{}",
            d.reason
        );
    }
    let mut other = request(TrustClass::External, "read_file", Some(ToolTier::ReadOnly));
    other.channel = "other-channel".into();
    assert_eq!(
        h.engine.evaluate(other).await.unwrap().outcome,
        Outcome::Allow
    );
}

#[tokio::test]
async fn step3_classes_not_rate_limited_are_never_throttled() {
    // Defaults: owner is not rate limited, peer and external are.
    let h = harness(PolicyConfig {
        sender_rate_limit: Some(RateLimit {
            max_calls: 1,
            window_secs: 3600,
        }),
        ..PolicyConfig::default()
    });
    for _ in 0..5 {
        let d = h
            .engine
            .evaluate(request(TrustClass::Owner, "exec", Some(ToolTier::HighRisk)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Allow);
    }
    for class in [TrustClass::Peer, TrustClass::External] {
        let req = request(class, "read_file", Some(ToolTier::ReadOnly));
        assert_eq!(
            h.engine.evaluate(req.clone()).await.unwrap().outcome,
            Outcome::Allow
        );
        assert_eq!(
            h.engine.evaluate(req).await.unwrap().reason_code(),
            reason::RATE_LIMITED,
            "{class}"
        );
    }
}

// Step 4: tier above the class maximum.
#[tokio::test]
async fn step4_tier_above_class_max_is_denied_for_every_class() {
    let mut config = PolicyConfig::default();
    config.owner.max_tier = ToolTier::Write; // so the owner has a tier above its maximum
    let h = harness(config);
    let cases = [
        (TrustClass::Owner, "exec", ToolTier::HighRisk),
        (TrustClass::Peer, "exec", ToolTier::HighRisk),
        (TrustClass::External, "write_file", ToolTier::Write),
        (TrustClass::External, "exec", ToolTier::HighRisk),
    ];
    for (class, tool, tier) in cases {
        let d = h
            .engine
            .evaluate(request(class, tool, Some(tier)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Deny, "{class} {tool}");
        assert_eq!(
            d.reason_code(),
            reason::TIER_ABOVE_CLASS_MAX,
            "{class} {tool}"
        );
        assert!(
            d.reason
                .contains(&format!("{class} senders may use up to tier")),
            "{}",
            d.reason
        );
    }
}

// Step 5: approval-required tiers.
#[tokio::test]
async fn step5_approval_tier_requires_approval_for_every_class() {
    let mut config = PolicyConfig::default();
    config.owner.approval_tiers.insert(ToolTier::HighRisk);
    config.peer.approval_tiers.insert(ToolTier::Write);
    config.external.approval_tiers.insert(ToolTier::ReadOnly);
    let h = harness(config);
    let cases = [
        (TrustClass::Owner, "exec", ToolTier::HighRisk),
        (TrustClass::Peer, "write_file", ToolTier::Write),
        (TrustClass::External, "read_file", ToolTier::ReadOnly),
    ];
    for (class, tool, tier) in cases {
        let d = h
            .engine
            .evaluate(request(class, tool, Some(tier)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::RequireApproval, "{class}");
        assert_eq!(d.reason_code(), reason::APPROVAL_REQUIRED, "{class}");
    }
    // Tiers not listed stay automatic.
    let d = h
        .engine
        .evaluate(request(
            TrustClass::Owner,
            "write_file",
            Some(ToolTier::Write),
        ))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Allow);
}

// Step 6: allow, up to and including each class's maximum with the defaults.
#[tokio::test]
async fn step6_allow_up_to_class_max_for_every_class() {
    let h = harness(PolicyConfig::default());
    let cases = [
        (TrustClass::Owner, ToolTier::ReadOnly),
        (TrustClass::Owner, ToolTier::Write),
        (TrustClass::Owner, ToolTier::HighRisk),
        (TrustClass::Peer, ToolTier::ReadOnly),
        (TrustClass::Peer, ToolTier::Write),
        (TrustClass::External, ToolTier::ReadOnly),
    ];
    for (class, tier) in cases {
        let d = h
            .engine
            .evaluate(request(class, "tool", Some(tier)))
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Allow, "{class} tier {tier}");
        assert_eq!(d.reason_code(), reason::ALLOWED);
    }
}

// The order between steps.
#[tokio::test]
async fn unknown_tool_wins_over_allow_list() {
    let mut config = PolicyConfig::default();
    config.allowed_senders.insert("friend".into());
    let h = harness(config);
    let d = h
        .engine
        .evaluate(request(TrustClass::External, "teleport", None))
        .await
        .unwrap();
    assert_eq!(d.reason_code(), reason::UNKNOWN_TOOL);
}

#[tokio::test]
async fn allow_list_denial_does_not_spend_rate_tokens() {
    let mut config = all_rate_limited(
        Some(RateLimit {
            max_calls: 1,
            window_secs: 3600,
        }),
        None,
    );
    config.allowed_senders.insert("friend".into());
    let h = harness(config);
    let mut stranger = request(TrustClass::External, "read_file", Some(ToolTier::ReadOnly));
    stranger.sender = "stranger".into();
    for _ in 0..3 {
        let d = h.engine.evaluate(stranger.clone()).await.unwrap();
        assert_eq!(d.reason_code(), reason::SENDER_NOT_ALLOWED);
    }
    let mut friend = stranger.clone();
    friend.sender = "friend".into();
    assert_eq!(
        h.engine.evaluate(friend.clone()).await.unwrap().outcome,
        Outcome::Allow
    );
    assert_eq!(
        h.engine.evaluate(friend).await.unwrap().reason_code(),
        reason::RATE_LIMITED
    );
}

#[tokio::test]
async fn rate_limit_is_checked_before_tier() {
    let h = harness(all_rate_limited(
        Some(RateLimit {
            max_calls: 1,
            window_secs: 3600,
        }),
        None,
    ));
    let req = request(TrustClass::External, "exec", Some(ToolTier::HighRisk));
    assert_eq!(
        h.engine.evaluate(req.clone()).await.unwrap().reason_code(),
        reason::TIER_ABOVE_CLASS_MAX
    );
    assert_eq!(
        h.engine.evaluate(req).await.unwrap().reason_code(),
        reason::RATE_LIMITED
    );
}

#[tokio::test]
async fn tier_above_max_wins_over_approval() {
    let mut config = PolicyConfig::default();
    config.external.approval_tiers.insert(ToolTier::HighRisk);
    let h = harness(config);
    let d = h
        .engine
        .evaluate(request(
            TrustClass::External,
            "exec",
            Some(ToolTier::HighRisk),
        ))
        .await
        .unwrap();
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reason_code(), reason::TIER_ABOVE_CLASS_MAX);
}

// Recording.
#[tokio::test]
async fn every_decision_is_recorded_exactly_once() {
    let mut config = PolicyConfig::default();
    config.owner.approval_tiers.insert(ToolTier::HighRisk);
    let h = harness(config);
    let requests = vec![
        request(TrustClass::Owner, "exec", Some(ToolTier::HighRisk)),
        request(TrustClass::Peer, "exec", Some(ToolTier::HighRisk)),
        request(TrustClass::External, "read_file", Some(ToolTier::ReadOnly)),
        request(TrustClass::External, "nope", None),
    ];
    let mut returned = Vec::new();
    for r in requests {
        returned.push(h.engine.evaluate(r).await.unwrap());
    }
    assert_eq!(
        returned.iter().map(|d| d.outcome).collect::<Vec<_>>(),
        [
            Outcome::RequireApproval,
            Outcome::Deny,
            Outcome::Allow,
            Outcome::Deny
        ]
    );
    assert_eq!(h.sink.recorded(), returned);
    let first = &h.sink.recorded()[0];
    assert_eq!(first.trace_id.as_deref(), Some("trace-1"));
    assert_eq!(first.task_id.as_deref(), Some("task-1"));
    assert_eq!(first.channel, "test-channel");
    assert_eq!(first.sender, "owner-sender");
}

#[tokio::test]
async fn failed_recording_is_an_error_not_a_silent_allow() {
    let engine = PolicyEngine::new(PolicyConfig::default(), Arc::new(FailingSink)).unwrap();
    let err = engine
        .evaluate(request(
            TrustClass::Owner,
            "read_file",
            Some(ToolTier::ReadOnly),
        ))
        .await
        .unwrap_err();
    match &err {
        Error::Record { tool, outcome, .. } => {
            assert_eq!(tool, "read_file");
            assert_eq!(*outcome, Outcome::Allow);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[test]
fn outcome_text_forms_round_trip() {
    for o in [Outcome::Allow, Outcome::Deny, Outcome::RequireApproval] {
        assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
    }
    let err = "maybe".parse::<Outcome>().unwrap_err();
    assert!(err.to_string().contains("maybe"));
}
