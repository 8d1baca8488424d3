//! The event log.

use chrono::{Duration, TimeZone, Utc};
use kafclaw_timeline::{Error, EventFilter, NewEvent};

use crate::support::open;

fn event(kind: &str, sender: &str, channel: &str, trace: &str, content: &str) -> NewEvent {
    NewEvent {
        event_type: kind.into(),
        trace_id: Some(trace.into()),
        sender: sender.into(),
        channel: channel.into(),
        content: content.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn append_and_read_back() {
    let t = open().await;
    let e = t
        .append_event(NewEvent {
            event_type: "tool_call".into(),
            trace_id: Some("tr".into()),
            span_id: Some("s2".into()),
            parent_span_id: Some("s1".into()),
            sender: "alice".into(),
            channel: "slack".into(),
            content: "read_file README.md".into(),
            metadata: serde_json::json!({"tool": "read_file", "ms": 12}),
            created_at: None,
        })
        .await
        .unwrap();
    assert!(!e.event_id.is_empty());
    assert_eq!(e.metadata["ms"], 12);
    assert_eq!(e.parent_span_id.as_deref(), Some("s1"));
    let listed = t.list_events(&EventFilter::default()).await.unwrap();
    assert_eq!(listed, [e]);
    // Null metadata is stored as an empty object.
    let plain = t.append_event(event("x", "", "", "t", "")).await.unwrap();
    assert_eq!(plain.metadata, serde_json::json!({}));
}

#[tokio::test]
async fn event_type_is_required() {
    let t = open().await;
    let err = t.append_event(NewEvent::default()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "event_type",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn filters_combine() {
    let t = open().await;
    t.append_event(event("message_in", "alice", "slack", "t1", "hi"))
        .await
        .unwrap();
    t.append_event(event("llm_call", "agent", "slack", "t1", "..."))
        .await
        .unwrap();
    t.append_event(event("message_in", "bob", "telegram", "t2", "yo"))
        .await
        .unwrap();
    t.append_event(event("message_out", "agent", "slack", "t1", "hello"))
        .await
        .unwrap();

    let f =
        |sender: Option<&str>, channel: Option<&str>, trace: Option<&str>, kind: Option<&str>| {
            EventFilter {
                sender: sender.map(Into::into),
                channel: channel.map(Into::into),
                trace_id: trace.map(Into::into),
                event_type: kind.map(Into::into),
                ..Default::default()
            }
        };
    let contents =
        |v: Vec<kafclaw_timeline::Event>| v.into_iter().map(|e| e.content).collect::<Vec<_>>();
    assert_eq!(
        contents(
            t.list_events(&f(Some("agent"), None, None, None))
                .await
                .unwrap()
        ),
        ["hello", "..."]
    );
    assert_eq!(
        contents(
            t.list_events(&f(None, Some("telegram"), None, None))
                .await
                .unwrap()
        ),
        ["yo"]
    );
    assert_eq!(
        contents(
            t.list_events(&f(None, Some("slack"), Some("t1"), Some("message_in")))
                .await
                .unwrap()
        ),
        ["hi"]
    );
    assert!(
        t.list_events(&f(Some("bob"), None, Some("t1"), None))
            .await
            .unwrap()
            .is_empty()
    );
    // Trace view: oldest first.
    assert_eq!(
        t.trace_events("t1")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.content)
            .collect::<Vec<_>>(),
        ["hi", "...", "hello"]
    );
}

#[tokio::test]
async fn time_window_and_paging() {
    let t = open().await;
    let base = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    for i in 0..6 {
        let mut e = event("tick", "clock", "cron", "t", &i.to_string());
        e.created_at = Some(base + Duration::hours(i));
        t.append_event(e).await.unwrap();
    }
    let window = t
        .list_events(&EventFilter {
            since: Some(base + Duration::hours(2)),
            until: Some(base + Duration::hours(5)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        window
            .iter()
            .map(|e| e.content.as_str())
            .collect::<Vec<_>>(),
        ["4", "3", "2"]
    );
    assert_eq!(window[0].created_at, base + Duration::hours(4));
    let page = t
        .list_events(&EventFilter {
            limit: Some(2),
            offset: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.content.as_str()).collect::<Vec<_>>(),
        ["3", "2"]
    );
}
