//! A worker that crashes (stops without leaving, its running handlers cut off) while it
//! works on tasks it committed to resumes them from its timeline after a restart and
//! answers the requesters that still wait: a task addressed to it, an open task whose
//! claim it won, and a skill task.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_group::{IncomingTask, TaskSpec};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{OpenTaskState, Timeline, TimelineOptions};

use crate::agents::{Log, builder, eventually, eventually_async, worker};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_a_crash_interrupted_are_answered_after_the_restart() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("b.db")))
            .await
            .unwrap(),
    );
    // The first run of B starts every task and never finishes one.
    let started: Log = Arc::default();
    let log = Arc::clone(&started);
    let b = builder(&broker, &group, "agent-b")
        .store(Arc::clone(&tl))
        .task_handler(move |task: IncomingTask| {
            log.lock()
                .unwrap()
                .push(("agent-b".to_owned(), task.task_id().to_owned()));
            async move {
                std::future::pending::<()>().await;
                Ok(String::new())
            }
        })
        .build()
        .await
        .unwrap();
    b.join().await.unwrap();
    assert!(b.register_skill("resume").await.unwrap());
    let a = builder(&broker, &group, "agent-a").build().await.unwrap();
    a.join().await.unwrap();

    let wait = Duration::from_secs(90);
    let targeted = a
        .submit_task(TaskSpec::to("agent-b", "targeted work").timeout(wait))
        .await
        .unwrap();
    let open = a
        .submit_task(TaskSpec::open("open work").timeout(wait))
        .await
        .unwrap();
    let skill = a
        .submit_task(TaskSpec::open("skill work").skill("resume").timeout(wait))
        .await
        .unwrap();
    let ids = [
        targeted.task_id().to_owned(),
        open.task_id().to_owned(),
        skill.task_id().to_owned(),
    ];
    eventually("B started all three", || started.lock().unwrap().len() == 3).await;
    // Committed in B's timeline as running (the open and skill claims won).
    eventually_async("the three tasks are running in B's timeline", || {
        let tl = Arc::clone(&tl);
        let (group, ids) = (group.clone(), ids.clone());
        async move {
            let open = tl.open_tasks(&group).await.unwrap();
            ids.iter().all(|id| {
                open.iter()
                    .any(|t| &t.task_id == id && t.state == OpenTaskState::Running)
            })
        }
    })
    .await;

    // Crash: no leave, the handlers are cut off, nothing is answered.
    b.halt().await;
    drop(b);
    assert_eq!(tl.open_tasks(&group).await.unwrap().len(), 3);

    // The restarted B answers each task once, from its timeline.
    let done: Log = Arc::default();
    let b = builder(&broker, &group, "agent-b")
        .store(Arc::clone(&tl))
        .task_handler(worker(&done, "agent-b"))
        .build()
        .await
        .unwrap();
    b.join().await.unwrap();
    for (pending, text) in [
        (targeted, "targeted work"),
        (open, "open work"),
        (skill, "skill work"),
    ] {
        let resp = pending.wait().await.unwrap();
        assert_eq!(resp.status, "completed", "{resp:?}");
        assert_eq!(resp.responder_id, "agent-b");
        assert_eq!(resp.content, format!("agent-b did {text}"));
    }
    let mut runs: Vec<String> = done
        .lock()
        .unwrap()
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    runs.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(runs, want, "each task runs once after the restart");
    eventually_async("B's timeline has no open task left", || {
        let tl = Arc::clone(&tl);
        let group = group.clone();
        async move { tl.open_tasks(&group).await.unwrap().is_empty() }
    })
    .await;
    assert_eq!(a.stats().protocol.duplicate_responses, 0);

    // A second restart resumes nothing.
    b.halt().await;
    drop(b);
    let again: Log = Arc::default();
    let b = builder(&broker, &group, "agent-b")
        .store(Arc::clone(&tl))
        .task_handler(worker(&again, "agent-b"))
        .build()
        .await
        .unwrap();
    b.join().await.unwrap();
    let check = a
        .submit(TaskSpec::to("agent-b", "after").timeout(wait))
        .await
        .unwrap();
    assert_eq!(check.content, "agent-b did after");
    assert_eq!(
        again.lock().unwrap().len(),
        1,
        "{:?}",
        again.lock().unwrap()
    );
    b.shutdown().await;
    a.shutdown().await;
}
