//! JSON Schema (draft 2020-12) generation from the wire types, and the index that maps
//! types and topics to schema files.
//!
//! `cargo xtask schemas` writes [`all`] to `schemas/`; `cargo xtask schemas --check`
//! fails when the committed files differ.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::patterns::{NON_BLANK, NOT_ZERO_TIME, TRACEPARENT, UUID};
use crate::{
    AnnouncePayload, AuditPayload, CapabilitiesPayload, DecisionPayload, DiscoveryPayload,
    EXTENSION_FIELDS, EnsureTopicPayload, FactPayload, GroupTopic, HierarchyPayload,
    KnowledgeTopic, KnowledgeType, LfsEnvelope, MemoryItem, MessageType, OnboardPayload,
    PresencePayload, ProposalPayload, SCHEMA_VERSION, Signature, SkillDirection, TaskRequest,
    TaskResponse, TaskStatusPayload, Timestamp, TopicManifest, TracePayload, VotePayload,
    ZoneUpdatePayload,
};

/// The schema of any group envelope (payload checked by `type` for the known types).
pub const GROUP_FILE: &str = "group-envelope.schema.json";
/// The schema of any knowledge envelope.
pub const KNOWLEDGE_FILE: &str = "knowledge-envelope.schema.json";
/// The schema of a KafScale LFS pointer record.
pub const LFS_FILE: &str = "lfs-envelope.schema.json";
/// The index mapping types and topics to schemas and examples.
pub const INDEX_FILE: &str = "index.json";

/// The per-type schema file of a group message type (the whole envelope with that payload).
pub fn group_file(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Announce => "announce.schema.json",
        MessageType::Request => "task-request.schema.json",
        MessageType::Response => "task-response.schema.json",
        MessageType::Trace => "trace.schema.json",
        MessageType::Heartbeat => "heartbeat.schema.json",
        MessageType::Onboard => "onboard.schema.json",
        MessageType::Memory => "memory.schema.json",
        MessageType::SkillRequest => "skill-request.schema.json",
        MessageType::SkillResponse => "skill-response.schema.json",
        MessageType::Audit => "audit.schema.json",
        MessageType::TaskStatus => "task-status.schema.json",
        MessageType::Roster => "roster.schema.json",
        MessageType::Orchestrator => "orchestrator.schema.json",
    }
}

/// The per-type schema file of a knowledge type (the whole envelope with that payload).
pub fn knowledge_file(kind: KnowledgeType) -> &'static str {
    match kind {
        KnowledgeType::Capabilities => "knowledge-capabilities.schema.json",
        KnowledgeType::Presence => "knowledge-presence.schema.json",
        KnowledgeType::Proposal => "knowledge-proposal.schema.json",
        KnowledgeType::Vote => "knowledge-vote.schema.json",
        KnowledgeType::Decision => "knowledge-decision.schema.json",
        KnowledgeType::Fact => "knowledge-fact.schema.json",
    }
}

/// The golden example files (relative to `schemas/`) of a group type: ours, then Go's.
pub fn group_examples(kind: MessageType) -> [String; 2] {
    [
        format!("examples/{}.json", kind.as_str()),
        format!("examples/go-{}.json", kind.as_str()),
    ]
}

/// The golden example files of a knowledge type: ours, then Go's.
pub fn knowledge_examples(kind: KnowledgeType) -> [String; 2] {
    [
        format!("examples/knowledge-{}.json", kind.as_str()),
        format!("examples/go-knowledge-{}.json", kind.as_str()),
    ]
}

/// The golden examples of LFS pointer records.
pub const LFS_EXAMPLES: [&str; 2] = [
    "examples/lfs-pointer.json",
    "examples/lfs-pointer-minimal.json",
];

/// Every generated file: `(file name relative to schemas/, content)`, the index last.
pub fn all() -> Vec<(String, Value)> {
    let mut files = vec![(GROUP_FILE.to_owned(), group_envelope_schema())];
    for kind in MessageType::ALL {
        files.push((group_file(*kind).to_owned(), group_type_schema(*kind)));
    }
    files.push((KNOWLEDGE_FILE.to_owned(), knowledge_envelope_schema()));
    for kind in KnowledgeType::ALL {
        files.push((
            knowledge_file(*kind).to_owned(),
            knowledge_type_schema(*kind),
        ));
    }
    files.push((
        LFS_FILE.to_owned(),
        finish(
            generator().root_schema_for::<LfsEnvelope>(),
            "KafScale LFS pointer record",
            "A record value that points at a blob in object storage (written by the KafScale LFS proxy in place of the real value; also embedded in memory items).",
        ),
    ));
    files.push((
        "orchestrator-hierarchy-payload.schema.json".to_owned(),
        finish(
            generator().root_schema_for::<HierarchyPayload>(),
            "KafClaw orchestrator hierarchy update payload",
            "Declared by the Go orchestrator but never sent or read; payload only.",
        ),
    ));
    files.push((
        "orchestrator-zone-update-payload.schema.json".to_owned(),
        finish(
            generator().root_schema_for::<ZoneUpdatePayload>(),
            "KafClaw orchestrator zone update payload",
            "Declared by the Go orchestrator but never sent or read; payload only.",
        ),
    ));
    files.push((INDEX_FILE.to_owned(), index()));
    files
}

/// Pretty JSON text of a generated file, as committed (two-space indent, final newline).
pub fn to_pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
}

/// Sets title and description, and drops schemars' `default` annotations (the
/// zero values are documented in prose instead).
fn finish(schema: Schema, title: &str, description: &str) -> Value {
    let mut value = schema.to_value();
    strip_defaults(&mut value);
    if let Value::Object(map) = &mut value {
        let mut ordered = Map::new();
        if let Some(meta) = map.remove("$schema") {
            ordered.insert("$schema".into(), meta);
        }
        ordered.insert("title".into(), title.into());
        ordered.insert("description".into(), description.into());
        map.remove("title");
        map.remove("description");
        ordered.append(map);
        value = Value::Object(ordered);
    }
    value
}

/// Removes `default` annotations, turns rustdoc links in descriptions into plain
/// code spans, and spells out the range of 64-bit and 32-bit integer formats (which
/// JSON Schema validators do not know).
fn strip_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("default");
            let bounds = match map.get("format").and_then(Value::as_str) {
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            if let Some(Value::String(text)) = map.get_mut("description") {
                *text = plain_description(text);
            }
            map.values_mut().for_each(strip_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_defaults),
        _ => {}
    }
}

/// `status ([`TaskState`])` becomes `status`; `[`Timestamp`]` becomes `` `Timestamp` ``.
fn plain_description(text: &str) -> String {
    let mut out = text.to_owned();
    while let Some(start) = out.find(" ([`") {
        match out[start..].find("`])") {
            Some(end) => out.replace_range(start..start + end + 3, ""),
            None => break,
        }
    }
    out.replace("[`", "`").replace("`]", "`")
}

/// The header of every group envelope; `P` is the payload.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct GroupEnvelopeOf<P> {
    /// Message type; routing is by topic, the type says what the payload is.
    #[serde(rename = "type")]
    kind: String,
    /// Go correlation id: task id, trace id, item id, or `<prefix>-<unix ns>`; may be empty.
    correlation_id: String,
    /// The sending agent's id.
    sender_id: String,
    /// When the message was written (Go RFC3339Nano).
    timestamp: Timestamp,
    /// Extension: unique message id (UUIDv7) for de-duplication.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(UUID))]
    message_id: Option<String>,
    /// Extension: envelope schema version.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    schema_version: Option<u32>,
    /// Extension: the orchestrator zone this message belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    zone_id: Option<String>,
    /// Extension: W3C trace context `traceparent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(TRACEPARENT))]
    traceparent: Option<String>,
    /// Extension: W3C trace context `tracestate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
    /// The payload.
    payload: P,
    /// Extension: signature over the envelope.
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<Signature>,
}

fn payload_ref(kind: MessageType, generator: &mut SchemaGenerator) -> Schema {
    match kind {
        MessageType::Announce => generator.subschema_for::<AnnouncePayload>(),
        MessageType::Request | MessageType::SkillRequest => {
            generator.subschema_for::<TaskRequest>()
        }
        MessageType::Response | MessageType::SkillResponse => {
            generator.subschema_for::<TaskResponse>()
        }
        MessageType::Trace => generator.subschema_for::<TracePayload>(),
        MessageType::Heartbeat => generator.subschema_for::<EnsureTopicPayload>(),
        MessageType::Onboard => generator.subschema_for::<OnboardPayload>(),
        MessageType::Memory => generator.subschema_for::<MemoryItem>(),
        MessageType::Audit => generator.subschema_for::<AuditPayload>(),
        MessageType::TaskStatus => generator.subschema_for::<TaskStatusPayload>(),
        MessageType::Roster => generator.subschema_for::<TopicManifest>(),
        MessageType::Orchestrator => generator.subschema_for::<DiscoveryPayload>(),
    }
}

fn set_property(value: &mut Value, name: &str, schema: Value) {
    if let Some(props) = value.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(name.to_owned(), schema);
    }
}

fn group_type_schema(kind: MessageType) -> Value {
    let mut generator = generator();
    let payload = payload_ref(kind, &mut generator).to_value();
    let root = generator.root_schema_for::<GroupEnvelopeOf<Value>>();
    let mut value = finish(
        root,
        &format!("KafClaw {} message", kind.as_str()),
        &format!(
            "A whole Kafka record value: a group envelope of type \"{}\" with its payload. Go agents write the five core fields; the extension fields are optional.",
            kind.as_str()
        ),
    );
    set_property(
        &mut value,
        "type",
        json!({ "description": "Message type.", "type": "string", "const": kind.as_str() }),
    );
    set_property(&mut value, "payload", payload);
    value
}

fn group_envelope_schema() -> Value {
    let mut generator = generator();
    let branches: Vec<Value> = MessageType::ALL
        .iter()
        .map(|kind| {
            let payload = payload_ref(*kind, &mut generator).to_value();
            json!({
                "if": { "properties": { "type": { "const": kind.as_str() } }, "required": ["type"] },
                "then": { "properties": { "payload": payload } }
            })
        })
        .collect();
    let root = generator.root_schema_for::<GroupEnvelopeOf<Value>>();
    let mut value = finish(
        root,
        "KafClaw group envelope",
        "Any message on a non-knowledge group topic. The payload is checked against the schema of its type for the known types; unknown types are allowed with any payload.",
    );
    if let Value::Object(map) = &mut value {
        map.insert("allOf".into(), Value::Array(branches));
    }
    value
}

/// The header of every knowledge envelope; `P` is the payload.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct KnowledgeEnvelopeOf<P> {
    /// Schema version, `v1`.
    #[schemars(pattern(NON_BLANK))]
    schema_version: String,
    /// Knowledge message type.
    #[serde(rename = "type")]
    kind: String,
    /// Trace id.
    #[schemars(pattern(NON_BLANK))]
    trace_id: String,
    /// When it was written; the zero time is rejected.
    #[schemars(pattern(NOT_ZERO_TIME))]
    timestamp: Timestamp,
    /// De-duplication key.
    #[schemars(pattern(NON_BLANK))]
    idempotency_key: String,
    /// The writing claw.
    #[schemars(pattern(NON_BLANK))]
    claw_id: String,
    /// The claw's instance.
    #[schemars(pattern(NON_BLANK))]
    instance_id: String,
    /// The payload.
    payload: P,
}

/// Like [`KnowledgeEnvelopeOf`] with an optional payload (Go does not require one).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct AnyKnowledgeEnvelope {
    /// Schema version, `v1`.
    #[schemars(pattern(NON_BLANK))]
    schema_version: String,
    /// Knowledge message type.
    #[serde(rename = "type")]
    kind: String,
    /// Trace id.
    #[schemars(pattern(NON_BLANK))]
    trace_id: String,
    /// When it was written; the zero time is rejected.
    #[schemars(pattern(NOT_ZERO_TIME))]
    timestamp: Timestamp,
    /// De-duplication key.
    #[schemars(pattern(NON_BLANK))]
    idempotency_key: String,
    /// The writing claw.
    #[schemars(pattern(NON_BLANK))]
    claw_id: String,
    /// The claw's instance.
    #[schemars(pattern(NON_BLANK))]
    instance_id: String,
    /// The payload, an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<Value>,
}

fn knowledge_payload_ref(kind: KnowledgeType, generator: &mut SchemaGenerator) -> Schema {
    match kind {
        KnowledgeType::Capabilities => generator.subschema_for::<CapabilitiesPayload>(),
        KnowledgeType::Presence => generator.subschema_for::<PresencePayload>(),
        KnowledgeType::Proposal => generator.subschema_for::<ProposalPayload>(),
        KnowledgeType::Vote => generator.subschema_for::<VotePayload>(),
        KnowledgeType::Decision => generator.subschema_for::<DecisionPayload>(),
        KnowledgeType::Fact => generator.subschema_for::<FactPayload>(),
    }
}

fn knowledge_type_schema(kind: KnowledgeType) -> Value {
    let mut generator = generator();
    let payload = knowledge_payload_ref(kind, &mut generator).to_value();
    let root = generator.root_schema_for::<KnowledgeEnvelopeOf<Value>>();
    let mut value = finish(
        root,
        &format!("KafClaw knowledge {} message", kind.as_str()),
        &format!(
            "A whole Kafka record value on a knowledge topic: a knowledge envelope (camelCase) of type \"{}\" with its payload, under the Go validation rules.",
            kind.as_str()
        ),
    );
    set_property(
        &mut value,
        "type",
        json!({ "description": "Knowledge message type.", "type": "string", "const": kind.as_str() }),
    );
    set_property(&mut value, "payload", payload);
    value
}

fn knowledge_envelope_schema() -> Value {
    let mut generator = generator();
    let branches: Vec<Value> = KnowledgeType::ALL
        .iter()
        .map(|kind| {
            let payload = knowledge_payload_ref(*kind, &mut generator).to_value();
            json!({
                "if": { "properties": { "type": { "const": kind.as_str() } }, "required": ["type"] },
                "then": { "properties": { "payload": payload } }
            })
        })
        .collect();
    let root = generator.root_schema_for::<AnyKnowledgeEnvelope>();
    let mut value = finish(
        root,
        "KafClaw knowledge envelope",
        "Any message on a knowledge topic (group.{kg}.knowledge.*), under the Go validation rules.",
    );
    set_property(
        &mut value,
        "type",
        json!({
            "description": "Knowledge message type; Go rejects any other.",
            "type": "string",
            "enum": KnowledgeType::NAMES
        }),
    );
    if let Value::Object(map) = &mut value {
        map.insert("allOf".into(), Value::Array(branches));
    }
    value
}

fn type_entry(family: &str, schema: &str, examples: &[String]) -> Value {
    json!({ "envelope": family, "schema": schema, "examples": examples })
}

/// The index: envelope families, message type → schema and examples, topic → allowed types.
pub fn index() -> Value {
    let mut types = Map::new();
    for kind in MessageType::ALL {
        types.insert(
            kind.as_str().to_owned(),
            type_entry("group", group_file(*kind), &group_examples(*kind)),
        );
    }
    for kind in KnowledgeType::ALL {
        types.insert(
            kind.as_str().to_owned(),
            type_entry(
                "knowledge",
                knowledge_file(*kind),
                &knowledge_examples(*kind),
            ),
        );
    }
    let names = |allowed: &[MessageType]| -> Vec<&'static str> {
        allowed.iter().map(|t| t.as_str()).collect()
    };
    let mut topics = Vec::new();
    for topic in GroupTopic::ALL {
        topics.push(json!({
            "topic": format!("group.{{group}}.{}", topic.suffix()),
            "envelope": "group",
            "category": topic.category().as_str(),
            "types": names(topic.allowed_types()),
        }));
    }
    for direction in [SkillDirection::Requests, SkillDirection::Responses] {
        topics.push(json!({
            "topic": format!("group.{{group}}.skill.{{skill}}.{}", direction.as_str()),
            "envelope": "group",
            "category": "skill",
            "types": names(direction.allowed_types()),
        }));
    }
    for direction in [SkillDirection::Requests, SkillDirection::Responses] {
        topics.push(json!({
            "topic": format!("group.{{group}}.zone.{{zone}}.{}", direction.as_str()),
            "envelope": "group",
            "category": "zone",
            "types": names(crate::topic::zone_allowed_types(direction)),
        }));
    }
    for topic in KnowledgeTopic::ALL {
        topics.push(json!({
            "topic": format!("group.{{knowledge_group}}.knowledge.{}", topic.as_str()),
            "envelope": "knowledge",
            "types": [topic.knowledge_type().as_str()],
        }));
    }
    json!({
        "description": "KafClaw wire schemas (JSON Schema draft 2020-12), generated from the Rust types by `cargo xtask schemas`. Paths are relative to this file.",
        "schema_version": SCHEMA_VERSION,
        "envelopes": {
            "group": {
                "schema": GROUP_FILE,
                "extension_fields": EXTENSION_FIELDS,
                "note": "Any non-knowledge group topic. Go agents dispatch on the topic; the type field names the payload."
            },
            "knowledge": {
                "schema": KNOWLEDGE_FILE,
                "note": "Knowledge topics only; camelCase field names."
            }
        },
        "types": types,
        "lfs_pointer": {
            "schema": LFS_FILE,
            "examples": LFS_EXAMPLES,
            "note": "May stand in for any record value on any topic (KafScale LFS proxy); recognised by a top-level kfs_lfs member."
        },
        "payload_schemas": {
            "HierarchyPayload": "orchestrator-hierarchy-payload.schema.json",
            "ZoneUpdatePayload": "orchestrator-zone-update-payload.schema.json"
        },
        "topics": topics
    })
}
