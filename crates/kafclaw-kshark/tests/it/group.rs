//! `--probe-topics`: the group's topics with partitions, leaders and high
//! watermarks, the skill topics of its manifest, a missing topic as a failure, and
//! the agent's lag from its timeline.

use std::time::Duration;

use kafclaw_envelope::{
    GroupEnvelope, GroupName, GroupTopic, Message, SkillName, Timestamp, TopicManifest,
};
use kafclaw_group::{KafkaSettings, KafkaTransport, OutRecord, Transport};
use kafclaw_kshark::{GroupProbe, Layer, Probe, Silent, Status, Timeouts};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};

use crate::support::{assert_valid, plaintext};

#[tokio::test]
async fn group_topics_show_partitions_leaders_watermarks_skills_and_lag() {
    let broker = maybe_skip_kafka!();
    let group = GroupName::new(random_group_name()).expect("group name");
    let tr = KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
        .await
        .expect("connect");

    // Every group topic but the orchestrator's; requests with two partitions.
    for t in GroupTopic::ALL {
        if t == GroupTopic::Orchestrator {
            continue;
        }
        let partitions = if t == GroupTopic::Requests { 2 } else { 1 };
        tr.ensure_topic(&group.topic(t), partitions, 1)
            .await
            .expect("create group topic");
    }
    // A manifest naming one skill, whose topics exist.
    let skill = SkillName::new("summarise").expect("skill");
    let mut manifest = TopicManifest::new(&group, Timestamp::now());
    manifest
        .add_skill(&group, &skill, "agent-a", Timestamp::now())
        .expect("add skill");
    let envelope = GroupEnvelope::new("agent-a", Message::Roster(manifest));
    tr.produce(
        &group.topic(GroupTopic::Roster),
        OutRecord::keyed("agent-a", envelope.to_json().expect("json")),
    )
    .await
    .expect("write manifest");
    let (skill_req, skill_resp) = group.skill_topics(&skill).expect("skill topics");
    for t in [&skill_req, &skill_resp] {
        tr.ensure_topic(t, 1, 1).await.expect("create skill topic");
    }
    // Five requests, spread by key over the two partitions.
    let requests = group.topic(GroupTopic::Requests);
    let mut per_partition = [0i64; 2];
    for i in 0..5 {
        let p = tr
            .produce(
                &requests,
                OutRecord::keyed(format!("task-{i}"), b"{}".to_vec()),
            )
            .await
            .expect("produce");
        per_partition[p.partition as usize] += 1;
    }

    // The agent has handled one record of partition 0 and nothing of partition 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("timeline.db");
    let timeline = kafclaw_timeline::Timeline::open_path(&db)
        .await
        .expect("timeline");
    timeline
        .set_offset("agent-a", &requests, 0, 1)
        .await
        .expect("offset p0");
    timeline
        .set_offset("agent-a", &requests, 1, 0)
        .await
        .expect("offset p1");
    timeline.close().await;
    let db_before = std::fs::read(&db).expect("read the timeline file");

    let report = Probe::builder(plaintext(&broker.brokers))
        .timeouts(Timeouts::uniform(Duration::from_secs(20)))
        .probe_topic(None)
        .group(GroupProbe {
            group: group.clone(),
            agent_id: Some("agent-a".to_owned()),
            timeline_db: Some(db.clone()),
        })
        .build()
        .run(&mut Silent)
        .await;
    assert_valid(&serde_json::to_value(&report).expect("serialize"));

    let manifest = report
        .checks
        .iter()
        .find(|c| c.name == "manifest")
        .expect("manifest check");
    assert_eq!(manifest.status, Status::Ok, "{manifest:#?}");
    assert!(
        manifest.detail.contains("2 skill topic(s)"),
        "{}",
        manifest.detail
    );

    // 11 group topics + 2 skill topics, one row and one check each.
    assert_eq!(report.topics.len(), 13, "{:#?}", report.topics);
    let rows: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.name == "group_topic")
        .collect();
    assert_eq!(rows.len(), 13);
    for (check, topic) in rows.iter().zip(&report.topics) {
        assert_eq!(check.target, topic.topic);
        assert_eq!(check.layer, Layer::Topics);
        assert!(check.latency_ms.is_some());
        let orchestrator = topic.topic == group.topic(GroupTopic::Orchestrator);
        if orchestrator {
            assert_eq!(check.status, Status::Fail, "{check:#?}");
            assert!(!topic.exists);
            assert!(check.detail.contains("does not exist"));
            assert!(
                check
                    .hint
                    .as_deref()
                    .unwrap_or("")
                    .contains("joins the group")
            );
        } else {
            assert_eq!(check.status, Status::Ok, "{check:#?}");
            assert!(topic.exists);
            for p in &topic.partitions {
                assert!(p.leader >= 0, "{p:#?}");
                assert!(p.high_watermark.is_some(), "{p:#?}");
            }
        }
    }
    let kinds: Vec<&str> = report.topics.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(&kinds[11..], ["skill", "skill"]);
    assert_eq!(report.topics[11].topic, skill_req);

    let req = report
        .topics
        .iter()
        .find(|t| t.topic == requests)
        .expect("requests row");
    assert_eq!(req.partitions.len(), 2);
    let hw: Vec<i64> = req
        .partitions
        .iter()
        .map(|p| p.high_watermark.unwrap_or(-1))
        .collect();
    assert_eq!(hw, per_partition);
    let lag: Vec<Option<i64>> = req.partitions.iter().map(|p| p.lag).collect();
    assert_eq!(
        lag,
        [Some((per_partition[0] - 1).max(0)), Some(per_partition[1])]
    );
    assert_eq!(req.total_lag, Some(lag.iter().flatten().sum::<i64>()));
    let roster = report
        .topics
        .iter()
        .find(|t| t.topic == group.topic(GroupTopic::Roster))
        .expect("roster row");
    assert_eq!(roster.partitions[0].high_watermark, Some(1));
    assert_eq!(
        roster.partitions[0].committed, None,
        "no offset stored for the roster"
    );

    assert!(report.failed(), "the missing topic fails the run");
    // The timeline was only read: its file is byte for byte the same.
    assert!(
        std::fs::read(&db).expect("read the timeline file") == db_before,
        "kshark changed the agent's timeline"
    );
}

#[tokio::test]
async fn without_a_timeline_the_lag_is_left_out_with_a_note() {
    let broker = maybe_skip_kafka!();
    let group = GroupName::new(random_group_name()).expect("group name");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("timeline.db");
    let report = Probe::builder(plaintext(&broker.brokers))
        .probe_topic(None)
        .group(GroupProbe {
            group,
            agent_id: Some("agent-a".to_owned()),
            timeline_db: Some(db.clone()),
        })
        .build()
        .run(&mut Silent)
        .await;
    assert!(!db.exists(), "kshark must never create a timeline");
    assert!(
        report.notes.iter().any(|n| n.contains("lag not computed")),
        "{:?}",
        report.notes
    );
    let manifest = report
        .checks
        .iter()
        .find(|c| c.name == "manifest")
        .expect("manifest");
    assert_eq!(
        manifest.status,
        Status::Skipped,
        "no roster topic: {manifest:#?}"
    );
    assert_eq!(report.topics.len(), 11);
    assert!(
        report
            .topics
            .iter()
            .all(|t| !t.exists && t.total_lag.is_none())
    );
}
