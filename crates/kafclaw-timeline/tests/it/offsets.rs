//! Consumer offsets and message-id de-duplication: the handler's effect, the de-dup
//! mark and the offset commit together or not at all.

use kafclaw_timeline::{Error, EventFilter, NewEvent, SeenBy, Timeline};

use crate::support::{open, owner_task};

const AGENT: &str = "agent-1";
const TOPIC: &str = "group.g.tasks.requests";

fn effect(content: &str) -> NewEvent {
    NewEvent {
        event_type: "group_task".into(),
        content: content.into(),
        ..Default::default()
    }
}

async fn events(t: &Timeline) -> Vec<String> {
    t.list_events(&EventFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.content)
        .collect()
}

#[tokio::test]
async fn commit_stores_effect_mark_and_next_offset_together() {
    let t = open().await;
    let mut rtx = t
        .begin_record(AGENT, TOPIC, 2, 41, Some("m-1"))
        .await
        .unwrap();
    assert!(!rtx.already_seen());
    rtx.append_event(effect("handled m-1")).await.unwrap();
    let task = rtx.create_task(owner_task("do it")).await.unwrap();
    rtx.commit().await.unwrap();

    assert_eq!(events(&t).await, ["handled m-1"]);
    assert!(t.get_task(&task.task.task_id).await.unwrap().is_some());
    assert!(t.message_seen(AGENT, "m-1").await.unwrap());
    let offsets = t.load_offsets(AGENT, TOPIC).await.unwrap();
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[&2], 42);
}

#[tokio::test]
async fn a_dropped_record_tx_leaves_nothing() {
    let t = open().await;
    {
        let mut rtx = t
            .begin_record(AGENT, TOPIC, 0, 7, Some("m-7"))
            .await
            .unwrap();
        rtx.append_event(effect("half done")).await.unwrap();
        rtx.create_task(owner_task("half")).await.unwrap();
        // The handler fails (or the process dies) before commit.
    }
    assert!(events(&t).await.is_empty());
    assert!(t.list_tasks(&Default::default()).await.unwrap().is_empty());
    assert!(!t.message_seen(AGENT, "m-7").await.unwrap());
    assert!(t.load_offsets(AGENT, TOPIC).await.unwrap().is_empty());

    // The redelivered record is handled normally.
    let mut rtx = t
        .begin_record(AGENT, TOPIC, 0, 7, Some("m-7"))
        .await
        .unwrap();
    assert!(!rtx.already_seen());
    rtx.append_event(effect("done")).await.unwrap();
    rtx.commit().await.unwrap();
    assert_eq!(events(&t).await, ["done"]);
}

#[tokio::test]
async fn an_explicit_rollback_leaves_nothing() {
    let t = open().await;
    let mut rtx = t.begin_record(AGENT, TOPIC, 0, 0, None).await.unwrap();
    rtx.append_event(effect("nope")).await.unwrap();
    rtx.rollback().await.unwrap();
    assert!(events(&t).await.is_empty());
    assert!(t.load_offsets(AGENT, TOPIC).await.unwrap().is_empty());
}

#[tokio::test]
async fn raw_handler_writes_through_conn_are_part_of_the_transaction() {
    let t = open().await;
    let mut rtx = t
        .begin_record(AGENT, TOPIC, 0, 0, Some("raw"))
        .await
        .unwrap();
    sqlx::query("INSERT INTO events (event_id, event_type, created_at) VALUES ('raw-1', 'raw', 0)")
        .execute(rtx.conn())
        .await
        .unwrap();
    drop(rtx);
    assert!(events(&t).await.is_empty());
}

#[tokio::test]
async fn a_redelivered_message_id_is_seen_even_at_a_new_offset() {
    let t = open().await;
    let mut rtx = t
        .begin_record(AGENT, TOPIC, 1, 5, Some("m-5"))
        .await
        .unwrap();
    rtx.append_event(effect("first delivery")).await.unwrap();
    rtx.commit().await.unwrap();

    // The producer retried: the same message landed again at offset 9.
    let rtx = t
        .begin_record(AGENT, TOPIC, 1, 9, Some("m-5"))
        .await
        .unwrap();
    assert!(rtx.already_seen());
    assert_eq!(rtx.seen_by(), Some(SeenBy::MessageId));
    rtx.commit().await.unwrap();
    assert_eq!(events(&t).await, ["first delivery"]);
    assert_eq!(t.load_offsets(AGENT, TOPIC).await.unwrap()[&1], 10);

    // The same id on another partition is also a duplicate.
    let rtx = t
        .begin_record(AGENT, TOPIC, 3, 0, Some("m-5"))
        .await
        .unwrap();
    assert!(rtx.already_seen());
    drop(rtx);

    // De-duplication is per agent: another agent sharing the file handles it.
    let rtx = t
        .begin_record("agent-2", TOPIC, 1, 5, Some("m-5"))
        .await
        .unwrap();
    assert!(!rtx.already_seen());
}

#[tokio::test]
async fn an_offset_below_the_committed_one_is_seen_and_never_moves_it_back() {
    let t = open().await;
    t.begin_record(AGENT, TOPIC, 0, 10, None)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    let rtx = t.begin_record(AGENT, TOPIC, 0, 4, None).await.unwrap();
    assert_eq!(rtx.seen_by(), Some(SeenBy::Offset));
    rtx.commit().await.unwrap();
    assert_eq!(t.load_offsets(AGENT, TOPIC).await.unwrap()[&0], 11);
    // The next record is new.
    let rtx = t.begin_record(AGENT, TOPIC, 0, 11, None).await.unwrap();
    assert!(!rtx.already_seen());
    drop(rtx);
    // An explicit reset may move it back.
    t.set_offset(AGENT, TOPIC, 0, 3).await.unwrap();
    assert_eq!(t.load_offsets(AGENT, TOPIC).await.unwrap()[&0], 3);
    let rtx = t.begin_record(AGENT, TOPIC, 0, 4, None).await.unwrap();
    assert!(!rtx.already_seen());
}

#[tokio::test]
async fn offsets_are_kept_per_agent_topic_and_partition_across_reopen() {
    let t = open().await;
    for (agent, topic, partition, offset) in [
        (AGENT, TOPIC, 0, 0),
        (AGENT, TOPIC, 1, 99),
        (AGENT, "other", 0, 5),
        ("agent-2", TOPIC, 0, 50),
    ] {
        t.begin_record(agent, topic, partition, offset, None)
            .await
            .unwrap()
            .commit()
            .await
            .unwrap();
    }
    let path = t.path().to_owned();
    t.close().await;
    let tl = Timeline::open_path(&path).await.unwrap();
    let mine = tl.load_offsets(AGENT, TOPIC).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!((mine[&0], mine[&1]), (1, 100));
    assert_eq!(tl.load_offsets(AGENT, "other").await.unwrap()[&0], 6);
    assert_eq!(tl.load_offsets("agent-2", TOPIC).await.unwrap()[&0], 51);
    assert!(tl.load_offsets("agent-3", TOPIC).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_positions_are_refused_with_the_field_name() {
    let t = open().await;
    let field = |e: Error| match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(
        field(t.begin_record(AGENT, TOPIC, -1, 0, None).await.unwrap_err()),
        "partition"
    );
    assert_eq!(
        field(t.begin_record(AGENT, TOPIC, 0, -5, None).await.unwrap_err()),
        "offset"
    );
    assert_eq!(
        field(
            t.begin_record(AGENT, TOPIC, 0, i64::MAX, None)
                .await
                .unwrap_err()
        ),
        "offset"
    );
    assert_eq!(
        field(t.begin_record(AGENT, "", 0, 0, None).await.unwrap_err()),
        "topic"
    );
    assert_eq!(
        field(t.begin_record("", TOPIC, 0, 0, None).await.unwrap_err()),
        "agent_id"
    );
    assert_eq!(
        field(
            t.begin_record(AGENT, TOPIC, 0, 0, Some(""))
                .await
                .unwrap_err()
        ),
        "message_id"
    );
}

#[tokio::test]
async fn writes_outside_an_open_record_tx_wait_for_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let t = Timeline::open(
        kafclaw_timeline::TimelineOptions::new(dir.path().join("t.db"))
            .busy_timeout(std::time::Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let rtx = t.begin_record(AGENT, TOPIC, 0, 0, None).await.unwrap();
    let err = t.append_event(effect("outside")).await.unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    rtx.commit().await.unwrap();
    // Once the record is committed, other writers proceed.
    t.append_event(effect("after")).await.unwrap();
    // Reads never wait.
    let rtx = t.begin_record(AGENT, TOPIC, 0, 1, None).await.unwrap();
    assert_eq!(events(&t).await, ["after"]);
    drop(rtx);
}
