//! Three agents in two zones over the real broker: discovery, hierarchy, forged
//! discoveries, and zone dispatch checked on the wire.

use std::time::Duration;

use kafclaw_envelope::{
    AgentNode, DiscoveryPayload, GroupEnvelope, GroupName, GroupTopic, Message, TaskRequest,
    Timestamp, Zone,
};
use kafclaw_group::{KafkaSettings, KafkaTransport};
use kafclaw_orchestrator::Error;

use crate::support::{POLL, WAIT, ids, produce_raw, read_wire, start_trio, zone_topics};

#[tokio::test]
async fn discovery_converges_and_the_hierarchy_is_the_configured_one() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let trio = start_trio(&broker).await;
    let (a, b, c) = ids(&trio.group);
    trio.converge().await;

    for o in trio.all() {
        let h = o.hierarchy();
        assert_eq!(
            h.roots,
            std::slice::from_ref(&a),
            "one root: the orchestrator"
        );
        let node = |id: &str| h.nodes.iter().find(|n| n.agent_id == id).unwrap().clone();
        assert_eq!(
            node(&a).role,
            "orchestrator",
            "A is trusted: it is the others' parent"
        );
        assert_eq!(node(&a).children, [b.clone(), c.clone()]);
        assert_eq!(
            (node(&b).role.as_str(), node(&b).parent_id.as_str()),
            ("worker", a.as_str())
        );
        assert_eq!(
            (node(&c).role.as_str(), node(&c).parent_id.as_str()),
            ("worker", a.as_str())
        );
        assert_eq!(node(&b).zone_id, "red");
        assert!(h.nodes.iter().all(|n| n.status == "active"));

        let zones = o.zones();
        let zone = |id: &str| zones.iter().find(|z| z.zone_id == id).unwrap().clone();
        assert_eq!(zone("red").owner_id, a);
        assert_eq!(zone("red").visibility, "private");
        assert_eq!(zone("red").members, [a.clone(), b.clone()]);
        assert_eq!(zone("blue").owner_id, c);
        assert_eq!(zone("blue").members, std::slice::from_ref(&c));
        assert_eq!(zone("public").members.len(), 3);
    }
    assert!(
        trio.b
            .zones()
            .iter()
            .any(|z| z.zone_id == "red" && z.is_member)
    );
    assert!(
        trio.c
            .zones()
            .iter()
            .any(|z| z.zone_id == "red" && !z.is_member)
    );
    // The outsider does not see B, which is only in a private zone; A does.
    let seen_by = |o: &kafclaw_orchestrator::Orchestrator| -> Vec<String> {
        o.agents().into_iter().map(|n| n.agent_id).collect()
    };
    assert_eq!(seen_by(&trio.c), [a.clone(), c.clone()]);
    assert_eq!(seen_by(&trio.b), [a.clone(), b.clone(), c.clone()]);
    assert_eq!(seen_by(&trio.a), [a.clone(), b.clone(), c.clone()]);

    // The watch channel carries the same graph.
    let snap = trio.a.watch().borrow().clone();
    assert_eq!(snap.hierarchy.nodes.len(), 3);
    assert!(snap.version > 1);

    // A's timeline holds the graph.
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        let nodes = trio.timeline.list_orchestrator_nodes().await.unwrap();
        let zones = trio.timeline.list_orchestrator_zones().await.unwrap();
        nodes.len() == 3
            && zones
                .iter()
                .any(|z| z.zone_id == "red" && z.members == [a.clone(), b.clone()])
    })
    .await;
    assert!(ok, "the hierarchy and zones were not persisted");
    let stored = trio.timeline.list_orchestrator_nodes().await.unwrap();
    assert!(stored.iter().any(|n| n.agent_id == b && n.parent_id == a));

    // Discovery is periodic: the counters keep moving without anything else happening.
    let before = trio.c.stats().discoveries_sent;
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.c.stats().discoveries_sent > before
    })
    .await;
    assert!(ok, "no periodic discovery");
    trio.shutdown().await;
}

#[tokio::test]
async fn a_forged_discovery_does_not_overwrite_our_node() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let trio = start_trio(&broker).await;
    let (a, b, _c) = ids(&trio.group);
    trio.converge().await;
    let topic = GroupName::new(&trio.group)
        .unwrap()
        .topic(GroupTopic::Orchestrator);
    let b_before = trio.b.hierarchy();
    let a_view_of_b = |o: &kafclaw_orchestrator::Orchestrator| {
        o.hierarchy()
            .nodes
            .into_iter()
            .find(|n| n.agent_id == b)
            .map(|n| (n.role, n.parent_id, n.zone_id))
    };
    let a_before = a_view_of_b(&trio.a);

    let forged_b = AgentNode {
        agent_id: b.clone(),
        role: "orchestrator".into(),
        parent_id: "mallory".into(),
        zone_id: "evil".into(),
        status: "active".into(),
        ..AgentNode::default()
    };
    // 1. Mallory sends a discovery whose node is B.
    let env = GroupEnvelope::new(
        "mallory",
        Message::Orchestrator(DiscoveryPayload::discover(forged_b.clone())),
    );
    produce_raw(&broker, &topic, &env).await;
    // 2. Mallory announces itself, claiming the orchestrator role, B as its child
    //    and ownership of zone red.
    let mut p = DiscoveryPayload::discover(AgentNode {
        agent_id: "mallory".into(),
        role: "orchestrator".into(),
        status: "active".into(),
        ..AgentNode::default()
    });
    p.hierarchy = vec![forged_b.clone()];
    p.zones = vec![Zone {
        zone_id: "red".into(),
        name: "mine".into(),
        visibility: "public".into(),
        owner_id: "mallory".into(),
        allowed_ids: vec!["mallory".into()],
        created_at: Timestamp::now(),
        ..Zone::default()
    }];
    produce_raw(
        &broker,
        &topic,
        &GroupEnvelope::new("mallory", Message::Orchestrator(p)),
    )
    .await;
    // 3. A record that claims to come from B itself, with B's node changed.
    produce_raw(
        &broker,
        &topic,
        &GroupEnvelope::new(
            &b,
            Message::Orchestrator(DiscoveryPayload::discover(forged_b)),
        ),
    )
    .await;

    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        let s = trio.b.stats();
        s.own_node_claims >= 2 && s.zones_refused >= 1
    })
    .await;
    assert!(
        ok,
        "B did not read the forged discoveries: {:?}",
        trio.b.stats()
    );
    // B's own node is untouched.
    let b_after = trio.b.hierarchy();
    let me = |h: &kafclaw_orchestrator::HierarchyView| {
        h.nodes.iter().find(|n| n.agent_id == b).cloned().unwrap()
    };
    assert_eq!(me(&b_after), me(&b_before));
    assert_eq!(me(&b_after).role, "worker");
    assert_eq!(me(&b_after).parent_id, a);

    // A did not take mallory's word for B, nor its orchestrator role, nor its zone.
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.a
            .hierarchy()
            .nodes
            .iter()
            .any(|n| n.agent_id == "mallory")
    })
    .await;
    assert!(ok, "A never read mallory's own discovery");
    let mallory = trio
        .a
        .hierarchy()
        .nodes
        .into_iter()
        .find(|n| n.agent_id == "mallory")
        .unwrap();
    assert_eq!(
        mallory.role, "worker",
        "untrusted orchestrator claim refused"
    );
    assert!(trio.a.stats().role_claims_refused >= 1);
    assert!(trio.a.stats().forged_nodes >= 1);
    for o in trio.all() {
        let red = o.zones().into_iter().find(|z| z.zone_id == "red").unwrap();
        assert_eq!(
            (red.owner_id.as_str(), red.visibility.as_str()),
            (a.as_str(), "private")
        );
    }
    // A discovery that says it belongs to zone red is read by red's members only.
    let env = GroupEnvelope::new(
        "red-visitor",
        Message::Orchestrator(DiscoveryPayload::discover(AgentNode {
            agent_id: "red-visitor".into(),
            role: "worker".into(),
            status: "active".into(),
            ..AgentNode::default()
        })),
    )
    .with_zone_id("red");
    let c_drops = trio.c.stats().zone_drops;
    produce_raw(&broker, &topic, &env).await;
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.c.stats().zone_drops > c_drops
            && trio
                .b
                .hierarchy()
                .nodes
                .iter()
                .any(|n| n.agent_id == "red-visitor")
    })
    .await;
    assert!(ok, "C did not drop, or B did not read, the red discovery");
    // A and B, which know it now, do not relay it in their public discoveries.
    let received = trio.c.stats().discoveries_received;
    trio.a.announce().await.unwrap();
    trio.b.announce().await.unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.c.stats().discoveries_received >= received + 2
    })
    .await;
    assert!(ok, "C did not read A's and B's discoveries");
    assert!(
        !trio
            .c
            .hierarchy()
            .nodes
            .iter()
            .any(|n| n.agent_id == "red-visitor")
    );
    assert!(trio.b.admits(Some("red")) && !trio.c.admits(Some("red")));
    assert!(trio.c.admits(None) && trio.c.admits(Some("public")));

    // The record sent in B's name reached A (no signatures yet: docs/orchestrator.md),
    // but its role claim was refused; B's next discovery restores B's entry.
    trio.b.announce().await.unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        a_view_of_b(&trio.a) == a_before
    })
    .await;
    assert!(ok, "A's view of B: {:?}", a_view_of_b(&trio.a));
    trio.shutdown().await;
}

#[tokio::test]
async fn a_private_zone_task_never_reaches_the_outsider_and_is_answered_by_a_member() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let trio = start_trio(&broker).await;
    let (a, b, c) = ids(&trio.group);
    trio.converge().await;
    // B learns it is in red from A's discovery, then reads red's topics.
    let (red_req, red_resp) = zone_topics(&trio.group, "red");
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.b.topics().contains(&red_req)
    })
    .await;
    assert!(ok, "B never subscribed to {red_req}: {:?}", trio.b.topics());

    let secret = format!("private plan {}", kafclaw_testkit::random_suffix());
    for i in 0..3 {
        let answer = trio
            .a
            .dispatch(
                "red",
                "plan",
                &format!("{secret} #{i}"),
                Duration::from_secs(20),
            )
            .await
            .expect("red answers");
        assert_eq!(answer.responder_id, b, "the only other member of red");
        assert_eq!(answer.status, "completed");
        assert_eq!(answer.content, format!("{b} did: {secret} #{i}"));
        assert_eq!(answer.zone_id, "red");
    }
    let runs = trio.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|(who, _)| *who == b), "{runs:?}");

    // The outsider may not dispatch there, and A is not in C's shared zone.
    assert!(matches!(
        trio.c
            .dispatch("red", "x", "y", Duration::from_secs(5))
            .await,
        Err(Error::NotAllowed { .. })
    ));
    assert!(matches!(
        trio.a
            .dispatch("blue", "x", "y", Duration::from_secs(5))
            .await,
        Err(Error::NotAllowed { .. })
    ));
    // Public: anyone, answered by a member (B or C, never the sender).
    let answer = trio
        .c
        .dispatch("public", "hello", "public hello", Duration::from_secs(20))
        .await
        .expect("public answers");
    assert!([a.clone(), b.clone()].contains(&answer.responder_id));

    // On the wire: the outsider reads none of red's topics, and a raw reader of every
    // topic of the group finds the private content only on red's topics.
    assert!(
        !trio
            .c
            .topics()
            .iter()
            .any(|t| *t == red_req || *t == red_resp)
    );
    let transport = KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
        .await
        .unwrap();
    let prefix = format!("group.{}.", trio.group);
    let every: Vec<String> = transport
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.starts_with(&prefix))
        .collect();
    assert!(every.contains(&red_req) && every.len() >= 7, "{every:?}");
    let wire = read_wire(&broker, &every).await;
    assert_eq!(
        wire.topics_containing(&secret),
        [red_req.clone(), red_resp.clone()],
        "the private content appears on red's topics only"
    );
    let outsider_topics = trio.c.topics();
    assert!(
        wire.topics_containing(&secret)
            .iter()
            .all(|t| !outsider_topics.contains(t))
    );

    // Records on red's topic that break the rules are dropped by B and never run:
    // one from the outsider, one whose envelope names another zone.
    let drops = trio.b.stats().zone_drops;
    let mut req = TaskRequest::new("forged-1", &c, "x", "from the outsider");
    req.target_id = Some(b.clone());
    let env = GroupEnvelope::new(&c, Message::Request(req)).with_zone_id("red");
    produce_raw(&broker, &red_req, &env).await;
    let mut req = TaskRequest::new("forged-2", &a, "x", "wrong zone claimed");
    req.target_id = Some(b.clone());
    let env = GroupEnvelope::new(&a, Message::Request(req)).with_zone_id("blue");
    produce_raw(&broker, &red_req, &env).await;
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.b.stats().zone_drops >= drops + 2
    })
    .await;
    assert!(
        ok,
        "B did not drop the forged zone records: {:?}",
        trio.b.stats()
    );
    assert_eq!(trio.runs.lock().unwrap().len(), 4, "3 red tasks + 1 public");
    assert_eq!(
        trio.c.stats().zone_drops,
        0,
        "nothing of red ever reached C"
    );
    trio.shutdown().await;
}

#[tokio::test]
async fn a_shared_zone_created_at_runtime_bridges_the_two_groups() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let trio = start_trio(&broker).await;
    let (a, b, c) = ids(&trio.group);
    trio.converge().await;
    let mut b_graph = trio.b.watch();
    b_graph.mark_unchanged();

    // C (blue) opens a shared zone with B (red): the two groups now meet there.
    let bridge = trio
        .c
        .create_zone("bridge", "Red meets blue", "shared", vec![b.clone()])
        .await
        .unwrap();
    assert_eq!(bridge.members, [b.clone(), c.clone()]);

    // B's graph changes live.
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        b_graph
            .borrow()
            .zones
            .iter()
            .any(|z| z.zone_id == "bridge" && z.is_member)
    })
    .await;
    assert!(ok, "B never learned the bridge zone");
    assert!(b_graph.has_changed().unwrap());
    assert!(matches!(
        trio.b.create_zone("bridge", "", "shared", vec![]).await,
        Err(Error::ZoneExists { .. })
    ));
    let (bridge_req, _) = zone_topics(&trio.group, "bridge");
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.b.topics().contains(&bridge_req)
    })
    .await;
    assert!(ok, "B never subscribed to the bridge");

    let answer = trio
        .c
        .dispatch(
            "bridge",
            "ask",
            "across the bridge",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(answer.responder_id, b);
    // B can ask C there too, while red stays closed to C and the bridge to A.
    let answer = trio
        .b
        .dispatch("bridge", "ask", "back across", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(answer.responder_id, c);
    assert!(matches!(
        trio.a
            .dispatch("bridge", "x", "y", Duration::from_secs(5))
            .await,
        Err(Error::NotAllowed { .. })
    ));
    assert!(matches!(
        trio.c
            .dispatch("red", "x", "y", Duration::from_secs(5))
            .await,
        Err(Error::NotAllowed { .. })
    ));
    // Only the owner changes a zone.
    assert!(matches!(
        trio.b.add_zone_member("bridge", &a).await,
        Err(Error::NotOwner { .. })
    ));
    trio.c.add_zone_member("bridge", &a).await.unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.a
            .zones()
            .iter()
            .any(|z| z.zone_id == "bridge" && z.is_member)
    })
    .await;
    assert!(ok, "A never learned it joined the bridge");
    trio.shutdown().await;
}

#[tokio::test]
async fn a_newcomers_discovery_is_answered_at_once() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let group = kafclaw_testkit::random_group_name();
    let kafka = KafkaSettings::plaintext(&broker.brokers);
    // Intervals far longer than the test: any further discovery is a reply.
    let settings = |id: &str| {
        let mut s = kafclaw_orchestrator::OrchestratorSettings::new(&group, id);
        s.discovery_interval = Duration::from_secs(3600);
        s
    };
    let first = kafclaw_orchestrator::Orchestrator::builder(kafka.clone(), settings("first"))
        .start()
        .await
        .unwrap();
    assert_eq!(first.stats().discoveries_sent, 1);
    let late = kafclaw_orchestrator::Orchestrator::builder(kafka, settings("late"))
        .start()
        .await
        .unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        first.stats().discoveries_sent >= 2
            && first.hierarchy().nodes.len() == 2
            && late.hierarchy().nodes.len() == 2
    })
    .await;
    assert!(
        ok,
        "first: {:?} {:?}; late: {:?}",
        first.stats(),
        first.hierarchy(),
        late.hierarchy()
    );
    // The reply does not start a storm: the newcomer is known now, so nobody answers
    // the reply again.
    let sent = (
        first.stats().discoveries_sent,
        late.stats().discoveries_sent,
    );
    late.announce().await.unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        first.stats().discoveries_received >= 2
    })
    .await;
    assert!(ok);
    assert_eq!(first.stats().discoveries_sent, sent.0);
    assert_eq!(late.stats().discoveries_sent, sent.1 + 1);
    first.shutdown().await;
    late.shutdown().await;
}

#[tokio::test]
async fn a_go_agents_discovery_is_merged() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let trio = start_trio(&broker).await;
    let (a, _b, _c) = ids(&trio.group);
    trio.converge().await;
    let topic = GroupName::new(&trio.group)
        .unwrap()
        .topic(GroupTopic::Orchestrator);
    // Exactly what a Go agent writes: no key, no extensions, empty correlation id, its
    // own zoneId zone (shared, owned by itself), nanosecond timestamps with an offset.
    let go = format!(
        r#"{{"type":"orchestrator","correlation_id":"","sender_id":"go-agent","timestamp":"2026-11-22T06:15:30.123456789+01:00","payload":{{"action":"discover","node":{{"agent_id":"go-agent","agent_name":"","role":"","parent_id":"{a}","zone_id":"gophers","endpoint":"http://go:18791","status":"active"}},"zones":[{{"zone_id":"public","name":"Public","visibility":"public","owner_id":"","parent_zone":"","created_at":"2026-11-22T06:00:00.000000001+01:00"}},{{"zone_id":"gophers","name":"gophers","visibility":"shared","owner_id":"go-agent","parent_zone":"","created_at":"2026-11-22T06:00:00.5+01:00"}}],"hierarchy":[{{"agent_id":"go-agent","agent_name":"","role":"","parent_id":"{a}","zone_id":"gophers","endpoint":"http://go:18791","status":"active"}}]}}}}"#
    );
    let t = KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
        .await
        .unwrap();
    use kafclaw_group::Transport as _;
    t.produce(
        &topic,
        kafclaw_group::OutRecord {
            value: go.into_bytes(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        trio.a
            .hierarchy()
            .nodes
            .iter()
            .any(|n| n.agent_id == "go-agent")
            && trio.a.zones().iter().any(|z| z.zone_id == "gophers")
    })
    .await;
    assert!(
        ok,
        "the Go discovery was not merged: {:?}",
        trio.a.hierarchy()
    );
    let h = trio.a.hierarchy();
    let go = h.nodes.iter().find(|n| n.agent_id == "go-agent").unwrap();
    assert_eq!(
        (
            go.role.as_str(),
            go.parent_id.as_str(),
            go.endpoint.as_str()
        ),
        ("worker", a.as_str(), "http://go:18791")
    );
    assert!(
        h.nodes
            .iter()
            .find(|n| n.agent_id == a)
            .unwrap()
            .children
            .contains(&"go-agent".to_owned())
    );
    let gophers = trio
        .a
        .zones()
        .into_iter()
        .find(|z| z.zone_id == "gophers")
        .unwrap();
    assert_eq!(
        (gophers.owner_id.as_str(), gophers.visibility.as_str()),
        ("go-agent", "shared")
    );
    assert_eq!(gophers.members, ["go-agent"]);
    trio.shutdown().await;
}
