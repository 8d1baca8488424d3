//! Property tests: encode → decode → equal for every message type, and generated
//! messages are valid for both the built-in validator and jsonschema.

use kafclaw_envelope::*;
use proptest::prelude::*;

use crate::strategies::*;
use crate::support::{knowledge_topic_for, schema_errors, topic_for};

fn decode_on(topic: Option<&str>, bytes: &[u8]) -> Decoded {
    let kind = topic.map(|t| TopicKind::parse(t).unwrap());
    decode_record(kind.as_ref(), bytes).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn group_envelopes_round_trip_by_type(envelope in envelope(false)) {
        let bytes = envelope.to_json().unwrap();
        prop_assert_eq!(GroupEnvelope::from_json(&bytes).unwrap(), envelope.clone());
        prop_assert_eq!(
            decode_on(None, &bytes),
            Decoded::Group { envelope: Box::new(envelope), declared_type: None }
        );
    }

    #[test]
    fn group_envelopes_round_trip_on_their_topic(envelope in envelope(false)) {
        let Some(kind) = envelope.message.message_type() else {
            return Ok(());
        };
        let bytes = envelope.to_json().unwrap();
        let topic = topic_for(kind);
        prop_assert_eq!(
            decode_on(Some(&topic), &bytes),
            Decoded::Group { envelope: Box::new(envelope), declared_type: None }
        );
    }

    #[test]
    fn knowledge_envelopes_round_trip(envelope in knowledge_envelope(false)) {
        let bytes = envelope.to_json().unwrap();
        prop_assert_eq!(KnowledgeEnvelope::from_json(&bytes).unwrap(), envelope.clone());
        let kind = envelope.message.knowledge_type().unwrap();
        let topic = knowledge_topic_for(kind);
        prop_assert_eq!(decode_on(Some(&topic), &bytes), Decoded::Knowledge(Box::new(envelope.clone())));
        prop_assert_eq!(decode_on(None, &bytes), Decoded::Knowledge(Box::new(envelope)));
    }

    #[test]
    fn lfs_pointers_round_trip(pointer in lfs(true)) {
        let bytes = serde_json::to_vec(&pointer).unwrap();
        prop_assert_eq!(decode_on(Some("group.g.memory.shared"), &bytes), Decoded::LfsPointer(Box::new(pointer)));
    }

    #[test]
    fn timestamps_round_trip(ts in timestamp()) {
        let text = ts.to_rfc3339_nano().unwrap();
        let back = Timestamp::parse(&text).unwrap();
        prop_assert_eq!(back, ts);
        prop_assert_eq!(*back.as_datetime().offset(), *ts.as_datetime().offset());
        prop_assert_eq!(back.to_rfc3339_nano().unwrap(), text);
    }

    #[test]
    fn valid_group_messages_pass_both_validators(envelope in envelope(true)) {
        let value = envelope.to_value().unwrap();
        let ours = validate(&value, &ValidateOptions::default());
        prop_assert!(ours.is_empty(), "built-in: {:?}\n{}", ours, value);
        let kind = envelope.message.message_type().unwrap();
        for file in [schema::group_file(kind), schema::GROUP_FILE] {
            let theirs = schema_errors(file, &value);
            prop_assert!(theirs.is_empty(), "jsonschema {}: {:?}\n{}", file, theirs, value);
        }
        // The same message built by the constructor passes strict validation.
        let sender = format!("agent-{}", envelope.sender_id.len());
        let ours = GroupEnvelope::new_at(sender, envelope.message.clone(), envelope.timestamp)
            .with_trace_context(new_traceparent(), None);
        let topic = topic_for(kind);
        let found = validate(
            &ours.to_value().unwrap(),
            &ValidateOptions { topic: Some(&topic), strict: true },
        );
        prop_assert!(found.is_empty(), "strict: {:?}", found);
    }

    #[test]
    fn valid_knowledge_messages_pass_both_validators(envelope in knowledge_envelope(true)) {
        let value: serde_json::Value = serde_json::from_slice(&envelope.to_json().unwrap()).unwrap();
        let ours = validate(&value, &ValidateOptions::default());
        prop_assert!(ours.is_empty(), "built-in: {:?}\n{}", ours, value);
        let kind = envelope.message.knowledge_type().unwrap();
        for file in [schema::knowledge_file(kind), schema::KNOWLEDGE_FILE] {
            let theirs = schema_errors(file, &value);
            prop_assert!(theirs.is_empty(), "jsonschema {}: {:?}\n{}", file, theirs, value);
        }
        prop_assert_eq!(envelope.validate(), Ok(()));
    }

    #[test]
    fn valid_lfs_pointers_pass_both_validators(pointer in lfs(true)) {
        let value = serde_json::to_value(&pointer).unwrap();
        prop_assert!(validate(&value, &ValidateOptions::default()).is_empty());
        prop_assert!(schema_errors(schema::LFS_FILE, &value).is_empty());
    }

    #[test]
    fn validators_agree_on_arbitrary_messages(envelope in envelope(false)) {
        let value = envelope.to_value().unwrap();
        let ours = validate(&value, &ValidateOptions::default());
        let file = match envelope.message.message_type() {
            Some(kind) => schema::group_file(kind),
            None => schema::GROUP_FILE,
        };
        let theirs = schema_errors(file, &value);
        prop_assert_eq!(ours.is_empty(), theirs.is_empty(), "built-in {:?} vs jsonschema {:?}\n{}", ours, theirs, value);
    }

    #[test]
    fn validators_agree_on_arbitrary_knowledge(envelope in knowledge_envelope(false)) {
        let value: serde_json::Value = serde_json::from_slice(&envelope.to_json().unwrap()).unwrap();
        let ours = validate(&value, &ValidateOptions::default());
        let kind = envelope.message.knowledge_type().unwrap();
        let theirs = schema_errors(schema::knowledge_file(kind), &value);
        prop_assert_eq!(ours.is_empty(), theirs.is_empty(), "built-in {:?} vs jsonschema {:?}\n{}", ours, theirs, value);
    }
}

#[test]
fn constructors_follow_go_correlation_conventions() {
    let at = Timestamp::parse("2026-11-21T10:15:30.123456789Z").unwrap();
    let ns = "1795256130123456789";
    let identity = AgentIdentity::new("a", "A");
    let cases = [
        (
            Message::Announce(AnnouncePayload::new(AnnounceAction::Join, identity.clone())),
            format!("join-{ns}"),
        ),
        (
            Message::Announce(AnnouncePayload::new(
                AnnounceAction::Leave,
                identity.clone(),
            )),
            format!("leave-{ns}"),
        ),
        (
            Message::Announce(AnnouncePayload::new(AnnounceAction::Heartbeat, identity)),
            format!("hb-{ns}"),
        ),
        (
            Message::Heartbeat(EnsureTopicPayload::new("group.g.requests")),
            format!("ensure-{ns}"),
        ),
        (
            Message::Onboard(OnboardPayload::new(OnboardAction::Request, "a")),
            format!("onboard-{ns}"),
        ),
        (
            Message::Onboard(OnboardPayload::new(OnboardAction::Complete, "a")),
            String::new(),
        ),
        (
            Message::Request(TaskRequest::new("t1", "a", "d", "c")),
            "t1".to_owned(),
        ),
        (
            Message::Response(TaskResponse::new(
                "t1",
                "b",
                ResponseStatus::Completed,
                "ok",
            )),
            "t1".to_owned(),
        ),
        (
            Message::TaskStatus(TaskStatusPayload::new("t1", "b", TaskState::Accepted)),
            "t1".to_owned(),
        ),
        (
            Message::Audit(AuditPayload::event(AuditPayload::POLICY_DECISION, "x")),
            format!("audit-{ns}"),
        ),
        (
            Message::Orchestrator(DiscoveryPayload::discover(AgentNode::default())),
            String::new(),
        ),
    ];
    for (message, want) in cases {
        let envelope = GroupEnvelope::new_at("a", message, at);
        assert_eq!(envelope.correlation_id, want, "{}", envelope.type_name());
        assert_eq!(envelope.schema_version, Some(SCHEMA_VERSION));
        let uuid = envelope.message_uuid().unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        let (secs, _) = uuid.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_795_256_130);
    }
    let a = GroupEnvelope::new("a", Message::Request(TaskRequest::new("t", "a", "", "")));
    let b = GroupEnvelope::new("a", Message::Request(TaskRequest::new("t", "a", "", "")));
    assert_ne!(a.message_id, b.message_id, "message ids are unique");
    assert!(
        a.to_value().unwrap()["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn record_keys_follow_the_design() {
    let identity = AgentIdentity::new("agent-1", "A");
    let announce = GroupEnvelope::new(
        "agent-1",
        Message::Announce(AnnouncePayload::new(AnnounceAction::Join, identity)),
    );
    assert_eq!(announce.record_key(), Some("agent-1"));
    let task = GroupEnvelope::new(
        "a",
        Message::TaskStatus(TaskStatusPayload::new("t9", "b", TaskState::Accepted)),
    );
    assert_eq!(task.record_key(), Some("t9"));
    let trace = GroupEnvelope::new("a", Message::Trace(TracePayload::default()));
    assert_eq!(trace.record_key(), None);
}

#[test]
fn manifests_are_built_like_go() {
    let group = GroupName::new("mygroup").unwrap();
    let at = Timestamp::now();
    let mut manifest = TopicManifest::new(&group, at);
    assert_eq!(manifest.version, 1);
    assert_eq!(manifest.core_topics.len(), 11);
    assert!(manifest.skill_topics.is_empty());
    assert_eq!(
        manifest.core_topics[0].description,
        "Join/leave/heartbeat announcements"
    );
    assert_eq!(manifest.core_topics[10].category, "control");
    let skill = SkillName::new("web_search").unwrap();
    assert!(manifest.add_skill(&group, &skill, "agent-1", at).unwrap());
    assert_eq!(manifest.version, 2);
    assert_eq!(manifest.skill_topics.len(), 2);
    assert_eq!(
        manifest.skill_topics[0].name,
        "group.mygroup.skill.web_search.requests"
    );
    assert_eq!(manifest.skill_topics[0].category, "skill");
    assert_eq!(
        manifest.skill_topics[1].description,
        "Skill responses for web_search"
    );
    assert!(!manifest.add_skill(&group, &skill, "agent-2", at).unwrap());
    assert_eq!(manifest.version, 2);
    let code = SkillName::new("code_review").unwrap();
    manifest.add_skill(&group, &code, "agent-2", at).unwrap();
    assert_eq!(manifest.skill_names(), ["web_search", "code_review"]);
}
