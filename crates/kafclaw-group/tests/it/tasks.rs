//! Tasks against the real broker: open tasks claimed by exactly one agent, targeted
//! tasks, responses that reach the requester with its own task id, Go-shaped
//! messages (task_status on `responses`, no extensions, no keys), delegation depth and
//! deadlines enforced by the receiver, and the delegation chain in the timeline.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafclaw_envelope::{
    Decoded, GroupEnvelope, GroupName, GroupTopic, Message, ResponseStatus, TaskRequest,
    TaskResponse, TaskState, TaskStatusPayload, decode_record_on,
};
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, Error, IncomingTask, MemoryOffsetStore, OutRecord, StartAt,
    Subscription, TaskSpec, Transport,
};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{Timeline, TimelineOptions};

use crate::agents::{Log, builder, eventually, eventually_async, ids, transport, worker};
use crate::support::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_open_tasks_are_each_done_by_exactly_one_of_three_agents() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let log: Log = Arc::default();
    let mut workers = Vec::new();
    for id in ["worker-1", "worker-2", "worker-3"] {
        let w = builder(&broker, &group, id)
            .task_handler(worker(&log, id))
            .build()
            .await
            .unwrap();
        w.join().await.unwrap();
        workers.push(w);
    }
    let requesters = [
        builder(&broker, &group, "req-1").build().await.unwrap(),
        builder(&broker, &group, "req-2").build().await.unwrap(),
    ];
    for r in &requesters {
        r.join().await.unwrap();
    }
    let everyone = ["req-1", "req-2", "worker-1", "worker-2", "worker-3"];
    eventually("everyone sees everyone", || {
        workers.iter().all(|w| ids(&w.roster()) == everyone)
    })
    .await;

    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let r = requesters[i % 2].clone();
        set.spawn(async move {
            let pending = r
                .submit_task(TaskSpec::open(format!("job {i}")))
                .await
                .unwrap();
            let task_id = pending.task_id().to_owned();
            let mut progress = pending.progress();
            let resp = pending.wait().await.unwrap();
            // The response and the winning claim travel on different topics: the claim
            // may be read a moment after the response.
            let seen = tokio::time::timeout(
                Duration::from_secs(30),
                progress.wait_for(|p| p.worker.is_some()),
            )
            .await
            .map(|r| r.map(|p| p.clone()));
            let progress = match seen {
                Ok(Ok(p)) => p,
                _ => progress.borrow().clone(),
            };
            (r.agent_id().to_owned(), task_id, i, resp, progress)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.unwrap());
    }
    assert_eq!(results.len(), 50);
    let ran = log.lock().unwrap().clone();
    let mut per_task: HashMap<String, Vec<String>> = HashMap::new();
    for (agent, task) in &ran {
        per_task
            .entry(task.clone())
            .or_default()
            .push(agent.clone());
    }
    assert_eq!(per_task.len(), 50, "every task ran");
    for (task, agents) in &per_task {
        assert_eq!(agents.len(), 1, "task {task} ran on {agents:?}");
    }
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for (requester, task_id, i, resp, progress) in &results {
        assert_eq!(
            &resp.task_id, task_id,
            "the response carries the requester's id"
        );
        assert_eq!(resp.status, "completed");
        assert_eq!(resp.content, format!("{} did job {i}", resp.responder_id));
        assert_eq!(per_task[task_id], vec![resp.responder_id.clone()]);
        // The claim's winner is known to the requester.
        assert_eq!(progress.worker.as_deref(), Some(resp.responder_id.as_str()));
        assert!(requester.starts_with("req-"));
        *by_worker.entry(resp.responder_id.clone()).or_default() += 1;
    }
    assert!(by_worker.len() >= 2, "work is spread: {by_worker:?}");
    // No response was treated as a task, none arrived twice, none was unknown.
    for r in &requesters {
        let s = r.stats().protocol;
        assert_eq!(s.tasks_run, 0);
        assert_eq!(s.duplicate_responses, 0);
    }
    let runs: u64 = workers.iter().map(|w| w.stats().protocol.tasks_run).sum();
    assert_eq!(runs, 50);

    // Exactly one response per task on the wire, too.
    let t = transport(&broker).await;
    let responses = GroupName::new(group.as_str())
        .unwrap()
        .topic(GroupTopic::Responses);
    let rec = Recorder::new();
    let reader = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&rec),
        ConsumerOptions::new("wire-check"),
    );
    reader
        .subscribe(Subscription::fresh(&responses, StartAt::Earliest))
        .await
        .unwrap();
    rec.wait_for(50, Duration::from_secs(30)).await;
    let mut seen = HashSet::new();
    for v in rec.values() {
        let env = GroupEnvelope::from_json(v.as_bytes()).unwrap();
        let Message::Response(r) = env.message else {
            panic!("{v}")
        };
        assert!(seen.insert(r.task_id), "one response per task");
    }
    reader.shutdown().await;
    for w in workers.iter().chain(&requesters) {
        w.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn targeted_tasks_run_only_on_the_target_and_report_statuses() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let log: Log = Arc::default();
    let a = builder(&broker, &group, "agent-a")
        .task_handler(worker(&log, "agent-a"))
        .build()
        .await
        .unwrap();
    let b = builder(&broker, &group, "agent-b")
        .task_handler(worker(&log, "agent-b"))
        .build()
        .await
        .unwrap();
    let r = builder(&broker, &group, "requester").build().await.unwrap();
    for x in [&a, &b, &r] {
        x.join().await.unwrap();
    }
    for i in 0..5 {
        let pending = r
            .submit_task(TaskSpec::to("agent-b", format!("only b {i}")).description("targeted"))
            .await
            .unwrap();
        let mut progress = pending.progress();
        // The worker's statuses arrive (accepted, in progress, completed) while the
        // requester waits; the winner is the target.
        let p = progress
            .wait_for(|p| p.state == Some(TaskState::Completed))
            .await
            .unwrap()
            .clone();
        assert_eq!(p.worker.as_deref(), Some("agent-b"));
        let resp = pending.wait().await.unwrap();
        assert_eq!(resp.responder_id, "agent-b");
        assert_eq!(resp.content, format!("agent-b did only b {i}"));
    }
    assert!(log.lock().unwrap().iter().all(|(who, _)| who == "agent-b"));
    assert_eq!(a.stats().protocol.tasks_run, 0);
    // A task for nobody times out, with the task id in the error.
    let err = r
        .submit(TaskSpec::to("agent-nobody", "hello?").timeout(Duration::from_millis(800)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TaskTimeout { .. }), "{err}");
    assert!(err.to_string().contains("no response to task"), "{err}");
    for x in [&a, &b, &r] {
        x.shutdown().await;
    }
}

/// Reads requests off the topic as a Go agent does and answers them the Go way:
/// `task_status` on `responses`, then the response; no extensions, no keys.
async fn go_agent_answers(t: Arc<kafclaw_group::KafkaTransport>, group: String, me: &'static str) {
    let g = GroupName::new(group.as_str()).unwrap();
    let rec = Recorder::new();
    let reader = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&rec),
        ConsumerOptions::new(me),
    );
    reader
        .subscribe(Subscription::fresh(
            g.topic(GroupTopic::Requests),
            StartAt::Earliest,
        ))
        .await
        .unwrap();
    let mut done = 0;
    loop {
        let values = rec.values();
        if values.len() > done {
            for v in &values[done..] {
                let Ok(Decoded::Group { envelope, .. }) =
                    decode_record_on(&g.topic(GroupTopic::Requests), v.as_bytes())
                else {
                    continue;
                };
                let Message::Request(req) = envelope.message else {
                    continue;
                };
                let status = GroupEnvelope::new(
                    me,
                    Message::TaskStatus(TaskStatusPayload::new(
                        &req.task_id,
                        me,
                        TaskState::Accepted,
                    )),
                )
                .without_extensions();
                let resp = GroupEnvelope::new(
                    me,
                    Message::Response(TaskResponse::new(
                        &req.task_id,
                        me,
                        ResponseStatus::Completed,
                        format!("go says {}", req.content),
                    )),
                )
                .without_extensions();
                for env in [status, resp] {
                    t.produce(
                        &g.topic(GroupTopic::Responses),
                        OutRecord {
                            key: None,
                            value: env.to_json().unwrap(),
                            headers: Default::default(),
                        },
                    )
                    .await
                    .unwrap();
                }
            }
            done = values.len();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn go_shaped_statuses_and_responses_are_understood_and_never_run_as_tasks() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let log: Log = Arc::default();
    let ours = builder(&broker, &group, "rust-worker")
        .task_handler(worker(&log, "rust-worker"))
        .build()
        .await
        .unwrap();
    let r = builder(&broker, &group, "requester").build().await.unwrap();
    ours.join().await.unwrap();
    r.join().await.unwrap();
    let t = transport(&broker).await;
    let go = tokio::spawn(go_agent_answers(Arc::clone(&t), group.clone(), "go-agent"));

    // Targeted at the Go agent: its task_status on `responses` is a status, its
    // response resolves the call.
    let pending = r
        .submit_task(TaskSpec::to("go-agent", "ping"))
        .await
        .unwrap();
    let mut progress = pending.progress();
    let p = progress
        .wait_for(|p| p.state == Some(TaskState::Accepted))
        .await
        .unwrap()
        .clone();
    assert_eq!(p.worker.as_deref(), Some("go-agent"));
    let resp = pending.wait().await.unwrap();
    assert_eq!(resp.content, "go says ping");
    assert_eq!(resp.responder_id, "go-agent");

    // An open task: the Go agent answers without claiming, our worker claims and
    // answers too; the requester takes the first response and drops the other.
    let resp = r.submit(TaskSpec::open("open one")).await.unwrap();
    assert!(["go-agent", "rust-worker"].contains(&resp.responder_id.as_str()));
    eventually("the second answer is dropped as a duplicate", || {
        r.stats().protocol.duplicate_responses >= 1
    })
    .await;

    // A Go agent's request (no target, no extensions, no key) is claimed and answered
    // by our worker, and the response carries the Go agent's task id.
    let g = GroupName::new(group.as_str()).unwrap();
    let req = GroupEnvelope::new(
        "go-requester",
        Message::Request(TaskRequest::new(
            "0123456789abcdef",
            "go-requester",
            "d",
            "from go",
        )),
    )
    .without_extensions();
    t.produce(
        &g.topic(GroupTopic::Requests),
        OutRecord {
            key: None,
            value: req.to_json().unwrap(),
            headers: Default::default(),
        },
    )
    .await
    .unwrap();
    eventually("our worker ran the Go request", || {
        log.lock()
            .unwrap()
            .iter()
            .any(|(_, task)| task == "0123456789abcdef")
    })
    .await;
    // Responses are never run as tasks.
    assert_eq!(r.stats().protocol.tasks_run, 0);
    go.abort();
    ours.shutdown().await;
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delegation_depth_and_deadline_are_enforced_by_the_receiver() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("b.db")))
            .await
            .unwrap(),
    );
    // a → b → c → d, each passing the task on. The maximum depth is 1 everywhere
    // except c's own limit (5), so only d, the receiver, can stop the third hop.
    let seen: Log = Arc::default();
    let pass_on = |me: &'static str, next: &'static str, seen: &Log| {
        let seen = Arc::clone(seen);
        move |task: IncomingTask| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push((me.to_owned(), format!("depth {}", task.depth())));
                let child = task
                    .delegate(TaskSpec::to(next, format!("{} via {me}", task.content())))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("{me}>{}:{}", child.status, child.content))
            }
        }
    };
    let b = builder(&broker, &group, "agent-b")
        .max_delegation_depth(1)
        .store(Arc::clone(&tl))
        .task_handler(pass_on("agent-b", "agent-c", &seen))
        .build()
        .await
        .unwrap();
    let c = builder(&broker, &group, "agent-c")
        .max_delegation_depth(5)
        .task_handler(pass_on("agent-c", "agent-d", &seen))
        .build()
        .await
        .unwrap();
    let d = builder(&broker, &group, "agent-d")
        .max_delegation_depth(1)
        .task_handler(|task: IncomingTask| async move { Ok(format!("d did {}", task.content())) })
        .build()
        .await
        .unwrap();
    let a = builder(&broker, &group, "agent-a")
        .max_delegation_depth(1)
        .build()
        .await
        .unwrap();
    b.join().await.unwrap();
    c.join().await.unwrap();
    d.join().await.unwrap();
    a.join().await.unwrap();

    let pending = a
        .submit_task(TaskSpec::to("agent-b", "work"))
        .await
        .unwrap();
    let root = pending.task_id().to_owned();
    let resp = pending.wait().await.unwrap();
    assert_eq!(resp.status, "completed");
    // d refused the depth-2 task with a reason; c reported it, b passed it back.
    assert_eq!(
        resp.content,
        "agent-b>completed:agent-c>rejected:delegation depth 2 exceeds the maximum of 1"
    );
    assert_eq!(
        seen.lock().unwrap().clone(),
        [
            ("agent-b".to_owned(), "depth 0".to_owned()),
            ("agent-c".to_owned(), "depth 1".to_owned())
        ]
    );
    assert_eq!(d.stats().protocol.tasks_rejected, 1);
    assert_eq!(d.stats().protocol.tasks_run, 0);

    // b's timeline holds the chain: the request to b, its child to c, c's child to d,
    // and d's rejection; all with a as the original requester.
    eventually_async("the chain is recorded", || async {
        let chain = tl.delegation_chain(&root).await.unwrap();
        let steps: Vec<(String, u32, String)> = chain
            .iter()
            .filter(|e| e.event_type == "request")
            .map(|e| {
                (
                    e.sender_id.clone(),
                    e.depth,
                    e.receiver_id.clone().unwrap_or_default(),
                )
            })
            .collect();
        steps
            == [
                ("agent-a".to_owned(), 0, "agent-b".to_owned()),
                ("agent-b".to_owned(), 1, "agent-c".to_owned()),
                ("agent-c".to_owned(), 2, "agent-d".to_owned()),
            ]
            && chain
                .iter()
                .any(|e| e.event_type == "rejected" && e.sender_id == "agent-d")
            && chain
                .iter()
                .filter(|e| e.event_type == "request")
                .all(|e| e.trace_id.as_deref() == Some("agent-a"))
    })
    .await;

    // The sender refuses as well: e (limit 1), running a depth-1 task, may not delegate.
    let refusals: Log = Arc::default();
    let log = Arc::clone(&refusals);
    let e = builder(&broker, &group, "agent-e")
        .max_delegation_depth(1)
        .task_handler(move |task: IncomingTask| {
            let log = Arc::clone(&log);
            async move {
                let outcome = task.delegate(TaskSpec::to("agent-d", "deeper")).await;
                let text = match outcome {
                    Err(e @ Error::DelegationTooDeep { .. }) => format!("refused: {e}"),
                    other => format!("unexpected {other:?}"),
                };
                log.lock()
                    .unwrap()
                    .push((task.task_id().to_owned(), text.clone()));
                Ok(text)
            }
        })
        .build()
        .await
        .unwrap();
    e.join().await.unwrap();
    let g = GroupName::new(group.as_str()).unwrap();
    let mut req = TaskRequest::new("deep-1", "agent-x", "d", "x");
    req.delegation_depth = 1;
    req.target_id = Some("agent-e".into());
    let t = transport(&broker).await;
    t.produce(
        &g.topic(GroupTopic::Requests),
        OutRecord::keyed(
            "deep-1",
            GroupEnvelope::new("agent-x", Message::Request(req))
                .to_json()
                .unwrap(),
        ),
    )
    .await
    .unwrap();
    eventually("e refused to delegate deeper", || {
        refusals.lock().unwrap().iter().any(|(task, text)| {
            task == "deep-1"
                && text == "refused: delegating task deep-1 at depth 2 exceeds the maximum of 1"
        })
    })
    .await;

    // A deadline in the past: the receiver rejects, the requester gets the reason.
    let past = chrono::Utc::now() - chrono::Duration::seconds(10);
    let resp = a
        .submit(TaskSpec::to("agent-d", "too late").deadline(past))
        .await
        .unwrap();
    assert_eq!(resp.status, "rejected");
    assert_eq!(resp.responder_id, "agent-d");
    assert!(resp.content.contains("deadline"), "{}", resp.content);
    assert!(resp.content.contains("passed"), "{}", resp.content);
    // An open task past its deadline is rejected once, by the claim's winner.
    let resp = a
        .submit(TaskSpec::open("too late for anyone").deadline(past))
        .await
        .unwrap();
    assert_eq!(resp.status, "rejected");
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
    d.shutdown().await;
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_of_a_zone_the_gate_refuses_are_dropped() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let log: Log = Arc::default();
    let w = builder(&broker, &group, "zoned")
        .task_handler(worker(&log, "zoned"))
        .build()
        .await
        .unwrap();
    assert!(w.set_zone_gate(|zone| zone == "blue"));
    assert!(!w.set_zone_gate(|_| true), "the first gate stays");
    w.join().await.unwrap();
    let t = transport(&broker).await;
    let g = GroupName::new(group.as_str()).unwrap();
    for (task_id, zone) in [
        ("red0000000000000", Some("red")),
        ("blue000000000000", Some("blue")),
        ("none000000000000", None),
    ] {
        let mut req = TaskRequest::new(task_id, "outsider", "d", "work");
        req.target_id = Some("zoned".into());
        let mut env = GroupEnvelope::new("outsider", Message::Request(req));
        if let Some(zone) = zone {
            env = env.with_zone_id(zone);
        }
        t.produce(
            &g.topic(GroupTopic::Requests),
            OutRecord::keyed(task_id, env.to_json().unwrap()),
        )
        .await
        .unwrap();
    }
    let ran = |id: &str| log.lock().unwrap().iter().any(|(_, t)| t == id);
    eventually("the blue task ran", || ran("blue000000000000")).await;
    eventually("the task without a zone ran", || ran("none000000000000")).await;
    eventually("the red task was dropped", || {
        w.stats().protocol.zone_drops >= 1
    })
    .await;
    assert!(!ran("red0000000000000"), "a refused zone's task never runs");
    w.shutdown().await;
}
