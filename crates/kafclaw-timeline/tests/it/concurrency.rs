//! Many tasks writing at once to one real file: no SQLITE_BUSY, no lost or doubled work.

use std::sync::Arc;

use kafclaw_timeline::{EventFilter, NewEvent, NewUsage, TaskStatus, Timeline, TimelineOptions};

const WRITERS: usize = 8;
const ROUNDS: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")).max_connections(6))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let tl = tl.clone();
        handles.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let mut new = crate::support::owner_task(&format!("{w}/{r}"));
                new.idempotency_key = Some(format!("k-{w}-{r}"));
                let task = tl.create_task(new).await?.task;
                tl.start_task(&task.task_id).await?;
                tl.record_usage(NewUsage {
                    task_id: Some(task.task_id.clone()),
                    provider: "p".into(),
                    model: "m".into(),
                    tokens_in: 3,
                    tokens_out: 1,
                    cost_usd: 0.0,
                    created_at: None,
                })
                .await?;
                tl.append_event(NewEvent {
                    event_type: "done".into(),
                    content: format!("{w}/{r}"),
                    ..Default::default()
                })
                .await?;
                tl.complete_task(&task.task_id, "ok").await?;
                let mut rtx = tl
                    .begin_record(
                        "agent",
                        "topic",
                        w as i32,
                        r as i64,
                        Some(&format!("m-{w}-{r}")),
                    )
                    .await?;
                rtx.append_event(NewEvent {
                    event_type: "record".into(),
                    ..Default::default()
                })
                .await?;
                rtx.commit().await?;
                tl.upsert_member(kafclaw_timeline::MemberUpdate {
                    agent_id: format!("peer-{}", r % 3),
                    identity: serde_json::json!({"seen_by": w}),
                    role: "worker".into(),
                    zone: None,
                    status: "active".into(),
                    seen_at: None,
                })
                .await?;
            }
            Ok::<_, kafclaw_timeline::Error>(())
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    let total = WRITERS * ROUNDS;
    assert_eq!(
        tl.count_tasks_by_status().await.unwrap(),
        [(TaskStatus::Completed, total as u64)]
    );
    assert_eq!(
        tl.usage_today().await.unwrap().total_tokens(),
        4 * total as u64
    );
    let done = tl
        .list_events(&EventFilter {
            event_type: Some("done".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(done.len(), total);
    let offsets = tl.load_offsets("agent", "topic").await.unwrap();
    assert_eq!(offsets.len(), WRITERS);
    assert!(offsets.values().all(|&o| o == ROUNDS as i64));
    assert_eq!(tl.list_members(None).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_of_one_message_are_handled_once() {
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(Timeline::open_path(dir.path().join("t.db")).await.unwrap());
    let mut handles = Vec::new();
    // The same message arrives at several offsets (producer retries), handled in parallel.
    for offset in 0..6i64 {
        let tl = tl.clone();
        handles.push(tokio::spawn(async move {
            let mut rtx = tl
                .begin_record("agent", "topic", 0, offset, Some("dup"))
                .await?;
            let handled = !rtx.already_seen();
            if handled {
                rtx.append_event(NewEvent {
                    event_type: "effect".into(),
                    ..Default::default()
                })
                .await?;
            }
            rtx.commit().await?;
            Ok::<_, kafclaw_timeline::Error>(handled)
        }));
    }
    let mut handled = 0;
    for h in handles {
        handled += usize::from(h.await.unwrap().unwrap());
    }
    assert_eq!(handled, 1);
    assert_eq!(
        tl.list_events(&EventFilter::default()).await.unwrap().len(),
        1
    );
    assert_eq!(tl.load_offsets("agent", "topic").await.unwrap()[&0], 6);
}
