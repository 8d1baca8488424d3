//! Opening: file permissions, reopening, crash recovery of processing tasks.

use kafclaw_timeline::{Error, TaskStatus, Timeline, TimelineOptions};

use crate::support::{new_task, open};

#[cfg(unix)]
#[tokio::test]
async fn database_file_and_new_directories_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state/timeline.db");
    let tl = Timeline::open_path(&path).await.unwrap();
    new_task(&tl, "write something so the WAL exists").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[tokio::test]
async fn data_survives_reopening() {
    let t = open().await;
    let path = t.path().to_owned();
    let task = new_task(&t, "remember me").await;
    t.close().await;
    let tl = Timeline::open_path(&path).await.unwrap();
    assert_eq!(
        tl.get_task(&task.task_id)
            .await
            .unwrap()
            .unwrap()
            .content_in,
        "remember me"
    );
    assert!(tl.recovery().requeued.is_empty());
}

#[tokio::test]
async fn unopenable_path_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let path = dir.path().join("is-a-dir");
    std::fs::create_dir(&path).unwrap();
    let err = Timeline::open_path(&path).await.unwrap_err();
    assert!(err.to_string().contains("is-a-dir"), "{err}");
    assert!(
        matches!(err, Error::Open { .. } | Error::CreateFile { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn interrupted_tasks_are_requeued_then_failed_after_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let opts = || {
        TimelineOptions::new(&path)
            .max_task_attempts(2)
            .recover_tasks(true)
    };

    let tl = Timeline::open(opts()).await.unwrap();
    let a = new_task(&tl, "a").await;
    let b = new_task(&tl, "b").await;
    let untouched = new_task(&tl, "still pending").await;
    let finished = new_task(&tl, "finished").await;
    tl.start_task(&a.task_id).await.unwrap();
    tl.start_task(&b.task_id).await.unwrap();
    tl.start_task(&finished.task_id).await.unwrap();
    tl.complete_task(&finished.task_id, "ok").await.unwrap();
    tl.close().await; // the process dies with a and b in processing

    let tl = Timeline::open(opts()).await.unwrap();
    let r = tl.recovery();
    assert!(r.failed.is_empty());
    assert_eq!(
        r.requeued
            .iter()
            .map(|t| t.task_id.as_str())
            .collect::<Vec<_>>(),
        [a.task_id.as_str(), b.task_id.as_str()]
    );
    assert!(
        r.requeued
            .iter()
            .all(|t| t.status == TaskStatus::Pending && t.attempts == 1)
    );
    assert_eq!(
        tl.get_task(&untouched.task_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        TaskStatus::Pending
    );
    // Second attempt of a crashes again; b is finished this time.
    tl.start_task(&a.task_id).await.unwrap();
    tl.start_task(&b.task_id).await.unwrap();
    tl.complete_task(&b.task_id, "done").await.unwrap();
    tl.close().await;

    let tl = Timeline::open(opts()).await.unwrap();
    let r = tl.recovery();
    assert!(r.requeued.is_empty());
    assert_eq!(r.failed.len(), 1);
    let failed = &r.failed[0];
    assert_eq!(failed.task_id, a.task_id);
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.attempts, 2);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("interrupted by restart"),
        "{:?}",
        failed.error
    );
    assert!(failed.completed_at.is_some());
    assert_eq!(
        tl.get_task(&finished.task_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        TaskStatus::Completed
    );
}

#[tokio::test]
async fn a_plain_open_leaves_running_tasks_alone_until_recovery_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let agent = Timeline::open(TimelineOptions::new(&path)).await.unwrap();
    let running = new_task(&agent, "a long job").await;
    agent.start_task(&running.task_id).await.unwrap();

    // A read-only command opens the same file while the agent works.
    let reader = Timeline::open(TimelineOptions::new(&path)).await.unwrap();
    assert!(reader.recovery().requeued.is_empty());
    let seen = reader.get_task(&running.task_id).await.unwrap().unwrap();
    assert_eq!(
        seen.status,
        TaskStatus::Processing,
        "not re-queued under the agent"
    );

    // After a crash, the next agent asks for recovery explicitly.
    agent.close().await;
    let r = reader.recover_interrupted().await.unwrap();
    assert_eq!(r.requeued.len(), 1);
    assert_eq!(r.requeued[0].task_id, running.task_id);
}
