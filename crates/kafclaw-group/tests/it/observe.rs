//! Traces and audit against the real broker: published by one agent, stored by every
//! other agent's timeline once, duplicates (a redelivered record, a Go span without a
//! span id sent twice) included.

use std::sync::Arc;

use kafclaw_envelope::{AuditPayload, GroupEnvelope, GroupName, GroupTopic, Message, TracePayload};
use kafclaw_group::{OutRecord, Transport};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{GroupAuditFilter, GroupSpanFilter, Timeline, TimelineOptions};

use crate::agents::{builder, eventually_async, has_read_all, transport};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_and_audit_events_are_stored_once() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("obs.db")))
            .await
            .unwrap(),
    );
    let watcher = builder(&broker, &group, "watcher")
        .store(Arc::clone(&tl))
        .build()
        .await
        .unwrap();
    let actor = builder(&broker, &group, "actor").build().await.unwrap();
    watcher.join().await.unwrap();
    actor.join().await.unwrap();

    let span = TracePayload {
        trace_id: "trace-1".into(),
        span_id: "span-1".into(),
        parent_span_id: String::new(),
        span_type: "TASK".into(),
        title: "summarise".into(),
        content: "done".into(),
        started_at: "2026-11-21T10:15:30Z".into(),
        ended_at: "2026-11-21T10:15:31Z".into(),
        duration_ms: 1000,
    };
    actor.publish_trace(span.clone()).await.unwrap();
    // The same span id again (a retry) is stored once.
    actor.publish_trace(span).await.unwrap();
    actor
        .publish_audit(AuditPayload::event(
            "policy_decision",
            "tool=read_file tier=0 action=ALLOW",
        ))
        .await
        .unwrap();

    // A redelivered record (same message id) and a Go span (no span id, no message
    // id) sent twice byte for byte.
    let t = transport(&broker).await;
    let g = GroupName::new(group.as_str()).unwrap();
    let audit = GroupEnvelope::new(
        "actor",
        Message::Audit(AuditPayload::event("skill_check", "again")),
    );
    let go_span = GroupEnvelope::new(
        "go-agent",
        Message::Trace(TracePayload {
            trace_id: "trace-go".into(),
            span_type: "LLM".into(),
            title: "model call".into(),
            content: "model=x tokens=12".into(),
            ..TracePayload::default()
        }),
    )
    .without_extensions();
    for _ in 0..2 {
        let id = audit.message_id.clone().unwrap();
        t.produce(
            &g.topic(GroupTopic::Audit),
            OutRecord::keyed("actor", audit.to_json().unwrap()).with_message_id(&id),
        )
        .await
        .unwrap();
        t.produce(
            &g.topic(GroupTopic::Traces),
            OutRecord {
                key: None,
                value: go_span.to_json().unwrap(),
                headers: Default::default(),
            },
        )
        .await
        .unwrap();
    }

    let topics = [g.topic(GroupTopic::Traces), g.topic(GroupTopic::Audit)];
    eventually_async("the watcher read everything", || {
        has_read_all(&watcher, &t, &topics)
    })
    .await;
    assert_eq!(
        tl.list_group_spans(&GroupSpanFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        tl.list_group_audit(&GroupAuditFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    let stats = watcher.stats().consumer;
    assert!(
        stats.duplicates >= 1,
        "the redelivered audit record was skipped: {stats:?}"
    );
    let spans = tl
        .list_group_spans(&GroupSpanFilter::default())
        .await
        .unwrap();
    let mine = spans.iter().find(|s| s.span_id == "span-1").unwrap();
    assert_eq!(mine.trace_id, "trace-1");
    assert_eq!(mine.source_agent_id, "actor");
    assert_eq!(mine.span_type, "TASK");
    assert_eq!(mine.duration_ms, Some(1000));
    assert!(mine.started_at.is_some() && mine.ended_at.is_some());
    let go = spans.iter().find(|s| s.trace_id == "trace-go").unwrap();
    assert_eq!(go.source_agent_id, "go-agent");
    assert!(
        go.span_id.starts_with("span-"),
        "a digest id: {}",
        go.span_id
    );
    let audits = tl
        .list_group_audit(&GroupAuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<&str> = audits.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"policy_decision") && actions.contains(&"skill_check"));
    assert!(audits.iter().all(|a| a.agent_id == "actor"));
    watcher.shutdown().await;
    actor.shutdown().await;
}
