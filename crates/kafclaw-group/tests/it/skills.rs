//! Skills against the real broker: a skill task reaches only that skill's providers,
//! exactly one of them runs it and the answer reaches the requester; a provider keeps
//! its skill across a restart; concurrent registrations on different agents are both
//! kept in every manifest; and skill messages shaped like a Go agent's are understood.

use std::collections::HashMap;
use std::sync::Arc;

use kafclaw_envelope::{
    GroupEnvelope, GroupName, GroupTopic, Message, SkillName, TaskRequest, Timestamp, TopicManifest,
};
use kafclaw_group::{OutRecord, TaskSpec, Transport};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{Timeline, TimelineOptions};

use crate::agents::{Log, builder, eventually, ids, read_topic, transport, worker};

fn skill_names<S: kafclaw_group::GroupStore>(a: &kafclaw_group::GroupAgent<S>) -> Vec<String> {
    a.skills().into_iter().map(|s| s.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skill_task_is_run_by_exactly_one_provider_and_answered_to_the_requester() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let log: Log = Arc::default();
    let mut agents = Vec::new();
    for id in ["summ-1", "summ-2", "other"] {
        let a = builder(&broker, &group, id)
            .task_handler(worker(&log, id))
            .build()
            .await
            .unwrap();
        a.join().await.unwrap();
        let skill = if id == "other" {
            "translate"
        } else {
            "summarise"
        };
        a.register_skill(skill).await.unwrap();
        agents.push(a);
    }
    let r = builder(&broker, &group, "requester").build().await.unwrap();
    r.join().await.unwrap();
    eventually("the requester sees both summarise providers live", || {
        r.skills()
            .iter()
            .any(|s| s.name == "summarise" && s.live_providers == ["summ-1", "summ-2"])
    })
    .await;

    let mut answers = HashMap::new();
    for i in 0..12 {
        let resp = r
            .submit(TaskSpec::open(format!("text {i}")).skill("summarise"))
            .await
            .unwrap();
        assert_eq!(resp.status, "completed");
        assert!(resp.content.ends_with(&format!("did text {i}")), "{resp:?}");
        answers.insert(resp.task_id.clone(), resp.responder_id.clone());
    }
    eventually("all twelve ran", || log.lock().unwrap().len() >= 12).await;
    let log = log.lock().unwrap().clone();
    let mut runs: HashMap<String, Vec<String>> = HashMap::new();
    for (who, task) in &log {
        runs.entry(task.clone()).or_default().push(who.clone());
    }
    assert_eq!(runs.len(), 12);
    for (task, who) in &runs {
        assert_eq!(who.len(), 1, "task {task} ran on {who:?}");
        assert_ne!(who[0], "other", "a non-provider ran {task}");
        assert_eq!(answers.get(task), Some(&who[0]));
    }
    // An invalid skill name is refused before anything is sent.
    let err = r
        .submit(TaskSpec::open("x").skill("web.search"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("skill"), "{err}");
    for a in agents {
        a.shutdown().await;
    }
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_keeps_its_skill_across_a_restart() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("p.db")))
            .await
            .unwrap(),
    );
    let log: Log = Arc::default();
    let p = builder(&broker, &group, "provider")
        .store(Arc::clone(&tl))
        .task_handler(worker(&log, "provider"))
        .build()
        .await
        .unwrap();
    p.join().await.unwrap();
    assert!(p.register_skill("review").await.unwrap());
    let r = builder(&broker, &group, "requester").build().await.unwrap();
    r.join().await.unwrap();
    let first = r
        .submit(TaskSpec::open("before").skill("review"))
        .await
        .unwrap();
    assert_eq!(first.responder_id, "provider");
    p.halt().await;
    drop(p);

    // A task sent while the provider is down waits for it.
    let pending = r
        .submit_task(TaskSpec::open("while down").skill("review"))
        .await
        .unwrap();
    let p = builder(&broker, &group, "provider")
        .store(Arc::clone(&tl))
        .task_handler(worker(&log, "provider"))
        .build()
        .await
        .unwrap();
    assert_eq!(p.provided_skills(), ["review"]);
    p.join().await.unwrap();
    let answer = pending.wait().await.unwrap();
    assert_eq!(answer.content, "provider did while down");
    let after = r
        .submit(TaskSpec::open("after").skill("review"))
        .await
        .unwrap();
    assert_eq!(after.content, "provider did after");
    // Unregistered, the skill is no longer stored for the next start.
    assert!(p.unregister_skill("review").await.unwrap());
    assert!(
        tl.list_skill_channels(Some(group.as_str()))
            .await
            .unwrap()
            .is_empty()
    );
    p.shutdown().await;
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_on_two_agents_end_up_in_every_manifest() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let t = transport(&broker).await;
    let mut agents = Vec::new();
    for id in ["a", "b", "c"] {
        let a = builder(&broker, &group, id)
            .transport(Arc::clone(&t))
            .build()
            .await
            .unwrap();
        a.join().await.unwrap();
        agents.push(a);
    }
    eventually("everyone sees everyone", || {
        agents.iter().all(|a| ids(&a.roster()) == ["a", "b", "c"])
    })
    .await;
    let (ra, rb) = tokio::join!(
        agents[0].register_skill("search"),
        agents[1].register_skill("review")
    );
    assert!(ra.unwrap() && rb.unwrap());
    eventually("all three manifests hold both skills", || {
        agents
            .iter()
            .all(|a| skill_names(a) == ["review", "search"])
    })
    .await;
    // A newcomer reads the manifest from control.roster.
    let late = builder(&broker, &group, "late").build().await.unwrap();
    eventually("the newcomer's manifest holds both skills", || {
        skill_names(&late) == ["review", "search"]
    })
    .await;
    let search = late
        .skills()
        .into_iter()
        .find(|s| s.name == "search")
        .unwrap();
    assert_eq!(search.registered_by, ["a"]);
    for a in agents {
        a.shutdown().await;
    }
    late.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn go_shaped_skill_requests_and_manifests_are_understood() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let g = GroupName::new(group.as_str()).unwrap();
    let log: Log = Arc::default();
    let p = builder(&broker, &group, "provider")
        .task_handler(worker(&log, "provider"))
        .build()
        .await
        .unwrap();
    p.join().await.unwrap();
    p.register_skill("code_review").await.unwrap();
    let t = transport(&broker).await;

    // A Go agent's manifest: its own skill, version 2, written without a key.
    let mut manifest = TopicManifest::new(&g, Timestamp::now());
    manifest
        .add_skill(
            &g,
            &SkillName::new("web_search").unwrap(),
            "go-agent",
            Timestamp::now(),
        )
        .unwrap();
    let env = GroupEnvelope::new("go-agent", Message::Roster(manifest)).without_extensions();
    t.produce(
        &g.topic(GroupTopic::Roster),
        OutRecord {
            key: None,
            value: env.to_json().unwrap(),
            headers: Default::default(),
        },
    )
    .await
    .unwrap();
    eventually("the Go manifest is merged, ours kept", || {
        skill_names(&p) == ["code_review", "web_search"]
    })
    .await;

    // A Go agent's skill_request (no key, no extensions) is run and answered on the
    // skill's responses topic with the Go agent's task id.
    let (requests, responses) = g
        .skill_topics(&SkillName::new("code_review").unwrap())
        .unwrap();
    let req = GroupEnvelope::new(
        "go-agent",
        Message::SkillRequest(TaskRequest::new(
            "go-task-1",
            "go-agent",
            "review",
            "fn main() {}",
        )),
    )
    .without_extensions();
    t.produce(
        &requests,
        OutRecord {
            key: None,
            value: req.to_json().unwrap(),
            headers: Default::default(),
        },
    )
    .await
    .unwrap();
    let out = read_topic(&broker, &responses, 1).await;
    match &out[0].message {
        Message::SkillResponse(resp) => {
            assert_eq!(resp.task_id, "go-task-1");
            assert_eq!(resp.content, "provider did fn main() {}");
        }
        other => panic!("expected a skill_response, got {other:?}"),
    }
    p.shutdown().await;
}
