//! Fuzz target: the record decoder and the validator on arbitrary bytes.
//!
//! The first byte picks a topic (none, each group topic, a skill topic, a
//! knowledge topic, a foreign name); the rest is the record value. Nothing may
//! panic, and whatever decodes as a group or knowledge envelope must encode and
//! decode again to the same value.

#![no_main]

use kafclaw_envelope::{
    Decoded, GroupEnvelope, KnowledgeEnvelope, TopicKind, ValidateOptions, decode_record,
    validate_record,
};
use libfuzzer_sys::fuzz_target;

const TOPICS: &[&str] = &[
    "group.g.announce",
    "group.g.control.roster",
    "group.g.control.onboarding",
    "group.g.requests",
    "group.g.responses",
    "group.g.tasks.status",
    "group.g.traces",
    "group.g.observe.audit",
    "group.g.memory.shared",
    "group.g.memory.context",
    "group.g.orchestrator",
    "group.g.skill.web_search.requests",
    "group.g.skill.web_search.responses",
    "group.g.knowledge.proposals",
    "group.g.knowledge.facts",
    "orders",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, record)) = data.split_first() else {
        return;
    };
    let name = TOPICS.get(usize::from(selector) % (TOPICS.len() + 1));
    let topic = name.and_then(|n| TopicKind::parse(n).ok());
    let strict = selector & 0x80 != 0;

    let _ = validate_record(
        record,
        &ValidateOptions {
            topic: name.copied(),
            strict,
        },
    );

    match decode_record(topic.as_ref(), record) {
        Ok(Decoded::Group { envelope, .. }) => {
            let bytes = envelope.to_json().expect("a decoded envelope encodes");
            GroupEnvelope::from_json(&bytes).expect("our own output decodes by type");
            // By type the payload may differ from what the topic forced; compare on the topic.
            let on_topic = decode_record(topic.as_ref(), &bytes).expect("our own output decodes");
            match on_topic {
                Decoded::Group {
                    envelope: e2,
                    declared_type,
                } => {
                    assert_eq!(*e2, *envelope);
                    assert_eq!(declared_type, None);
                }
                other => panic!("re-decoded as {other:?}"),
            }
        }
        Ok(Decoded::Knowledge(envelope)) => {
            let bytes = envelope.to_json().expect("a decoded envelope encodes");
            let again = KnowledgeEnvelope::from_json(&bytes).expect("our own output decodes");
            assert_eq!(again, *envelope);
            let _ = envelope.validate();
        }
        Ok(Decoded::LfsPointer(pointer)) => {
            let bytes = serde_json::to_vec(&*pointer).expect("a pointer encodes");
            match decode_record(topic.as_ref(), &bytes) {
                Ok(Decoded::LfsPointer(again)) => assert_eq!(again, pointer),
                other => panic!("pointer re-decoded as {other:?}"),
            }
        }
        Ok(_) | Err(_) => {}
    }
});
