//! Membership against the real broker: convergence, expiry of a killed agent, rejoin,
//! bounded look-back for a newcomer, identity checks, and the roster in the timeline.

use std::sync::Arc;

use kafclaw_envelope::{
    AgentIdentity, AnnounceAction, AnnouncePayload, GroupEnvelope, GroupName, GroupTopic, Message,
};
use kafclaw_group::{OutRecord, Transport};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use kafclaw_timeline::{Timeline, TimelineOptions};

use crate::agents::{builder, eventually, eventually_async, ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_agents_converge_a_killed_one_expires_and_rejoins() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let dir = tempfile::tempdir().unwrap();
    // One agent keeps its state in a real timeline file.
    let tl = Arc::new(
        Timeline::open(TimelineOptions::new(dir.path().join("a.db")))
            .await
            .unwrap(),
    );
    let a = builder(&broker, &group, "agent-a")
        .role("orchestrator")
        .zone("zone-1")
        .store(Arc::clone(&tl))
        .build()
        .await
        .unwrap();
    let b = builder(&broker, &group, "agent-b")
        .role("worker")
        .build()
        .await
        .unwrap();
    let c = builder(&broker, &group, "agent-c").build().await.unwrap();
    a.join().await.unwrap();
    b.join().await.unwrap();
    c.join().await.unwrap();
    let all = vec!["agent-a", "agent-b", "agent-c"];
    eventually("a, b and c see each other", || {
        ids(&a.roster()) == all && ids(&b.roster()) == all && ids(&c.roster()) == all
    })
    .await;
    // Role and zone come from configuration and travel in the identity.
    let roster = b.roster();
    assert_eq!(roster[0].role(), "orchestrator");
    assert_eq!(roster[0].zone(), "zone-1");
    assert_eq!(roster[1].role(), "worker");
    assert!(roster[1].is_self);

    // A newcomer sees the current members as soon as it is built (bounded look-back),
    // before it joins and without any of them having to say anything new.
    let d = builder(&broker, &group, "agent-d").build().await.unwrap();
    assert_eq!(
        ids(&d.roster()),
        all,
        "the look-back window holds the live roster"
    );
    d.shutdown().await;

    // c dies without leaving: the others drop it after four missed heartbeats.
    let mut watch = a.watch_roster();
    c.halt().await;
    eventually("a and b expire c", || {
        ids(&a.roster()) == ["agent-a", "agent-b"] && ids(&b.roster()) == ["agent-a", "agent-b"]
    })
    .await;
    assert_eq!(ids(&watch.borrow_and_update()), ["agent-a", "agent-b"]);
    // ... in the timeline too (the same sweep, right after).
    eventually_async("the timeline has c expired", || {
        status_is(&tl, "agent-c", "expired")
    })
    .await;

    // c comes back (a new process: a new agent with the same id) and reappears.
    let c2 = builder(&broker, &group, "agent-c").build().await.unwrap();
    c2.join().await.unwrap();
    eventually("c reappears everywhere", || {
        ids(&a.roster()) == all && ids(&b.roster()) == all && ids(&c2.roster()) == all
    })
    .await;
    eventually_async("the timeline has c active again", || {
        status_is(&tl, "agent-c", "active")
    })
    .await;
    // Membership history: joined, expired, active again.
    let history: Vec<String> = tl
        .roster_history(Some("agent-c"), None, 0)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|h| format!("{}:{}", h.action, h.status))
        .collect();
    assert_eq!(
        history,
        ["joined:active", "changed:expired", "changed:active"]
    );

    // b leaves properly: removed at once, marked left.
    b.leave().await.unwrap();
    eventually("a sees b leave", || {
        ids(&a.roster()) == ["agent-a", "agent-c"]
    })
    .await;
    eventually_async("the timeline has b left", || {
        status_is(&tl, "agent-b", "left")
    })
    .await;
    assert!(b.leave().await.is_err(), "leaving twice is an error");
    a.shutdown().await;
    b.shutdown().await;
    c2.shutdown().await;
}

async fn status_is(tl: &Timeline, agent: &str, status: &str) -> bool {
    tl.get_member(agent)
        .await
        .unwrap()
        .is_some_and(|m| m.status == status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announces_whose_identity_is_not_the_sender_are_refused() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let a = builder(&broker, &group, "agent-a").build().await.unwrap();
    a.join().await.unwrap();
    let topic = GroupName::new(group.as_str())
        .unwrap()
        .topic(GroupTopic::Announce);
    let forged = GroupEnvelope::new(
        "mallory",
        Message::Announce(AnnouncePayload::new(
            AnnounceAction::Join,
            AgentIdentity::new("agent-victim", "victim"),
        )),
    );
    let honest = GroupEnvelope::new(
        "agent-go",
        Message::Announce(AnnouncePayload::new(
            AnnounceAction::Heartbeat,
            AgentIdentity::new("agent-go", "go"),
        )),
    )
    .without_extensions();
    let t = crate::agents::transport(&broker).await;
    for env in [forged, honest] {
        t.produce(
            &topic,
            OutRecord {
                key: None,
                value: env.to_json().unwrap(),
                headers: Default::default(),
            },
        )
        .await
        .unwrap();
    }
    eventually("the Go-shaped heartbeat is taken", || {
        ids(&a.roster()) == ["agent-a", "agent-go"]
    })
    .await;
    assert_eq!(a.stats().protocol.identity_mismatches, 1);
    a.shutdown().await;
}
