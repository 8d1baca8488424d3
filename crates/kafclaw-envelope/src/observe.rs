//! Trace spans and audit events (the `observe` topics).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Payload of envelope type `trace` on `group.{g}.traces`. Go writes every field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TracePayload {
    /// Trace id; also the envelope's correlation id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// Parent span id, empty for a root span.
    pub parent_span_id: String,
    /// `TASK`, `LLM` or `TOOL` as the agent loop uses them.
    pub span_type: String,
    /// Span title.
    pub title: String,
    /// Span content (Go puts the whole response text in TASK spans).
    pub content: String,
    /// Start as RFC 3339 text, or empty.
    pub started_at: String,
    /// End as RFC 3339 text, or empty.
    pub ended_at: String,
    /// Duration in milliseconds.
    pub duration_ms: i64,
}

/// Payload of envelope type `audit` on `group.{g}.observe.audit`: a free-form JSON object.
///
/// Two shapes occur: `{event_type, detail}` (policy decisions and other agent-loop
/// events) and `{event_type: "skill_registered", agent_id, skill_name, requests_topic}`.
/// Every other key is kept as it came.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditPayload(pub Map<String, Value>);

/// A typed view of an [`AuditPayload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditEvent<'a> {
    /// `{event_type: "skill_registered", agent_id, skill_name, requests_topic}`.
    SkillRegistered {
        /// The registering agent.
        agent_id: &'a str,
        /// The registered skill.
        skill_name: &'a str,
        /// The skill's requests topic.
        requests_topic: &'a str,
    },
    /// `{event_type, detail}`, e.g. `policy_decision`.
    Event {
        /// The event type.
        event_type: &'a str,
        /// Free-text detail.
        detail: &'a str,
    },
    /// Anything else.
    Other,
}

impl AuditPayload {
    /// `event_type` of a skill registration audit.
    pub const SKILL_REGISTERED: &'static str = "skill_registered";
    /// `event_type` the agent loop uses for tool policy decisions.
    pub const POLICY_DECISION: &'static str = "policy_decision";

    /// The `{event_type, detail}` shape.
    pub fn event(event_type: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert("event_type".into(), Value::String(event_type.into()));
        map.insert("detail".into(), Value::String(detail.into()));
        AuditPayload(map)
    }

    /// The skill registration shape.
    pub fn skill_registered(
        agent_id: impl Into<String>,
        skill_name: impl Into<String>,
        requests_topic: impl Into<String>,
    ) -> Self {
        let mut map = Map::new();
        map.insert(
            "event_type".into(),
            Value::String(Self::SKILL_REGISTERED.into()),
        );
        map.insert("agent_id".into(), Value::String(agent_id.into()));
        map.insert("skill_name".into(), Value::String(skill_name.into()));
        map.insert(
            "requests_topic".into(),
            Value::String(requests_topic.into()),
        );
        AuditPayload(map)
    }

    /// A string field, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// `event_type`, if present.
    pub fn event_type(&self) -> Option<&str> {
        self.get_str("event_type")
    }

    /// Which of the known shapes this is.
    pub fn kind(&self) -> AuditEvent<'_> {
        match self.event_type() {
            Some(Self::SKILL_REGISTERED) => AuditEvent::SkillRegistered {
                agent_id: self.get_str("agent_id").unwrap_or_default(),
                skill_name: self.get_str("skill_name").unwrap_or_default(),
                requests_topic: self.get_str("requests_topic").unwrap_or_default(),
            },
            Some(event_type) => match self.get_str("detail") {
                Some(detail) => AuditEvent::Event { event_type, detail },
                None => AuditEvent::Other,
            },
            None => AuditEvent::Other,
        }
    }
}

impl JsonSchema for AuditPayload {
    fn schema_name() -> Cow<'static, str> {
        "AuditPayload".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Free-form audit event. Known shapes: {event_type, detail} and {event_type: \"skill_registered\", agent_id, skill_name, requests_topic}. Other keys are allowed.",
            "type": "object",
            "properties": {
                "event_type": { "type": "string" },
                "detail": { "type": "string" },
                "agent_id": { "type": "string" },
                "skill_name": { "type": "string" },
                "requests_topic": { "type": "string" }
            },
            "required": ["event_type"]
        })
    }
}
