//! A Go agent can read what we write: our JSON, minus the documented extension
//! fields, is exactly the Go field set with Go's types.
//!
//! The structs below mirror the Go protocol's structs field for field (names,
//! types, omitempty), written independently of the crate's types. A Go decoder
//! ignores unknown fields; these structs do the same, so decoding our output into
//! them and encoding it again must give our output without its extensions.

use std::collections::BTreeMap;

use kafclaw_envelope::{Decoded, GroupEnvelope, MessageType, decode_record_on};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::strategies::envelope;
use crate::support::read_json;

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Serialize, Deserialize)]
struct GoEnvelope {
    #[serde(rename = "type")]
    kind: String,
    correlation_id: String,
    sender_id: String,
    timestamp: String,
    payload: Value,
}

#[derive(Serialize, Deserialize)]
struct GoIdentity {
    agent_id: String,
    agent_name: String,
    soul_summary: String,
    capabilities: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    model: String,
    joined_at: String,
    status: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    parent_id: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    zone_id: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    endpoint: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    role: String,
}

#[derive(Serialize, Deserialize)]
struct GoAnnounce {
    action: String,
    identity: GoIdentity,
}

#[derive(Serialize, Deserialize)]
struct GoTaskRequest {
    task_id: String,
    description: String,
    content: String,
    requester_id: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    parent_task_id: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    delegation_depth: i64,
    #[serde(default, skip_serializing_if = "is_empty")]
    original_requester_id: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    deadline_at: String,
}

#[derive(Serialize, Deserialize)]
struct GoTaskResponse {
    task_id: String,
    responder_id: String,
    content: String,
    status: String,
}

#[derive(Serialize, Deserialize)]
struct GoTaskStatus {
    task_id: String,
    responder_id: String,
    status: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    summary: String,
}

#[derive(Serialize, Deserialize)]
struct GoTrace {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    span_type: String,
    title: String,
    content: String,
    started_at: String,
    ended_at: String,
    duration_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct GoDescriptor {
    name: String,
    category: String,
    description: String,
    consumers: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct GoManifest {
    group_name: String,
    version: i64,
    core_topics: Option<Vec<GoDescriptor>>,
    skill_topics: Option<Vec<GoDescriptor>>,
    updated_at: String,
    updated_by: String,
}

#[derive(Serialize, Deserialize)]
struct GoOnboard {
    action: String,
    requester_id: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    sponsor_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<GoIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skills: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "is_empty")]
    challenge: String,
    #[serde(default, skip_serializing_if = "is_empty")]
    response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifest: Option<GoManifest>,
    #[serde(default, skip_serializing_if = "is_empty")]
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct GoLfs {
    kfs_lfs: i64,
    bucket: String,
    key: String,
    size: i64,
    sha256: String,
    checksum: String,
    checksum_alg: String,
    content_type: String,
    created_at: String,
    proxy_id: String,
}

#[derive(Serialize, Deserialize)]
struct GoMemory {
    item_id: String,
    author_id: String,
    title: String,
    content_type: String,
    tags: Option<Vec<String>>,
    lfs_envelope: Option<GoLfs>,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Serialize, Deserialize)]
struct GoNode {
    agent_id: String,
    agent_name: String,
    role: String,
    parent_id: String,
    zone_id: String,
    endpoint: String,
    status: String,
}

#[derive(Serialize, Deserialize)]
struct GoZone {
    zone_id: String,
    name: String,
    visibility: String,
    owner_id: String,
    parent_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allowed_ids: Option<Vec<String>>,
    created_at: String,
}

#[derive(Serialize, Deserialize)]
struct GoDiscovery {
    action: String,
    node: GoNode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zones: Option<Vec<GoZone>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hierarchy: Option<Vec<GoNode>>,
}

#[derive(Serialize, Deserialize)]
struct GoEnsureTopic {
    action: String,
    topic: String,
}

/// Our payload extension fields: (message type, JSON pointer of the parent, field).
const PAYLOAD_EXTENSIONS: &[(&str, &str, &str)] = &[
    ("announce", "/payload/identity", "skills"),
    ("announce", "/payload/identity", "public_key"),
    ("onboard", "/payload/identity", "skills"),
    ("onboard", "/payload/identity", "public_key"),
    ("request", "/payload", "skill"),
    ("request", "/payload", "target_id"),
    ("skill_request", "/payload", "skill"),
    ("skill_request", "/payload", "target_id"),
    ("memory", "/payload", "content"),
    ("memory", "/payload/lfs_envelope", "original_headers"),
];

/// Removes our extension fields from an encoded envelope.
fn strip_extensions(mut value: Value) -> Value {
    let kind = value["type"].as_str().unwrap_or_default().to_owned();
    if let Some(obj) = value.as_object_mut() {
        for key in kafclaw_envelope::EXTENSION_FIELDS {
            obj.remove(key);
        }
    }
    for (for_kind, parent, field) in PAYLOAD_EXTENSIONS {
        if *for_kind == kind
            && let Some(Value::Object(map)) = value.pointer_mut(parent)
        {
            map.remove(*field);
        }
    }
    value
}

/// Decodes `ours` the way a Go agent would and encodes it again.
fn through_go(ours: &Value) -> Result<Value, String> {
    fn go<T: Serialize + for<'de> Deserialize<'de>>(payload: &Value) -> Result<Value, String> {
        let typed: T = serde_json::from_value(payload.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    let envelope: GoEnvelope = serde_json::from_value(ours.clone()).map_err(|e| e.to_string())?;
    let payload = match MessageType::parse(&envelope.kind) {
        Some(MessageType::Announce) => go::<GoAnnounce>(&envelope.payload)?,
        Some(MessageType::Request | MessageType::SkillRequest) => {
            go::<GoTaskRequest>(&envelope.payload)?
        }
        Some(MessageType::Response | MessageType::SkillResponse) => {
            go::<GoTaskResponse>(&envelope.payload)?
        }
        Some(MessageType::TaskStatus) => go::<GoTaskStatus>(&envelope.payload)?,
        Some(MessageType::Trace) => go::<GoTrace>(&envelope.payload)?,
        Some(MessageType::Roster) => go::<GoManifest>(&envelope.payload)?,
        Some(MessageType::Onboard) => go::<GoOnboard>(&envelope.payload)?,
        Some(MessageType::Memory) => go::<GoMemory>(&envelope.payload)?,
        Some(MessageType::Orchestrator) => go::<GoDiscovery>(&envelope.payload)?,
        Some(MessageType::Heartbeat) => go::<GoEnsureTopic>(&envelope.payload)?,
        // Audit payloads are free-form maps in Go as well; unknown types stay raw.
        Some(MessageType::Audit) | None => envelope.payload.clone(),
    };
    let mut out = serde_json::to_value(GoEnvelope {
        payload: Value::Null,
        ..envelope
    })
    .map_err(|e| e.to_string())?;
    out["payload"] = payload;
    Ok(out)
}

/// Drops the `Option` wrappers' `null`s that Go writes for nil slices, so that
/// "absent", `null` and `[]` compare alike only where Go allows null.
fn null_arrays_as_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let nullable = matches!(
                    key.as_str(),
                    "capabilities"
                        | "channels"
                        | "consumers"
                        | "core_topics"
                        | "skill_topics"
                        | "tags"
                );
                if nullable && v.is_null() {
                    *v = Value::Array(Vec::new());
                }
                null_arrays_as_empty(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(null_arrays_as_empty),
        _ => {}
    }
}

fn assert_go_reads(envelope: &GroupEnvelope) -> Result<(), TestCaseError> {
    let ours = envelope.to_value().unwrap();
    let mut via_go = through_go(&ours).map_err(|e| {
        TestCaseError::fail(format!("a Go decoder rejects our message: {e}\n{ours}"))
    })?;
    let mut expected = strip_extensions(ours);
    null_arrays_as_empty(&mut via_go);
    null_arrays_as_empty(&mut expected);
    prop_assert_eq!(via_go, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_go_decoder_reads_everything_we_write(envelope in envelope(false)) {
        assert_go_reads(&envelope)?;
    }
}

#[test]
fn a_go_decoder_reads_our_golden_examples() {
    for kind in MessageType::ALL {
        let file = format!("examples/{}.json", kind.as_str());
        let value = read_json(&file);
        let envelope = match decode_record_on(
            &crate::support::topic_for(*kind),
            &serde_json::to_vec(&value).unwrap(),
        )
        .unwrap()
        {
            Decoded::Group { envelope, .. } => *envelope,
            other => panic!("{file}: {other:?}"),
        };
        assert_go_reads(&envelope).unwrap_or_else(|e| panic!("{file}: {e}"));
        // and our golden example carries extension fields at all
        assert!(value.get("message_id").is_some(), "{file}");
    }
}

#[test]
fn go_examples_are_exactly_the_go_field_set() {
    for kind in MessageType::ALL {
        let file = format!("examples/go-{}.json", kind.as_str());
        let mut value = read_json(&file);
        let mut via_go = through_go(&value).unwrap_or_else(|e| panic!("{file}: {e}"));
        null_arrays_as_empty(&mut via_go);
        null_arrays_as_empty(&mut value);
        assert_eq!(via_go, value, "{file} has fields Go does not write");
    }
}
