//! Policy decisions, recorded by the real PolicyEngine through the Timeline sink.

use std::sync::Arc;

use kafclaw_policy::{
    Error as PolicyError, Outcome, PolicyConfig, PolicyEngine, ToolRequest, ToolTier, TrustClass,
};
use kafclaw_timeline::DecisionFilter;

use crate::support::open;

fn req(class: TrustClass, tool: &str, tier: Option<ToolTier>, trace: &str) -> ToolRequest {
    ToolRequest {
        tool: tool.into(),
        tier,
        sender: format!("{class}-1"),
        trust_class: class,
        channel: "slack".into(),
        trace_id: Some(trace.into()),
        task_id: Some(format!("task-{trace}")),
    }
}

#[tokio::test]
async fn the_engine_records_every_decision_in_the_timeline() {
    let t = open().await;
    let mut config = PolicyConfig::default();
    config.owner.approval_tiers.insert(ToolTier::HighRisk);
    let engine = PolicyEngine::new(config, Arc::new(t.tl.clone())).unwrap();

    let made = vec![
        engine
            .evaluate(req(
                TrustClass::Owner,
                "exec",
                Some(ToolTier::HighRisk),
                "a",
            ))
            .await
            .unwrap(),
        engine
            .evaluate(req(
                TrustClass::Peer,
                "write_file",
                Some(ToolTier::Write),
                "a",
            ))
            .await
            .unwrap(),
        engine
            .evaluate(req(
                TrustClass::External,
                "write_file",
                Some(ToolTier::Write),
                "b",
            ))
            .await
            .unwrap(),
        engine
            .evaluate(req(TrustClass::External, "mystery", None, "b"))
            .await
            .unwrap(),
    ];
    let mut stored = t.list_decisions(&DecisionFilter::default()).await.unwrap();
    stored.reverse(); // oldest first, like `made`
    assert_eq!(stored.len(), made.len());
    for (s, d) in stored.iter().zip(&made) {
        assert_eq!(s.outcome, d.outcome);
        assert_eq!(s.reason, d.reason);
        assert_eq!(s.tool, d.tool);
        assert_eq!(s.tier, d.tier);
        assert_eq!(s.sender, d.sender);
        assert_eq!(s.trust_class, d.trust_class);
        assert_eq!(s.channel, d.channel);
        assert_eq!(s.trace_id, d.trace_id);
        assert_eq!(s.task_id, d.task_id);
    }
    assert_eq!(
        stored.iter().map(|s| s.outcome).collect::<Vec<_>>(),
        [
            Outcome::RequireApproval,
            Outcome::Allow,
            Outcome::Deny,
            Outcome::Deny
        ]
    );

    let denied = t
        .list_decisions(&DecisionFilter {
            outcome: Some(Outcome::Deny),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 2);
    let trace_a = t
        .list_decisions(&DecisionFilter {
            trace_id: Some("a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(trace_a.len(), 2);
    let by_task_and_tool = t
        .list_decisions(&DecisionFilter {
            task_id: Some("task-b".into()),
            tool: Some("mystery".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_task_and_tool.len(), 1);
    assert_eq!(by_task_and_tool[0].tier, None);
    let by_sender = t
        .list_decisions(&DecisionFilter {
            sender: Some("peer-1".into()),
            channel: Some("slack".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_sender.len(), 1);
}

#[tokio::test]
async fn a_closed_store_makes_evaluation_fail_instead_of_allowing() {
    let t = open().await;
    let engine = PolicyEngine::new(PolicyConfig::default(), Arc::new(t.tl.clone())).unwrap();
    t.close().await;
    let err = engine
        .evaluate(req(
            TrustClass::Owner,
            "read_file",
            Some(ToolTier::ReadOnly),
            "x",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, PolicyError::Record { .. }), "{err}");
    assert!(err.to_string().contains("policy decision"), "{err}");
}
