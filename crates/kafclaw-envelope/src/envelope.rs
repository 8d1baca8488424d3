//! The group envelope: Go's five fields, our optional extensions, and the typed message it carries.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result, shorten};
use crate::jsonutil::{describe, strip_nulls};
use crate::{
    AnnounceAction, AnnouncePayload, AuditPayload, DiscoveryPayload, EnsureTopicPayload,
    MemoryItem, OnboardAction, OnboardPayload, TaskRequest, TaskResponse, TaskStatusPayload,
    Timestamp, TopicKind, TopicManifest, TracePayload,
};

/// The `schema_version` this crate writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

wire_enum! {
    /// The envelope `type` values of the Go protocol (12 declared constants plus `orchestrator`).
    MessageType {
        /// [`AnnouncePayload`] on `announce` (join, leave and heartbeat).
        Announce = "announce",
        /// [`TaskRequest`] on `requests`.
        Request = "request",
        /// [`TaskResponse`] on `responses`.
        Response = "response",
        /// [`TracePayload`] on `traces`.
        Trace = "trace",
        /// [`EnsureTopicPayload`], sent to any group topic to get it created.
        Heartbeat = "heartbeat",
        /// [`OnboardPayload`] on `control.onboarding`.
        Onboard = "onboard",
        /// [`MemoryItem`] on `memory.shared` and `memory.context`.
        Memory = "memory",
        /// [`TaskRequest`] on `skill.{s}.requests`.
        SkillRequest = "skill_request",
        /// [`TaskResponse`] on `skill.{s}.responses`.
        SkillResponse = "skill_response",
        /// [`AuditPayload`] on `observe.audit`.
        Audit = "audit",
        /// [`TaskStatusPayload`] on `tasks.status` (Go agents send it on `responses`).
        TaskStatus = "task_status",
        /// [`TopicManifest`] on `control.roster`.
        Roster = "roster",
        /// [`DiscoveryPayload`] on `orchestrator`.
        Orchestrator = "orchestrator",
    }
}

/// The typed content of a group envelope: its `type` and `payload` together.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// `announce`.
    Announce(AnnouncePayload),
    /// `roster`.
    Roster(TopicManifest),
    /// `onboard`.
    Onboard(OnboardPayload),
    /// `request`.
    Request(TaskRequest),
    /// `response`.
    Response(TaskResponse),
    /// `task_status`.
    TaskStatus(TaskStatusPayload),
    /// `trace`.
    Trace(TracePayload),
    /// `audit`.
    Audit(AuditPayload),
    /// `memory`.
    Memory(MemoryItem),
    /// `orchestrator`.
    Orchestrator(DiscoveryPayload),
    /// `skill_request`.
    SkillRequest(TaskRequest),
    /// `skill_response`.
    SkillResponse(TaskResponse),
    /// `heartbeat` (ensure-topic).
    Heartbeat(EnsureTopicPayload),
    /// A `type` this crate does not know, kept as it came.
    Unknown {
        /// The envelope's `type`.
        r#type: String,
        /// The raw payload (`null` when absent).
        payload: Value,
    },
}

impl Message {
    /// The known type, `None` for [`Message::Unknown`].
    pub fn message_type(&self) -> Option<MessageType> {
        Some(match self {
            Message::Announce(_) => MessageType::Announce,
            Message::Roster(_) => MessageType::Roster,
            Message::Onboard(_) => MessageType::Onboard,
            Message::Request(_) => MessageType::Request,
            Message::Response(_) => MessageType::Response,
            Message::TaskStatus(_) => MessageType::TaskStatus,
            Message::Trace(_) => MessageType::Trace,
            Message::Audit(_) => MessageType::Audit,
            Message::Memory(_) => MessageType::Memory,
            Message::Orchestrator(_) => MessageType::Orchestrator,
            Message::SkillRequest(_) => MessageType::SkillRequest,
            Message::SkillResponse(_) => MessageType::SkillResponse,
            Message::Heartbeat(_) => MessageType::Heartbeat,
            Message::Unknown { .. } => return None,
        })
    }

    /// The envelope `type` this message is written with.
    pub fn type_name(&self) -> &str {
        match self {
            Message::Unknown { r#type, .. } => r#type,
            known => known.message_type().map_or("", MessageType::as_str),
        }
    }

    /// Decodes `payload` as the payload of `kind`, leniently like Go: unknown fields
    /// are ignored, missing or `null` fields take their zero value, a missing payload
    /// is an all-zero payload. A value of the wrong JSON type is an error naming the
    /// field (path relative to the envelope, e.g. `/payload/task_id`).
    pub fn decode(kind: MessageType, payload: Value) -> Result<Message> {
        Ok(match kind {
            MessageType::Announce => Message::Announce(typed(kind, payload)?),
            MessageType::Roster => Message::Roster(typed(kind, payload)?),
            MessageType::Onboard => Message::Onboard(typed(kind, payload)?),
            MessageType::Request => Message::Request(typed(kind, payload)?),
            MessageType::Response => Message::Response(typed(kind, payload)?),
            MessageType::TaskStatus => Message::TaskStatus(typed(kind, payload)?),
            MessageType::Trace => Message::Trace(typed(kind, payload)?),
            MessageType::Memory => Message::Memory(typed(kind, payload)?),
            MessageType::Orchestrator => Message::Orchestrator(typed(kind, payload)?),
            MessageType::SkillRequest => Message::SkillRequest(typed(kind, payload)?),
            MessageType::SkillResponse => Message::SkillResponse(typed(kind, payload)?),
            MessageType::Heartbeat => Message::Heartbeat(typed(kind, payload)?),
            MessageType::Audit => match payload {
                Value::Null => Message::Audit(AuditPayload::default()),
                Value::Object(map) => Message::Audit(AuditPayload(map)),
                other => {
                    return Err(Error::field(
                        "/payload",
                        format!("expected an object, got {}", describe(&other)),
                    ));
                }
            },
        })
    }

    fn serialize_payload<S: Serializer>(&self, map: &mut S::SerializeMap) -> Result<(), S::Error> {
        match self {
            Message::Announce(p) => map.serialize_entry("payload", p),
            Message::Roster(p) => map.serialize_entry("payload", p),
            Message::Onboard(p) => map.serialize_entry("payload", p),
            Message::Request(p) | Message::SkillRequest(p) => map.serialize_entry("payload", p),
            Message::Response(p) | Message::SkillResponse(p) => map.serialize_entry("payload", p),
            Message::TaskStatus(p) => map.serialize_entry("payload", p),
            Message::Trace(p) => map.serialize_entry("payload", p),
            Message::Audit(p) => map.serialize_entry("payload", p),
            Message::Memory(p) => map.serialize_entry("payload", p),
            Message::Orchestrator(p) => map.serialize_entry("payload", p),
            Message::Heartbeat(p) => map.serialize_entry("payload", p),
            Message::Unknown { payload, .. } => map.serialize_entry("payload", payload),
        }
    }

    /// The Go correlation-id convention for this message at `at`: the task id for
    /// tasks and statuses, the trace id for traces, the item id for memory,
    /// `join-/leave-/hb-<ns>` for announces, `onboard-<ns>`, `roster-<ns>`,
    /// `audit-<ns>`, `ensure-<ns>`, and empty for orchestrator discovery.
    pub fn default_correlation_id(&self, at: Timestamp) -> String {
        let ns = |prefix: &str| nanos_id(prefix, at);
        match self {
            Message::Announce(p) => match p.action() {
                Some(AnnounceAction::Join) => ns("join"),
                Some(AnnounceAction::Leave) => ns("leave"),
                Some(AnnounceAction::Heartbeat) => ns("hb"),
                None => ns("announce"),
            },
            Message::Roster(_) => ns("roster"),
            Message::Onboard(p) => match p.action() {
                Some(OnboardAction::Request) | None => ns("onboard"),
                // Replies reuse the request's id; the caller sets it.
                Some(_) => String::new(),
            },
            Message::Request(p) | Message::SkillRequest(p) => p.task_id.clone(),
            Message::Response(p) | Message::SkillResponse(p) => p.task_id.clone(),
            Message::TaskStatus(p) => p.task_id.clone(),
            Message::Trace(p) => p.trace_id.clone(),
            Message::Audit(_) => ns("audit"),
            Message::Memory(p) => p.item_id.clone(),
            Message::Heartbeat(_) => ns("ensure"),
            Message::Orchestrator(_) | Message::Unknown { .. } => String::new(),
        }
    }
}

fn typed<T: serde::de::DeserializeOwned + Default>(kind: MessageType, payload: Value) -> Result<T> {
    match payload {
        Value::Null => Ok(T::default()),
        Value::Object(mut map) => {
            strip_nulls(&mut map);
            let value = Value::Object(map);
            T::deserialize(&value).map_err(|err| {
                crate::validate::locate_payload_error(kind, &value)
                    .unwrap_or_else(|| Error::field("/payload", err.to_string()))
            })
        }
        other => Err(Error::field(
            "/payload",
            format!("expected an object, got {}", describe(&other)),
        )),
    }
}

/// `<prefix>-<unix nanoseconds>`, Go's id style (`hb-1732180530123456789`).
pub fn nanos_id(prefix: &str, at: Timestamp) -> String {
    format!("{prefix}-{}", at.unix_nanos().unwrap_or_default())
}

/// A fresh W3C `traceparent` (version 00, random trace and span ids, sampled).
pub fn new_traceparent() -> String {
    let trace = Uuid::new_v4().simple().to_string();
    let span = Uuid::new_v4().simple().to_string();
    format!("00-{trace}-{}-01", &span[..16])
}

/// An envelope signature (our extension): algorithm, key id and base64 signature.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Signature {
    /// Signature algorithm, e.g. `ed25519`.
    #[schemars(pattern(crate::patterns::NON_BLANK))]
    pub alg: String,
    /// Which key signed (e.g. the signer's agent id or a key fingerprint).
    pub key_id: String,
    /// The signature bytes, standard base64.
    #[schemars(pattern(crate::patterns::BASE64))]
    pub sig: String,
}

/// A message on any non-knowledge group topic.
///
/// On the wire: `{type, correlation_id, sender_id, timestamp, payload}` as Go
/// writes it, plus our optional extensions, each left out when absent:
/// `message_id` (UUIDv7 for de-duplication), `schema_version`, `zone_id`,
/// `traceparent`/`tracestate` (W3C trace context) and `signature`.
///
/// Build one with [`GroupEnvelope::new`]; read one with [`crate::decode_record`]
/// (topic-aware) or [`GroupEnvelope::from_json`] (type-based).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEnvelope {
    /// Go's correlation id (see [`Message::default_correlation_id`]).
    pub correlation_id: String,
    /// The sending agent's id (self-asserted unless signed).
    pub sender_id: String,
    /// When the sender wrote it.
    pub timestamp: Timestamp,
    /// `type` and `payload`.
    pub message: Message,
    /// Extension: unique message id, a UUIDv7 in hyphenated form.
    pub message_id: Option<String>,
    /// Extension: envelope schema version ([`SCHEMA_VERSION`]).
    pub schema_version: Option<u32>,
    /// Extension: the orchestrator zone the message belongs to.
    pub zone_id: Option<String>,
    /// Extension: W3C `traceparent`.
    pub traceparent: Option<String>,
    /// Extension: W3C `tracestate`.
    pub tracestate: Option<String>,
    /// Extension: signature over the envelope.
    pub signature: Option<Signature>,
}

/// The JSON names of our envelope extensions, in the order they are written.
pub const EXTENSION_FIELDS: [&str; 6] = [
    "message_id",
    "schema_version",
    "zone_id",
    "traceparent",
    "tracestate",
    "signature",
];

impl GroupEnvelope {
    /// A new envelope from `sender_id`, stamped now: fresh UUIDv7 message id,
    /// current schema version, UTC timestamp, and the Go correlation-id convention.
    pub fn new(sender_id: impl Into<String>, message: Message) -> Self {
        Self::new_at(sender_id, message, Timestamp::now())
    }

    /// Like [`GroupEnvelope::new`] with an explicit timestamp (the message id's
    /// time part is taken from it too).
    pub fn new_at(sender_id: impl Into<String>, message: Message, at: Timestamp) -> Self {
        let utc = at.to_utc();
        let secs = u64::try_from(utc.timestamp()).unwrap_or(0);
        let uuid_ts =
            uuid::Timestamp::from_unix(uuid::NoContext, secs, utc.timestamp_subsec_nanos());
        GroupEnvelope {
            correlation_id: message.default_correlation_id(at),
            sender_id: sender_id.into(),
            timestamp: at,
            message,
            message_id: Some(Uuid::new_v7(uuid_ts).hyphenated().to_string()),
            schema_version: Some(SCHEMA_VERSION),
            zone_id: None,
            traceparent: None,
            tracestate: None,
            signature: None,
        }
    }

    /// Replaces the correlation id (onboarding replies reuse the request's).
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = correlation_id.into();
        self
    }

    /// Sets the zone.
    pub fn with_zone_id(mut self, zone_id: impl Into<String>) -> Self {
        self.zone_id = Some(zone_id.into());
        self
    }

    /// Sets the W3C trace context.
    pub fn with_trace_context(
        mut self,
        traceparent: impl Into<String>,
        tracestate: Option<String>,
    ) -> Self {
        self.traceparent = Some(traceparent.into());
        self.tracestate = tracestate;
        self
    }

    /// Sets the signature.
    pub fn with_signature(mut self, signature: Signature) -> Self {
        self.signature = Some(signature);
        self
    }

    /// The same envelope with every extension removed: exactly what a Go agent writes.
    pub fn without_extensions(mut self) -> Self {
        self.message_id = None;
        self.schema_version = None;
        self.zone_id = None;
        self.traceparent = None;
        self.tracestate = None;
        self.signature = None;
        self
    }

    /// The envelope `type`.
    pub fn type_name(&self) -> &str {
        self.message.type_name()
    }

    /// The message id parsed as a UUID, when present and valid.
    pub fn message_uuid(&self) -> Option<Uuid> {
        self.message_id
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok())
    }

    /// The Kafka record key our agents use: the agent id for announces, the task id
    /// for tasks and statuses, the item id for memory; `None` otherwise.
    pub fn record_key(&self) -> Option<&str> {
        let key = match &self.message {
            Message::Announce(p) => &p.identity.agent_id,
            Message::Request(p) | Message::SkillRequest(p) => &p.task_id,
            Message::Response(p) | Message::SkillResponse(p) => &p.task_id,
            Message::TaskStatus(p) => &p.task_id,
            Message::Memory(p) => &p.item_id,
            _ => return None,
        };
        (!key.is_empty()).then_some(key.as_str())
    }

    /// The JSON bytes of this envelope.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Encode {
            what: "group envelope",
            reason: e.to_string(),
        })
    }

    /// This envelope as a JSON value.
    pub fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|e| Error::Encode {
            what: "group envelope",
            reason: e.to_string(),
        })
    }

    /// Decodes an envelope by its `type` (no topic). Unknown types become
    /// [`Message::Unknown`]. See [`crate::decode_record`] for topic-aware decoding.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::not_json(&e))?;
        Self::from_value(value)
    }

    /// Like [`GroupEnvelope::from_json`] from an already parsed value.
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => decode_group(map, None).map(|(env, _)| env),
            other => Err(Error::field(
                "",
                format!("expected a JSON object, got {}", describe(&other)),
            )),
        }
    }
}

impl Serialize for GroupEnvelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.type_name())?;
        map.serialize_entry("correlation_id", &self.correlation_id)?;
        map.serialize_entry("sender_id", &self.sender_id)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        if let Some(v) = &self.message_id {
            map.serialize_entry("message_id", v)?;
        }
        if let Some(v) = &self.schema_version {
            map.serialize_entry("schema_version", v)?;
        }
        if let Some(v) = &self.zone_id {
            map.serialize_entry("zone_id", v)?;
        }
        if let Some(v) = &self.traceparent {
            map.serialize_entry("traceparent", v)?;
        }
        if let Some(v) = &self.tracestate {
            map.serialize_entry("tracestate", v)?;
        }
        self.message.serialize_payload::<S>(&mut map)?;
        if let Some(v) = &self.signature {
            map.serialize_entry("signature", v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for GroupEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        GroupEnvelope::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Takes a header string: absent or `null` is empty, anything else but a string is an error.
pub(crate) fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::field(
            format!("/{key}"),
            format!("expected a string, got {}", describe(&other)),
        )),
    }
}

pub(crate) fn take_timestamp(map: &mut Map<String, Value>, key: &str) -> Result<Timestamp> {
    match take_string(map, key)? {
        None => Ok(Timestamp::zero()),
        Some(text) => Timestamp::parse(&text).map_err(|e| match e {
            Error::InvalidTimestamp { reason, .. } => Error::field(
                format!("/{key}"),
                format!(
                    "expected an RFC 3339 timestamp, got \"{}\" ({reason})",
                    shorten(&text, 40)
                ),
            ),
            other => other,
        }),
    }
}

/// Decodes a group envelope object. With a group or skill topic, the topic decides
/// the payload type as in Go, except that a `type` allowed on that topic (such as
/// `task_status` on `responses`, or `heartbeat` anywhere) is honoured. Returns the
/// envelope and, when the topic overrode it, the declared `type`.
pub(crate) fn decode_group(
    mut map: Map<String, Value>,
    topic: Option<&TopicKind>,
) -> Result<(GroupEnvelope, Option<String>)> {
    let declared = take_string(&mut map, "type")?.unwrap_or_default();
    let correlation_id = take_string(&mut map, "correlation_id")?.unwrap_or_default();
    let sender_id = take_string(&mut map, "sender_id")?.unwrap_or_default();
    let timestamp = take_timestamp(&mut map, "timestamp")?;
    let message_id = take_string(&mut map, "message_id")?;
    let zone_id = take_string(&mut map, "zone_id")?;
    let traceparent = take_string(&mut map, "traceparent")?;
    let tracestate = take_string(&mut map, "tracestate")?;
    let schema_version = match map.remove("schema_version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v <= u64::from(u32::MAX)) => {
            n.as_u64().map(|v| v as u32)
        }
        Some(other) => {
            return Err(Error::field(
                "/schema_version",
                format!("expected a non-negative integer, got {}", describe(&other)),
            ));
        }
    };
    let signature = match map.remove("signature") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut sig)) => {
            strip_nulls(&mut sig);
            let sig = Value::Object(sig);
            Some(Signature::deserialize(&sig).map_err(|_| {
                crate::validate::locate_signature_error(&sig)
                    .unwrap_or_else(|| Error::field("/signature", "malformed signature"))
            })?)
        }
        Some(other) => {
            return Err(Error::field(
                "/signature",
                format!("expected an object, got {}", describe(&other)),
            ));
        }
    };
    let payload = map.remove("payload").unwrap_or(Value::Null);

    let known = MessageType::parse(&declared);
    let allowed = topic.map(TopicKind::allowed_message_types).unwrap_or(&[]);
    let (kind, overridden) = match allowed.first() {
        None => (known, false),
        Some(first) => match known {
            Some(k) if allowed.contains(&k) => (Some(k), false),
            _ => (Some(*first), true),
        },
    };
    let message = match kind {
        Some(kind) => Message::decode(kind, payload)?,
        None => Message::Unknown {
            r#type: declared.clone(),
            payload,
        },
    };
    let envelope = GroupEnvelope {
        correlation_id,
        sender_id,
        timestamp,
        message,
        message_id,
        schema_version,
        zone_id,
        traceparent,
        tracestate,
        signature,
    };
    Ok((envelope, overridden.then_some(declared)))
}
