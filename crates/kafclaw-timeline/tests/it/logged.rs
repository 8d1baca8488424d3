//! Task writes with their event in one round trip: `create_task_with_event`,
//! `complete_task_with_event`, `fail_task_with_event`.

use kafclaw_timeline::{Error, EventFilter, NewEvent, NewUsage, TaskStatus};

use crate::support::{open, owner_task};

fn event(kind: &str, content: &str, metadata: serde_json::Value) -> NewEvent {
    NewEvent {
        event_type: kind.into(),
        trace_id: Some("trace-9".into()),
        span_id: Some("span-9".into()),
        parent_span_id: Some("parent-9".into()),
        sender: "owner".into(),
        channel: "cli".into(),
        content: content.into(),
        metadata,
        created_at: None,
    }
}

async fn events_of(t: &kafclaw_timeline::Timeline, kind: &str) -> Vec<kafclaw_timeline::Event> {
    t.list_events(&EventFilter {
        event_type: Some(kind.into()),
        ..EventFilter::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_new_task_gets_its_event_a_repeated_one_does_not() {
    let t = open().await;
    let mut new = owner_task("hello");
    new.idempotency_key = Some("k-1".into());
    let created = t
        .create_task_with_event(new.clone(), |id| {
            event("message_in", "hello", serde_json::json!({"task_id": id}))
        })
        .await
        .unwrap();
    assert!(created.is_new);
    let task = created.task;
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!(t.get_task(&task.task_id).await.unwrap().unwrap(), task);
    let ev = events_of(&t, "message_in").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].metadata["task_id"], task.task_id.as_str());
    assert_eq!(ev[0].trace_id.as_deref(), Some("trace-9"));
    assert_eq!(ev[0].span_id.as_deref(), Some("span-9"));
    assert_eq!(ev[0].parent_span_id.as_deref(), Some("parent-9"));

    let again = t
        .create_task_with_event(new, |id| {
            event("message_in", "hello", serde_json::json!({"task_id": id}))
        })
        .await
        .unwrap();
    assert!(!again.is_new);
    assert_eq!(again.task, task);
    assert_eq!(
        events_of(&t, "message_in").await.len(),
        1,
        "no second event"
    );

    // An explicit task id that exists is returned as well.
    let mut by_id = owner_task("other");
    by_id.task_id = Some(task.task_id.clone());
    let same = t
        .create_task_with_event(by_id, |_| event("message_in", "x", serde_json::Value::Null))
        .await
        .unwrap();
    assert!(!same.is_new);
    assert_eq!(same.task.task_id, task.task_id);
    assert_eq!(events_of(&t, "message_in").await.len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let t = open().await;
    let err = t
        .create_task_with_event(owner_task("hi"), |_| {
            event(" ", "x", serde_json::Value::Null)
        })
        .await
        .unwrap_err();
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
    let mut bad = owner_task("hi");
    bad.channel = String::new();
    let err = t
        .create_task_with_event(bad, |_| event("message_in", "x", serde_json::Value::Null))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "channel",
                ..
            }
        ),
        "{err}"
    );
    assert!(t.list_tasks(&Default::default()).await.unwrap().is_empty());
    assert!(t.list_events(&Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn finishing_writes_the_event_with_the_committed_totals() {
    let t = open().await;
    let task = t.create_task(owner_task("q")).await.unwrap().task;
    t.start_task(&task.task_id).await.unwrap();
    for (i, o) in [(10, 2), (5, 1)] {
        t.record_usage(NewUsage {
            task_id: Some(task.task_id.clone()),
            provider: "openai".into(),
            model: "m".into(),
            tokens_in: i,
            tokens_out: o,
            cost_usd: 0.25,
            created_at: None,
        })
        .await
        .unwrap();
    }
    let done = t
        .complete_task_with_event(
            &task.task_id,
            "the answer",
            event(
                "message_out",
                "the answer",
                serde_json::json!({"task_id": task.task_id}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.content_out.as_deref(), Some("the answer"));
    assert_eq!((done.tokens_in, done.tokens_out), (15, 3));
    let ev = events_of(&t, "message_out").await;
    assert_eq!(ev.len(), 1);
    let m = &ev[0].metadata;
    assert_eq!(m["task_id"], task.task_id.as_str());
    assert_eq!(m["tokens_in"], 15);
    assert_eq!(m["tokens_out"], 3);
    assert_eq!(m["cost_usd"], 0.5);
    assert_eq!(m["attempts"], 1);
    assert_eq!(ev[0].trace_id.as_deref(), Some("trace-9"));

    // A second finish is refused and writes no event.
    let err = t
        .fail_task_with_event(
            &task.task_id,
            "late",
            event("task_failed", "late", serde_json::Value::Null),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: TaskStatus::Completed,
                to: TaskStatus::Failed,
                ..
            }
        ),
        "{err}"
    );
    assert!(events_of(&t, "task_failed").await.is_empty());
    let err = t
        .complete_task_with_event(
            "nope",
            "x",
            event("message_out", "x", serde_json::Value::Null),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TaskNotFound { .. }), "{err}");
}

#[tokio::test]
async fn failing_writes_the_reason_and_its_event() {
    let t = open().await;
    let task = t.create_task(owner_task("q")).await.unwrap().task;
    t.start_task(&task.task_id).await.unwrap();
    let failed = t
        .fail_task_with_event(
            &task.task_id,
            "model call 1 failed",
            event(
                "task_failed",
                "model call 1 failed",
                serde_json::Value::Null,
            ),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("model call 1 failed"));
    let ev = events_of(&t, "task_failed").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].metadata["attempts"], 1);
    assert_eq!(ev[0].metadata["tokens_in"], 0);
}
