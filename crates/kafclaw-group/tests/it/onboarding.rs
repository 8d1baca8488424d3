//! Onboarding against the real broker: gated groups admit the right secret, reject a
//! wrong one with a reason, time out on silence and ignore agents never admitted;
//! open groups answer a newcomer exactly once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kafclaw_envelope::{
    AgentIdentity, AnnounceAction, AnnouncePayload, GroupEnvelope, GroupName, GroupTopic, Message,
    OnboardAction, TaskRequest,
};
use kafclaw_group::{Error, GroupAgent, IncomingTask, Onboarding, OutRecord, Transport};
use kafclaw_testkit::{TestBroker, maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{Timeline, TimelineOptions};

use crate::agents::{eventually, ids, read_topic, slow_builder, transport};

/// Every onboarding message of the group so far: (action, requester, sender, correlation).
async fn onboarding_log(
    broker: &TestBroker,
    group: &str,
    at_least: usize,
) -> Vec<(String, String, String, String)> {
    let topic = GroupName::new(group).unwrap().topic(GroupTopic::Onboarding);
    read_topic(broker, &topic, at_least)
        .await
        .into_iter()
        .map(|env| {
            let Message::Onboard(p) = env.message else {
                panic!("not an onboarding message: {env:?}")
            };
            (p.action, p.requester_id, env.sender_id, env.correlation_id)
        })
        .collect()
}

fn count(
    log: &[(String, String, String, String)],
    action: OnboardAction,
    requester: &str,
) -> usize {
    log.iter()
        .filter(|(a, r, _, _)| a == action.as_str() && r == requester)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gated_right_secret_joins_wrong_is_rejected_silence_times_out() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let gated = |secret: &str| Onboarding::gated(secret.as_bytes().to_vec());
    let dir = tempfile::tempdir().unwrap();
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("f.db")))
            .await
            .unwrap(),
    );
    let ran = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&ran);
    let founder = slow_builder(&broker, &group, "founder")
        .onboarding(gated("s3cret"))
        .found_group(true)
        .store(Arc::clone(&tl))
        .task_handler(move |task: IncomingTask| {
            log.lock().unwrap().push(task.task_id().to_owned());
            async move { Ok("done".to_string()) }
        })
        .build()
        .await
        .unwrap();
    founder.join().await.unwrap();
    assert_eq!(founder.admitted(), ["founder"]);

    // The right secret: challenged by the founder, admitted, joined.
    let member = slow_builder(&broker, &group, "member")
        .onboarding(gated("s3cret"))
        .build()
        .await
        .unwrap();
    member.join().await.unwrap();
    assert_eq!(member.admitted(), ["founder", "member"]);
    eventually("the founder lists the member", || {
        ids(&founder.roster()) == ["founder", "member"]
    })
    .await;

    // A wrong secret: rejected with the reason, never admitted.
    let wrong = slow_builder(&broker, &group, "wrong")
        .onboarding(gated("guess"))
        .build()
        .await
        .unwrap();
    let err = wrong.join().await.unwrap_err();
    match &err {
        Error::OnboardingRejected {
            reason, sponsor, ..
        } => {
            assert!(reason.contains("does not match the group secret"), "{err}");
            assert!(["founder", "member"].contains(&sponsor.as_str()), "{err}");
        }
        other => panic!("expected a rejection, got {other}"),
    }
    assert!(!wrong.is_joined());
    assert!(!founder.admitted().contains(&"wrong".to_owned()));

    // A newcomer with the right secret now has two possible sponsors: exactly one
    // challenges it, exactly one admits it.
    let second = slow_builder(&broker, &group, "second")
        .onboarding(gated("s3cret"))
        .build()
        .await
        .unwrap();
    second.join().await.unwrap();
    // Wait for a heartbeat of `second` sent 2.5 s after its request, so that every
    // sponsor's back-off (one step of 1 s per member ranked before it) is over.
    let asked = Utc::now();
    eventually("a later heartbeat of second", || {
        founder.roster().iter().any(|m| {
            m.agent_id == "second" && m.last_seen > asked + chrono::Duration::milliseconds(2500)
        })
    })
    .await;
    let log = onboarding_log(&broker, &group, 10).await;
    assert_eq!(count(&log, OnboardAction::Request, "second"), 1);
    assert_eq!(
        count(&log, OnboardAction::Challenge, "second"),
        1,
        "{log:?}"
    );
    assert_eq!(count(&log, OnboardAction::Response, "second"), 1);
    assert_eq!(count(&log, OnboardAction::Complete, "second"), 1, "{log:?}");
    assert_eq!(count(&log, OnboardAction::Reject, "wrong"), 1);
    assert_eq!(count(&log, OnboardAction::Complete, "wrong"), 0);
    // Replies reuse the request's correlation id.
    let corr: Vec<&String> = log
        .iter()
        .filter(|(_, r, _, _)| r == "second")
        .map(|(_, _, _, c)| c)
        .collect();
    assert!(
        corr.iter()
            .all(|c| *c == corr[0] && c.starts_with("onboard-"))
    );

    // The founder's timeline keeps the admissions.
    let admitted: Vec<String> = tl
        .admissions()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.agent_id)
        .collect();
    assert_eq!(admitted, ["founder", "member", "second"]);

    // Silence: a gated group where nobody answers.
    let lonely_group = random_group_name();
    let lonely = slow_builder(&broker, &lonely_group, "lonely")
        .onboarding(gated("s3cret"))
        .onboard_timeout(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    let err = lonely.join().await.unwrap_err();
    assert!(matches!(err, Error::OnboardingTimeout { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!lonely.is_joined());

    // An agent that was never onboarded is ignored: its announces and its tasks.
    let t = transport(&broker).await;
    let g = GroupName::new(group.as_str()).unwrap();
    let join = GroupEnvelope::new(
        "intruder",
        Message::Announce(AnnouncePayload::new(
            AnnounceAction::Join,
            AgentIdentity::new("intruder", "intruder"),
        )),
    );
    let task = GroupEnvelope::new(
        "intruder",
        Message::Request(TaskRequest::new("intruder-task", "intruder", "d", "do it")),
    );
    let before = founder.stats().protocol.ignored_unadmitted;
    t.produce(
        &g.topic(GroupTopic::Announce),
        OutRecord::keyed("intruder", join.to_json().unwrap()),
    )
    .await
    .unwrap();
    t.produce(
        &g.topic(GroupTopic::Requests),
        OutRecord::keyed("intruder-task", task.to_json().unwrap()),
    )
    .await
    .unwrap();
    eventually("the founder ignored both", || {
        founder.stats().protocol.ignored_unadmitted >= before + 2
    })
    .await;
    assert!(!ids(&founder.roster()).contains(&"intruder".to_owned()));
    assert!(
        ran.lock().unwrap().is_empty(),
        "the intruder's task never ran"
    );
    // An admitted member's task runs.
    let resp = second
        .submit(kafclaw_group::TaskSpec::to("founder", "legit"))
        .await
        .unwrap();
    assert_eq!(resp.content, "done");

    // A restarted member on the same timeline remembers who is admitted without
    // onboarding again.
    founder.halt().await;
    let again = slow_builder(&broker, &group, "founder")
        .onboarding(gated("s3cret"))
        .store(Arc::clone(&tl))
        .build()
        .await
        .unwrap();
    assert_eq!(again.admitted(), ["founder", "member", "second"]);
    again.join().await.unwrap();
    for a in [&member, &second, &wrong] {
        a.shutdown().await;
    }
    lonely.shutdown().await;
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open_onboarding_is_answered_by_exactly_one_sponsor() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let mut members: Vec<GroupAgent> = Vec::new();
    for id in ["m-1", "m-2", "m-3"] {
        let m = slow_builder(&broker, &group, id).build().await.unwrap();
        m.join().await.unwrap();
        members.push(m);
    }
    eventually("the three see each other", || {
        members
            .iter()
            .all(|m| ids(&m.roster()) == ["m-1", "m-2", "m-3"])
    })
    .await;
    let newcomer = slow_builder(&broker, &group, "newcomer")
        .build()
        .await
        .unwrap();
    assert_eq!(ids(&newcomer.roster()), ["m-1", "m-2", "m-3"]);
    let answered_before: u64 = members
        .iter()
        .map(|m| m.stats().protocol.onboarding_answers)
        .sum();
    assert_eq!(answered_before, 2, "m-2 and m-3 were answered once each");
    let asked = Utc::now();
    newcomer.join().await.unwrap();
    eventually(
        "a heartbeat of the newcomer a second after its request",
        || {
            members.iter().all(|m| {
                m.roster().iter().any(|x| {
                    x.agent_id == "newcomer"
                        && x.last_seen > asked + chrono::Duration::milliseconds(2500)
                })
            })
        },
    )
    .await;
    let log = onboarding_log(&broker, &group, 2).await;
    assert_eq!(count(&log, OnboardAction::Request, "newcomer"), 1);
    assert_eq!(
        count(&log, OnboardAction::Complete, "newcomer"),
        1,
        "{log:?}"
    );
    assert_eq!(count(&log, OnboardAction::Challenge, "newcomer"), 0);
    let answers: u64 = members
        .iter()
        .map(|m| m.stats().protocol.onboarding_answers)
        .sum();
    assert_eq!(answers, answered_before + 1);
    // The newcomer joined once: one join announce.
    let announces = read_topic(
        &broker,
        &GroupName::new(group.as_str())
            .unwrap()
            .topic(GroupTopic::Announce),
        4,
    )
    .await;
    let joins = announces
        .iter()
        .filter(|e| {
            matches!(&e.message, Message::Announce(p)
                if p.action == "join" && p.identity.agent_id == "newcomer")
        })
        .count();
    assert_eq!(joins, 1);
    assert!(newcomer.join().await.is_err(), "joining twice is an error");
    for m in members.iter().chain([&newcomer]) {
        m.shutdown().await;
    }
}
