//! The knowledge envelope (camelCase, versioned) and its six payloads with Go's validation rules.

use schemars::{JsonSchema, Schema};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::Timestamp;
use crate::envelope::{take_string, take_timestamp};
use crate::error::{Error, Result};
use crate::jsonutil::{describe, strip_nulls};
use crate::patterns::{NON_BLANK, OUTCOME, VOTE};

/// The knowledge `schemaVersion` Go writes.
pub const KNOWLEDGE_SCHEMA_VERSION: &str = "v1";

wire_enum! {
    /// The knowledge envelope `type` values; anything else is rejected by Go.
    KnowledgeType {
        /// [`CapabilitiesPayload`] on `knowledge.capabilities`.
        Capabilities = "capabilities",
        /// [`PresencePayload`] on `knowledge.presence`.
        Presence = "presence",
        /// [`ProposalPayload`] on `knowledge.proposals`.
        Proposal = "proposal",
        /// [`VotePayload`] on `knowledge.votes`.
        Vote = "vote",
        /// [`DecisionPayload`] on `knowledge.decisions`.
        Decision = "decision",
        /// [`FactPayload`] on `knowledge.facts`.
        Fact = "fact",
    }
}

/// `proposal`: a claim put to the group for a vote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ProposalPayload {
    /// Required (`kp-<16 hex>` from the Go CLI).
    #[schemars(pattern(NON_BLANK))]
    pub proposal_id: String,
    /// Required: the knowledge group.
    #[schemars(pattern(NON_BLANK))]
    pub group: String,
    /// Optional title.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Required: what is proposed.
    #[schemars(pattern(NON_BLANK))]
    pub statement: String,
    /// Tags (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Vec<String>,
}

/// `vote`: one claw's vote on a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct VotePayload {
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub proposal_id: String,
    /// Required: `yes` or `no`, any case, surrounding whitespace ignored.
    #[schemars(pattern(VOTE))]
    pub vote: String,
    /// Optional reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// `decision`: the outcome of a vote.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct DecisionPayload {
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub proposal_id: String,
    /// Required: `approved`, `rejected` or `expired`, any case.
    #[schemars(pattern(OUTCOME))]
    pub outcome: String,
    /// Yes votes, 0 or more.
    #[schemars(range(min = 0))]
    pub yes: i64,
    /// No votes, 0 or more.
    #[schemars(range(min = 0))]
    pub no: i64,
    /// Optional reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// `fact`: a versioned subject–predicate–object statement.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct FactPayload {
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub fact_id: String,
    /// Required: the knowledge group.
    #[schemars(pattern(NON_BLANK))]
    pub group: String,
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub subject: String,
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub predicate: String,
    /// Required.
    #[schemars(pattern(NON_BLANK))]
    pub object: String,
    /// Version, 1 for a new fact, then +1 per update.
    #[schemars(range(min = 1))]
    pub version: i64,
    /// Required: where the fact comes from.
    #[schemars(pattern(NON_BLANK))]
    pub source: String,
    /// The proposal that led to it (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proposal_id: String,
    /// The decision that led to it (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub decision_id: String,
    /// Tags (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub tags: Vec<String>,
    /// Publication time as RFC 3339 text (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub published_at: String,
}

/// `presence`: a claw says it is up (`active`) or going down (`stopping`). Not validated by Go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
#[schemars(transform = nothing_required)]
pub struct PresencePayload {
    /// The knowledge group.
    pub group: String,
    /// `active` or `stopping`.
    pub status: String,
    /// Display name of the claw.
    pub display_name: String,
    /// RFC 3339 text.
    pub updated_at: String,
}

/// `capabilities`: what a claw can do. Not validated by Go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
#[schemars(transform = nothing_required)]
pub struct CapabilitiesPayload {
    /// The knowledge group.
    pub group: String,
    /// Display name of the claw.
    pub display_name: String,
    /// LLM model name.
    pub model: String,
    /// Capability names (`memory.search`, `knowledge.vote`, ...). May be `null`.
    #[schemars(with = "Option<Vec<String>>")]
    pub capabilities: Vec<String>,
    /// RFC 3339 text.
    pub updated_at: String,
}

fn nothing_required(schema: &mut Schema) {
    schema.remove("required");
}

/// The typed content of a knowledge envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KnowledgeMessage {
    /// `proposal`.
    Proposal(ProposalPayload),
    /// `vote`.
    Vote(VotePayload),
    /// `decision`.
    Decision(DecisionPayload),
    /// `fact`.
    Fact(FactPayload),
    /// `presence`.
    Presence(PresencePayload),
    /// `capabilities`.
    Capabilities(CapabilitiesPayload),
    /// A type Go would reject, kept as it came.
    Unknown {
        /// The envelope's `type`.
        r#type: String,
        /// The raw payload (`null` when absent).
        payload: Value,
    },
}

impl KnowledgeMessage {
    /// The known type, `None` for [`KnowledgeMessage::Unknown`].
    pub fn knowledge_type(&self) -> Option<KnowledgeType> {
        Some(match self {
            KnowledgeMessage::Proposal(_) => KnowledgeType::Proposal,
            KnowledgeMessage::Vote(_) => KnowledgeType::Vote,
            KnowledgeMessage::Decision(_) => KnowledgeType::Decision,
            KnowledgeMessage::Fact(_) => KnowledgeType::Fact,
            KnowledgeMessage::Presence(_) => KnowledgeType::Presence,
            KnowledgeMessage::Capabilities(_) => KnowledgeType::Capabilities,
            KnowledgeMessage::Unknown { .. } => return None,
        })
    }

    /// The envelope `type` this message is written with.
    pub fn type_name(&self) -> &str {
        match self {
            KnowledgeMessage::Unknown { r#type, .. } => r#type,
            known => known.knowledge_type().map_or("", KnowledgeType::as_str),
        }
    }

    /// Decodes a payload of `kind` leniently (unknown fields ignored, missing or
    /// `null` fields zero); a wrong JSON type is an error naming the field.
    pub fn decode(kind: KnowledgeType, payload: Value) -> Result<Self> {
        Ok(match kind {
            KnowledgeType::Proposal => KnowledgeMessage::Proposal(typed(kind, payload)?),
            KnowledgeType::Vote => KnowledgeMessage::Vote(typed(kind, payload)?),
            KnowledgeType::Decision => KnowledgeMessage::Decision(typed(kind, payload)?),
            KnowledgeType::Fact => KnowledgeMessage::Fact(typed(kind, payload)?),
            KnowledgeType::Presence => KnowledgeMessage::Presence(typed(kind, payload)?),
            KnowledgeType::Capabilities => KnowledgeMessage::Capabilities(typed(kind, payload)?),
        })
    }

    /// Go's payload rules for proposal, vote, decision and fact (presence and
    /// capabilities are not checked).
    pub fn validate(&self) -> Result<()> {
        match self {
            KnowledgeMessage::Proposal(p) => {
                required("/payload/proposalId", &p.proposal_id)?;
                required("/payload/group", &p.group)?;
                required("/payload/statement", &p.statement)
            }
            KnowledgeMessage::Vote(p) => {
                required("/payload/proposalId", &p.proposal_id)?;
                match p.vote.trim().to_lowercase().as_str() {
                    "yes" | "no" => Ok(()),
                    _ => Err(rule(
                        "/payload/vote",
                        format!("must be yes or no, got {:?}", p.vote),
                    )),
                }
            }
            KnowledgeMessage::Decision(p) => {
                required("/payload/proposalId", &p.proposal_id)?;
                match p.outcome.trim().to_lowercase().as_str() {
                    "approved" | "rejected" | "expired" => {}
                    _ => {
                        return Err(rule(
                            "/payload/outcome",
                            format!("must be approved, rejected or expired, got {:?}", p.outcome),
                        ));
                    }
                }
                if p.yes < 0 {
                    return Err(rule("/payload/yes", format!("must be >= 0, got {}", p.yes)));
                }
                if p.no < 0 {
                    return Err(rule("/payload/no", format!("must be >= 0, got {}", p.no)));
                }
                Ok(())
            }
            KnowledgeMessage::Fact(p) => {
                required("/payload/factId", &p.fact_id)?;
                required("/payload/group", &p.group)?;
                required("/payload/subject", &p.subject)?;
                required("/payload/predicate", &p.predicate)?;
                required("/payload/object", &p.object)?;
                if p.version <= 0 {
                    return Err(rule(
                        "/payload/version",
                        format!("must be > 0, got {}", p.version),
                    ));
                }
                required("/payload/source", &p.source)
            }
            KnowledgeMessage::Presence(_) | KnowledgeMessage::Capabilities(_) => Ok(()),
            KnowledgeMessage::Unknown { r#type, .. } => Err(rule(
                "/type",
                format!(
                    "unknown knowledge type {type:?} (expected capabilities, presence, proposal, vote, decision or fact)",
                    r#type = r#type
                ),
            )),
        }
    }

    /// Go's idempotency-key convention: `knowledge:proposal:<id>`,
    /// `knowledge:vote:<id>:<claw>`, `knowledge:decision:<id>`,
    /// `knowledge:presence|capabilities:<claw>:<instance>:<unix seconds>`, and
    /// (ours, Go publishes no facts) `knowledge:fact:<id>:<version>`.
    pub fn idempotency_key(&self, claw_id: &str, instance_id: &str, at: Timestamp) -> String {
        let secs = at.to_utc().timestamp();
        match self {
            KnowledgeMessage::Proposal(p) => format!("knowledge:proposal:{}", p.proposal_id),
            KnowledgeMessage::Vote(p) => format!("knowledge:vote:{}:{claw_id}", p.proposal_id),
            KnowledgeMessage::Decision(p) => format!("knowledge:decision:{}", p.proposal_id),
            KnowledgeMessage::Fact(p) => format!("knowledge:fact:{}:{}", p.fact_id, p.version),
            KnowledgeMessage::Presence(_) => {
                format!("knowledge:presence:{claw_id}:{instance_id}:{secs}")
            }
            KnowledgeMessage::Capabilities(_) => {
                format!("knowledge:capabilities:{claw_id}:{instance_id}:{secs}")
            }
            KnowledgeMessage::Unknown { r#type, .. } => {
                format!(
                    "knowledge:{type}:{claw_id}:{instance_id}:{secs}",
                    r#type = r#type
                )
            }
        }
    }

    fn serialize_payload<S: Serializer>(&self, map: &mut S::SerializeMap) -> Result<(), S::Error> {
        match self {
            KnowledgeMessage::Proposal(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Vote(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Decision(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Fact(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Presence(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Capabilities(p) => map.serialize_entry("payload", p),
            KnowledgeMessage::Unknown { payload, .. } if payload.is_null() => Ok(()),
            KnowledgeMessage::Unknown { payload, .. } => map.serialize_entry("payload", payload),
        }
    }
}

fn rule(path: &str, reason: String) -> Error {
    Error::InvalidKnowledge {
        path: path.to_owned(),
        reason,
    }
}

fn required(path: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(rule(path, "is required (empty after trimming)".to_owned()))
    } else {
        Ok(())
    }
}

fn typed<T: serde::de::DeserializeOwned + Default>(
    kind: KnowledgeType,
    payload: Value,
) -> Result<T> {
    match payload {
        Value::Null => Ok(T::default()),
        Value::Object(mut map) => {
            strip_nulls(&mut map);
            let value = Value::Object(map);
            T::deserialize(&value).map_err(|err| {
                crate::validate::locate_knowledge_payload_error(kind, &value)
                    .unwrap_or_else(|| Error::field("/payload", err.to_string()))
            })
        }
        other => Err(Error::field(
            "/payload",
            format!("expected an object, got {}", describe(&other)),
        )),
    }
}

/// A message on a knowledge topic: `{schemaVersion, type, traceId, timestamp,
/// idempotencyKey, clawId, instanceId, payload}` (camelCase, unlike group envelopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeEnvelope {
    /// `v1`.
    pub schema_version: String,
    /// Trace id.
    pub trace_id: String,
    /// When it was written; Go rejects the zero time.
    pub timestamp: Timestamp,
    /// De-duplication key (see [`KnowledgeMessage::idempotency_key`]).
    pub idempotency_key: String,
    /// The claw (node) that wrote it.
    pub claw_id: String,
    /// The claw's instance.
    pub instance_id: String,
    /// `type` and `payload`.
    pub message: KnowledgeMessage,
}

impl KnowledgeEnvelope {
    /// A new envelope stamped now: schema `v1`, a fresh trace id and Go's
    /// idempotency-key convention.
    pub fn new(
        claw_id: impl Into<String>,
        instance_id: impl Into<String>,
        message: KnowledgeMessage,
    ) -> Self {
        Self::new_at(claw_id, instance_id, message, Timestamp::now())
    }

    /// Like [`KnowledgeEnvelope::new`] with an explicit time.
    pub fn new_at(
        claw_id: impl Into<String>,
        instance_id: impl Into<String>,
        message: KnowledgeMessage,
        at: Timestamp,
    ) -> Self {
        let claw_id = claw_id.into();
        let instance_id = instance_id.into();
        KnowledgeEnvelope {
            schema_version: KNOWLEDGE_SCHEMA_VERSION.to_owned(),
            trace_id: Uuid::now_v7().simple().to_string(),
            timestamp: at,
            idempotency_key: message.idempotency_key(&claw_id, &instance_id, at),
            claw_id,
            instance_id,
            message,
        }
    }

    /// The envelope `type`.
    pub fn type_name(&self) -> &str {
        self.message.type_name()
    }

    /// Go's envelope rules: the required strings are non-empty after trimming, the
    /// type is one of the six, and the timestamp is not zero.
    pub fn validate_base(&self) -> Result<()> {
        required("/schemaVersion", &self.schema_version)?;
        if self.message.knowledge_type().is_none() {
            return Err(rule(
                "/type",
                format!(
                    "unknown knowledge type {:?} (expected capabilities, presence, proposal, vote, decision or fact)",
                    self.type_name()
                ),
            ));
        }
        required("/traceId", &self.trace_id)?;
        if self.timestamp.is_zero() {
            return Err(rule("/timestamp", "must not be the zero time".to_owned()));
        }
        required("/idempotencyKey", &self.idempotency_key)?;
        required("/clawId", &self.claw_id)?;
        required("/instanceId", &self.instance_id)
    }

    /// [`KnowledgeEnvelope::validate_base`] plus the payload rules
    /// ([`KnowledgeMessage::validate`]): what a Go agent checks before applying.
    pub fn validate(&self) -> Result<()> {
        self.validate_base()?;
        self.message.validate()
    }

    /// The JSON bytes of this envelope.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Encode {
            what: "knowledge envelope",
            reason: e.to_string(),
        })
    }

    /// Decodes a knowledge envelope leniently (no rule checks; call
    /// [`KnowledgeEnvelope::validate`] for those).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::not_json(&e))?;
        Self::from_value(value)
    }

    /// Like [`KnowledgeEnvelope::from_json`] from a parsed value.
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => decode_knowledge(map),
            other => Err(Error::field(
                "",
                format!("expected a JSON object, got {}", describe(&other)),
            )),
        }
    }
}

impl Serialize for KnowledgeEnvelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schemaVersion", &self.schema_version)?;
        map.serialize_entry("type", self.type_name())?;
        map.serialize_entry("traceId", &self.trace_id)?;
        map.serialize_entry("timestamp", &self.timestamp)?;
        map.serialize_entry("idempotencyKey", &self.idempotency_key)?;
        map.serialize_entry("clawId", &self.claw_id)?;
        map.serialize_entry("instanceId", &self.instance_id)?;
        self.message.serialize_payload::<S>(&mut map)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for KnowledgeEnvelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        KnowledgeEnvelope::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Without a topic: is this object a knowledge envelope? Yes when its `type` is a
/// knowledge type, or when the type is not a group type and it has camelCase
/// knowledge header fields.
pub(crate) fn looks_like_knowledge(map: &Map<String, Value>) -> bool {
    match map.get("type").and_then(Value::as_str) {
        Some(t) if KnowledgeType::parse(t).is_some() => true,
        Some(t) if crate::MessageType::parse(t).is_some() => false,
        _ => map.contains_key("schemaVersion") || map.contains_key("clawId"),
    }
}

pub(crate) fn decode_knowledge(mut map: Map<String, Value>) -> Result<KnowledgeEnvelope> {
    let schema_version = take_string(&mut map, "schemaVersion")?.unwrap_or_default();
    let declared = take_string(&mut map, "type")?.unwrap_or_default();
    let trace_id = take_string(&mut map, "traceId")?.unwrap_or_default();
    let timestamp = take_timestamp(&mut map, "timestamp")?;
    let idempotency_key = take_string(&mut map, "idempotencyKey")?.unwrap_or_default();
    let claw_id = take_string(&mut map, "clawId")?.unwrap_or_default();
    let instance_id = take_string(&mut map, "instanceId")?.unwrap_or_default();
    let payload = map.remove("payload").unwrap_or(Value::Null);
    let message = match KnowledgeType::parse(&declared) {
        Some(kind) => KnowledgeMessage::decode(kind, payload)?,
        None => KnowledgeMessage::Unknown {
            r#type: declared,
            payload,
        },
    };
    Ok(KnowledgeEnvelope {
        schema_version,
        trace_id,
        timestamp,
        idempotency_key,
        claw_id,
        instance_id,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(message: KnowledgeMessage) -> KnowledgeEnvelope {
        KnowledgeEnvelope::new_at(
            "claw-a",
            "default",
            message,
            Timestamp::parse("2026-11-21T10:00:00Z").unwrap(),
        )
    }

    fn path_of(result: Result<()>) -> String {
        match result {
            Err(Error::InvalidKnowledge { path, .. }) => path,
            other => panic!("expected a knowledge error, got {other:?}"),
        }
    }

    #[test]
    fn go_payload_rules() {
        let ok = envelope(KnowledgeMessage::Proposal(ProposalPayload {
            proposal_id: "kp-1".into(),
            group: "g".into(),
            statement: "s".into(),
            ..Default::default()
        }));
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.idempotency_key, "knowledge:proposal:kp-1");

        let empty = envelope(KnowledgeMessage::Proposal(ProposalPayload {
            proposal_id: "  ".into(),
            ..Default::default()
        }));
        assert_eq!(path_of(empty.validate()), "/payload/proposalId");

        let maybe = envelope(KnowledgeMessage::Vote(VotePayload {
            proposal_id: "kp-1".into(),
            vote: "maybe".into(),
            reason: String::new(),
        }));
        assert_eq!(path_of(maybe.validate()), "/payload/vote");
        let yes = envelope(KnowledgeMessage::Vote(VotePayload {
            proposal_id: "kp-1".into(),
            vote: " YES ".into(),
            reason: String::new(),
        }));
        assert_eq!(yes.validate(), Ok(()));
        assert_eq!(yes.idempotency_key, "knowledge:vote:kp-1:claw-a");

        let won = envelope(KnowledgeMessage::Decision(DecisionPayload {
            proposal_id: "kp-1".into(),
            outcome: "won".into(),
            ..Default::default()
        }));
        assert_eq!(path_of(won.validate()), "/payload/outcome");
        let negative = envelope(KnowledgeMessage::Decision(DecisionPayload {
            proposal_id: "kp-1".into(),
            outcome: "Approved".into(),
            yes: -1,
            ..Default::default()
        }));
        assert_eq!(path_of(negative.validate()), "/payload/yes");

        let fact = FactPayload {
            fact_id: "f".into(),
            group: "g".into(),
            subject: "s".into(),
            predicate: "p".into(),
            object: "o".into(),
            version: 0,
            source: "src".into(),
            ..Default::default()
        };
        let v0 = envelope(KnowledgeMessage::Fact(fact.clone()));
        assert_eq!(path_of(v0.validate()), "/payload/version");
        let v1 = envelope(KnowledgeMessage::Fact(FactPayload { version: 1, ..fact }));
        assert_eq!(v1.validate(), Ok(()));
    }

    #[test]
    fn go_base_rules() {
        let mut env = envelope(KnowledgeMessage::Presence(PresencePayload::default()));
        assert_eq!(env.validate(), Ok(()));
        env.claw_id = " ".into();
        assert_eq!(path_of(env.validate()), "/clawId");
        env.claw_id = "c".into();
        env.timestamp = Timestamp::zero();
        assert_eq!(path_of(env.validate()), "/timestamp");
        env.timestamp = Timestamp::now();
        env.message = KnowledgeMessage::Unknown {
            r#type: "invalid".into(),
            payload: Value::Null,
        };
        assert_eq!(path_of(env.validate()), "/type");
    }
}
