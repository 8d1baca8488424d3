//! Decoding a Kafka record value: group envelope, knowledge envelope, LFS pointer, or other JSON.

use serde_json::Value;

use crate::envelope::decode_group;
use crate::error::{Error, Result};
use crate::jsonutil::strip_nulls;
use crate::knowledge::{decode_knowledge, looks_like_knowledge};
use crate::{GroupEnvelope, KnowledgeEnvelope, LfsEnvelope, TopicKind};

/// What a record value turned out to be.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decoded {
    /// A group envelope (any non-knowledge topic).
    Group {
        /// The envelope, its payload typed by topic and type.
        envelope: Box<GroupEnvelope>,
        /// Set when the record's `type` disagreed with its topic and the topic won
        /// (as in Go, where the router dispatches on the topic): the `type` as sent.
        declared_type: Option<String>,
    },
    /// A knowledge envelope (knowledge topics, or a knowledge `type` without a topic).
    Knowledge(Box<KnowledgeEnvelope>),
    /// A KafScale LFS pointer record: the real value is in object storage.
    LfsPointer(Box<LfsEnvelope>),
    /// Valid JSON that is not an object, so not an envelope (kept as it came).
    Raw(Value),
}

/// Decodes one record value, leniently like a Go agent but with explicit errors.
///
/// * An object with a top-level `kfs_lfs` member is an LFS pointer record
///   (KafScale's prefix test, [`crate::looks_like_lfs_pointer`], finds the same
///   records when `kfs_lfs` comes first).
/// * On a knowledge topic, or with no topic and a knowledge `type` (or an unknown
///   `type` with camelCase knowledge fields), it is a knowledge envelope.
/// * Otherwise it is a group envelope. With a group or skill topic the topic
///   decides the payload type, as the Go router does, except where the `type`
///   names another type allowed on that topic (`task_status` on `responses`,
///   `heartbeat` on any topic). Without a topic (or with a topic that is not a
///   KafClaw topic) the `type` decides, and unknown types are kept raw.
///
/// Unknown fields are ignored and missing or `null` fields take Go's zero values.
/// Input that is not JSON, nested deeper than 128 levels, or has a field of the
/// wrong JSON type is an [`Error`] naming the position or field; nothing panics.
pub fn decode_record(topic: Option<&TopicKind>, record: &[u8]) -> Result<Decoded> {
    let value: Value = serde_json::from_slice(record).map_err(|e| Error::not_json(&e))?;
    decode_value(topic, value)
}

/// [`decode_record`] with a topic name; names that are not KafClaw topics decode by `type`.
pub fn decode_record_on(topic: &str, record: &[u8]) -> Result<Decoded> {
    let kind = TopicKind::parse(topic).ok();
    decode_record(kind.as_ref(), record)
}

/// [`decode_record`] for an already parsed value.
pub fn decode_value(topic: Option<&TopicKind>, value: Value) -> Result<Decoded> {
    let mut map = match value {
        Value::Object(map) => map,
        other => return Ok(Decoded::Raw(other)),
    };
    if map.contains_key("kfs_lfs") {
        strip_nulls(&mut map);
        let value = Value::Object(map);
        let pointer: LfsEnvelope = serde::Deserialize::deserialize(&value).map_err(|_| {
            crate::validate::locate_lfs_error(&value).unwrap_or_else(|| Error::InvalidLfsPointer {
                path: String::new(),
                reason: "malformed pointer".to_owned(),
            })
        })?;
        pointer.check()?;
        return Ok(Decoded::LfsPointer(Box::new(pointer)));
    }
    let knowledge = match topic {
        Some(kind) => kind.is_knowledge(),
        None => looks_like_knowledge(&map),
    };
    if knowledge {
        return Ok(Decoded::Knowledge(Box::new(decode_knowledge(map)?)));
    }
    let (envelope, declared_type) = decode_group(map, topic)?;
    Ok(Decoded::Group {
        envelope: Box::new(envelope),
        declared_type,
    })
}
