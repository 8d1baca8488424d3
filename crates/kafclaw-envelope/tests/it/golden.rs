//! The golden examples under schemas/examples: each decodes, validates, and (ours) re-encodes identically.

use std::collections::BTreeSet;

use kafclaw_envelope::{
    Decoded, GroupEnvelope, KnowledgeType, Message, MessageType, TopicKind, ValidateOptions,
    decode_record, decode_record_on, validate,
};
use serde_json::Value;

use crate::support::{index, knowledge_topic_for, read_json, schemas_dir, topic_for};

fn strict() -> ValidateOptions<'static> {
    ValidateOptions {
        topic: None,
        strict: true,
    }
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn decode_group(topic: &str, value: &Value) -> (GroupEnvelope, Option<String>) {
    match decode_record_on(topic, &bytes(value)).unwrap() {
        Decoded::Group {
            envelope,
            declared_type,
        } => (*envelope, declared_type),
        other => panic!("expected a group envelope on {topic}, got {other:?}"),
    }
}

#[test]
fn every_example_is_listed_in_the_index_and_exists() {
    let index = index();
    let mut listed = BTreeSet::new();
    for entry in index["types"].as_object().unwrap().values() {
        for ex in entry["examples"].as_array().unwrap() {
            listed.insert(ex.as_str().unwrap().to_owned());
        }
    }
    for ex in index["lfs_pointer"]["examples"].as_array().unwrap() {
        listed.insert(ex.as_str().unwrap().to_owned());
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(schemas_dir().join("examples"))
        .unwrap()
        .map(|e| format!("examples/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(listed, on_disk);
    assert_eq!(listed.len(), 2 * (13 + 6) + 2);
}

#[test]
fn our_group_examples_decode_validate_strictly_and_reencode_identically() {
    for kind in MessageType::ALL {
        let file = format!("examples/{}.json", kind.as_str());
        let value = read_json(&file);
        let topic = topic_for(*kind);
        let (envelope, declared) = decode_group(&topic, &value);
        assert_eq!(declared, None, "{file}");
        assert_eq!(envelope.message.message_type(), Some(*kind), "{file}");
        assert_eq!(
            envelope.to_value().unwrap(),
            value,
            "{file} re-encodes differently"
        );
        let found = validate(
            &value,
            &ValidateOptions {
                topic: Some(&topic),
                strict: true,
            },
        );
        assert!(found.is_empty(), "{file}: {found:?}");
        assert!(envelope.message_uuid().is_some(), "{file}");
    }
}

#[test]
fn go_group_examples_are_valid_but_not_strict() {
    for kind in MessageType::ALL {
        let file = format!("examples/go-{}.json", kind.as_str());
        let value = read_json(&file);
        for key in kafclaw_envelope::EXTENSION_FIELDS {
            assert!(value.get(key).is_none(), "{file} has extension {key}");
        }
        // Go agents put task_status on the responses topic.
        let topic = if *kind == MessageType::TaskStatus {
            "group.workshop.responses".to_owned()
        } else {
            topic_for(*kind).replace("research", "workshop")
        };
        let opts = ValidateOptions {
            topic: Some(&topic),
            strict: false,
        };
        let found = validate(&value, &opts);
        assert!(found.is_empty(), "{file}: {found:?}");
        let strict_found = validate(&value, &strict());
        assert!(
            strict_found.iter().any(|v| v.path == "/message_id"),
            "{file}: {strict_found:?}"
        );
        let (envelope, declared) = decode_group(&topic, &value);
        assert_eq!(declared, None, "{file}");
        assert_eq!(envelope.message.message_type(), Some(*kind), "{file}");
        assert_eq!(envelope.message_id, None);
        assert_eq!(
            envelope.timestamp.to_rfc3339_nano().unwrap(),
            value["timestamp"].as_str().unwrap(),
            "{file}: Go timestamp with offset survives"
        );
        // Encoding again and decoding gives the same envelope.
        let again = GroupEnvelope::from_json(&envelope.to_json().unwrap()).unwrap();
        assert_eq!(again, envelope, "{file}");
    }
}

#[test]
fn go_task_status_on_responses_keeps_its_summary() {
    let value = read_json("examples/go-task_status.json");
    let (envelope, _) = decode_group("group.workshop.responses", &value);
    match envelope.message {
        Message::TaskStatus(status) => {
            assert_eq!(status.summary, "reading the report");
            assert_eq!(
                status.state(),
                Some(kafclaw_envelope::TaskState::InProgress)
            );
        }
        other => panic!("expected a task status, got {other:?}"),
    }
}

#[test]
fn go_null_arrays_decode_as_empty() {
    let (envelope, _) = decode_group(
        "group.workshop.memory.shared",
        &read_json("examples/go-memory.json"),
    );
    let Message::Memory(item) = envelope.message else {
        panic!("not a memory item")
    };
    assert!(item.tags.is_empty());
    assert_eq!(item.lfs_envelope.unwrap().proxy_id, "lfs-proxy-0");
    let (envelope, _) = decode_group(
        "group.workshop.control.roster",
        &read_json("examples/go-roster.json"),
    );
    let Message::Roster(manifest) = envelope.message else {
        panic!("not a manifest")
    };
    assert_eq!(manifest.core_topics.len(), 11);
    assert!(manifest.core_topics.iter().all(|d| d.consumers.is_empty()));
    assert_eq!(manifest.skill_names(), ["code_review"]);
}

#[test]
fn knowledge_examples_decode_and_pass_go_rules() {
    for kind in KnowledgeType::ALL {
        for prefix in ["", "go-"] {
            let file = format!("examples/{prefix}knowledge-{}.json", kind.as_str());
            let value = read_json(&file);
            let topic = TopicKind::parse(&knowledge_topic_for(*kind)).unwrap();
            let decoded = decode_record(Some(&topic), &bytes(&value)).unwrap();
            let Decoded::Knowledge(envelope) = decoded else {
                panic!("{file}: not a knowledge envelope: {decoded:?}")
            };
            assert_eq!(envelope.message.knowledge_type(), Some(*kind), "{file}");
            assert_eq!(envelope.validate(), Ok(()), "{file}");
            // Without a topic the type decides, with the same result.
            let by_type = decode_record(None, &bytes(&value)).unwrap();
            assert_eq!(by_type, Decoded::Knowledge(envelope.clone()), "{file}");
            let strict_found = validate(
                &value,
                &ValidateOptions {
                    topic: Some(&topic.name()),
                    strict: true,
                },
            );
            assert!(strict_found.is_empty(), "{file}: {strict_found:?}");
            if prefix.is_empty() {
                let encoded: Value = serde_json::from_slice(&envelope.to_json().unwrap()).unwrap();
                assert_eq!(encoded, value, "{file} re-encodes differently");
            }
        }
    }
}

#[test]
fn lfs_examples_are_pointer_records_on_any_topic() {
    for file in kafclaw_envelope::schema::LFS_EXAMPLES {
        let value = read_json(file);
        let raw = bytes(&value);
        assert!(kafclaw_envelope::looks_like_lfs_pointer(&raw), "{file}");
        for topic in [
            "group.research.requests",
            "group.research.knowledge.facts",
            "other",
        ] {
            match decode_record_on(topic, &raw).unwrap() {
                Decoded::LfsPointer(pointer) => {
                    assert_eq!(pointer.kfs_lfs, 1);
                    assert_eq!(
                        serde_json::to_value(&*pointer).unwrap()["key"],
                        value["key"]
                    );
                }
                other => panic!("{file} on {topic}: {other:?}"),
            }
            let found = validate(
                &value,
                &ValidateOptions {
                    topic: Some(topic).filter(|t| *t != "other"),
                    strict: true,
                },
            );
            assert!(found.is_empty(), "{file}: {found:?}");
        }
    }
}
