//! Tasks: creation, idempotency, the status machine, delivery, listing.

use kafclaw_policy::TrustClass;
use kafclaw_timeline::{DeliveryStatus, Error, NewTask, TaskFilter, TaskStatus};

use crate::support::{new_task, open, owner_task};

#[tokio::test]
async fn create_fills_defaults() {
    let t = open().await;
    let mut new = NewTask::new("slack", "U123", TrustClass::External, "hello");
    new.trace_id = Some("trace-1".into());
    new.session_key = Some("slack:C1".into());
    new.chat_id = Some("C1".into());
    new.metadata = serde_json::json!({"reply_to": "m-9"});
    let created = t.create_task(new).await.unwrap();
    assert!(created.is_new);
    let task = created.task;
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!(task.trust_class, TrustClass::External);
    assert_eq!(task.attempts, 0);
    assert_eq!(task.delivery_status, DeliveryStatus::Pending);
    assert_eq!(task.metadata["reply_to"], "m-9");
    assert_eq!(task.created_at, task.updated_at);
    assert!(!task.task_id.is_empty());
    assert_eq!(t.get_task(&task.task_id).await.unwrap().unwrap(), task);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_task() {
    let t = open().await;
    let mut new = owner_task("first");
    new.idempotency_key = Some("auto:cli:trace-1".into());
    let first = t.create_task(new.clone()).await.unwrap();
    new.content_in = "second".into();
    let again = t.create_task(new).await.unwrap();
    assert!(first.is_new);
    assert!(!again.is_new);
    assert_eq!(again.task, first.task);
    assert_eq!(
        t.get_task_by_idempotency_key("auto:cli:trace-1")
            .await
            .unwrap()
            .unwrap()
            .content_in,
        "first"
    );
    // Tasks without a key never collide.
    assert!(t.create_task(owner_task("x")).await.unwrap().is_new);
    assert!(t.create_task(owner_task("x")).await.unwrap().is_new);
}

#[tokio::test]
async fn a_given_task_id_is_created_once() {
    let t = open().await;
    let mut new = owner_task("from the group");
    new.task_id = Some("group-task-7".into());
    assert!(t.create_task(new.clone()).await.unwrap().is_new);
    let again = t.create_task(new).await.unwrap();
    assert!(!again.is_new);
    assert_eq!(again.task.task_id, "group-task-7");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_name() {
    let t = open().await;
    let mut new = owner_task("x");
    new.metadata = serde_json::json!([1, 2]);
    let err = t.create_task(new).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                field: "metadata",
                ..
            }
        ),
        "{err}"
    );
    let err = t
        .create_task(NewTask::new(" ", "s", TrustClass::Owner, "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("channel"), "{err}");
}

#[tokio::test]
async fn the_status_machine_is_enforced() {
    let t = open().await;
    let task = new_task(&t, "work").await;
    let id = task.task_id.as_str();

    let err = t.complete_task(id, "too early").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidTransition {
                from: TaskStatus::Pending,
                to: TaskStatus::Completed,
                ..
            }
        ),
        "{err}"
    );
    assert!(t.fail_task(id, "x").await.is_err());

    let started = t.start_task(id).await.unwrap();
    assert_eq!(started.status, TaskStatus::Processing);
    assert_eq!(started.attempts, 1);
    let err = t.start_task(id).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidTransition {
                from: TaskStatus::Processing,
                ..
            }
        ),
        "{err}"
    );

    let done = t.complete_task(id, "answer").await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.content_out.as_deref(), Some("answer"));
    assert!(done.completed_at.is_some());
    assert!(t.fail_task(id, "late").await.is_err());
    assert!(t.start_task(id).await.is_err());

    let other = new_task(&t, "will fail").await;
    t.start_task(&other.task_id).await.unwrap();
    let failed = t.fail_task(&other.task_id, "provider down").await.unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("provider down"));

    let err = t.start_task("no-such-task").await.unwrap_err();
    assert!(matches!(&err, Error::TaskNotFound { task_id } if task_id == "no-such-task"));
}

#[test]
fn transition_table() {
    use TaskStatus::*;
    let all = [Pending, Processing, Completed, Failed];
    let allowed: Vec<_> = all
        .iter()
        .flat_map(|a| all.iter().map(move |b| (*a, *b)))
        .filter(|(a, b)| a.can_become(*b))
        .collect();
    assert_eq!(
        allowed,
        [
            (Pending, Processing),
            (Processing, Completed),
            (Processing, Failed)
        ]
    );
}

#[tokio::test]
async fn delivery_is_recorded_and_counted() {
    let t = open().await;
    let task = new_task(&t, "x").await;
    let id = &task.task_id;
    t.start_task(id).await.unwrap();
    t.complete_task(id, "y").await.unwrap();
    let undelivered = t
        .list_tasks(&TaskFilter {
            status: Some(TaskStatus::Completed),
            delivery_status: Some(DeliveryStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(undelivered.len(), 1);
    let failed = t
        .set_delivery(id, DeliveryStatus::Failed, Some("timeout"))
        .await
        .unwrap();
    assert_eq!(failed.delivery_attempts, 1);
    assert_eq!(failed.delivery_error.as_deref(), Some("timeout"));
    let sent = t
        .set_delivery(id, DeliveryStatus::Sent, None)
        .await
        .unwrap();
    assert_eq!(sent.delivery_status, DeliveryStatus::Sent);
    assert_eq!(sent.delivery_attempts, 2);
    assert_eq!(sent.delivery_error, None);
    let err = t
        .set_delivery("missing", DeliveryStatus::Sent, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TaskNotFound { .. }));
}

#[tokio::test]
async fn list_filters_and_pages() {
    let t = open().await;
    for i in 0..5 {
        let mut n = NewTask::new(
            if i % 2 == 0 { "slack" } else { "cli" },
            format!("user{}", i % 3),
            TrustClass::External,
            format!("msg {i}"),
        );
        n.trace_id = Some(format!("trace-{i}"));
        n.session_key = Some(format!("s{}", i % 2));
        t.create_task(n).await.unwrap();
    }
    let all = t.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(all.len(), 5);
    // Newest first.
    assert_eq!(all[0].content_in, "msg 4");
    assert_eq!(all[4].content_in, "msg 0");

    let slack = t
        .list_tasks(&TaskFilter {
            channel: Some("slack".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(slack.len(), 3);
    let user0 = t
        .list_tasks(&TaskFilter {
            sender: Some("user0".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        user0
            .iter()
            .map(|t| t.content_in.as_str())
            .collect::<Vec<_>>(),
        ["msg 3", "msg 0"]
    );
    let traced = t
        .list_tasks(&TaskFilter {
            trace_id: Some("trace-2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(traced.len(), 1);
    let session = t
        .list_tasks(&TaskFilter {
            session_key: Some("s1".into()),
            channel: Some("cli".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(session.len(), 2);
    let page = t
        .list_tasks(&TaskFilter {
            limit: Some(2),
            offset: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|t| t.content_in.as_str())
            .collect::<Vec<_>>(),
        ["msg 3", "msg 2"]
    );
    t.start_task(&all[0].task_id).await.unwrap();
    let processing = t
        .list_tasks(&TaskFilter {
            status: Some(TaskStatus::Processing),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(processing.len(), 1);
    assert_eq!(
        t.count_tasks_by_status().await.unwrap(),
        [(TaskStatus::Pending, 4), (TaskStatus::Processing, 1)]
    );
}

#[tokio::test]
async fn list_limit_is_capped() {
    let t = open().await;
    for i in 0..(kafclaw_timeline::MAX_LIMIT + 5) {
        t.create_task(owner_task(&i.to_string())).await.unwrap();
    }
    let rows = t
        .list_tasks(&TaskFilter {
            limit: Some(u32::MAX),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len() as u32, kafclaw_timeline::MAX_LIMIT);
    let default = t.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(default.len() as u32, kafclaw_timeline::DEFAULT_LIMIT);
}
