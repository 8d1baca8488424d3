//! Agent identity and the announce payload (join, leave, heartbeat).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// `action` of an announce payload.
    AnnounceAction {
        /// The agent joins the group.
        Join = "join",
        /// The agent leaves the group.
        Leave = "leave",
        /// Periodic liveness announcement (sent as envelope type `announce`).
        Heartbeat = "heartbeat",
    }
}

/// Who an agent is, as carried by announce and onboarding payloads.
///
/// The Go fields come first; `skills` and `public_key` are our additive
/// extensions and are left out of the JSON when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AgentIdentity {
    /// Stable agent id (`kafclaw-<hostname>` by default in Go).
    pub agent_id: String,
    /// Display name.
    pub agent_name: String,
    /// First paragraph of the agent's SOUL.md.
    pub soul_summary: String,
    /// Tool names the agent offers. Go may write `null`.
    #[schemars(with = "Option<Vec<String>>")]
    pub capabilities: Vec<String>,
    /// Channels the agent is reachable on (`cli`, `telegram`, ...). Go may write `null`.
    #[schemars(with = "Option<Vec<String>>")]
    pub channels: Vec<String>,
    /// LLM model name.
    pub model: String,
    /// When this identity was built (RFC 3339 text; not parsed by Go receivers).
    pub joined_at: String,
    /// Always `active` as sent by Go.
    pub status: String,
    /// Parent agent in the orchestrator hierarchy (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_id: String,
    /// Orchestrator zone (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub zone_id: String,
    /// Reachable endpoint, if any (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// `orchestrator`, `worker`, `observer` (Go also writes `coordinator`); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// Extension: skills this agent provides (validated skill names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub skills: Vec<String>,
    /// Extension: the agent's Ed25519 public key, standard base64, for signed envelopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::patterns::BASE64))]
    pub public_key: Option<String>,
}

impl AgentIdentity {
    /// An identity with the given id and name, status `active`, everything else empty.
    pub fn new(agent_id: impl Into<String>, agent_name: impl Into<String>) -> Self {
        AgentIdentity {
            agent_id: agent_id.into(),
            agent_name: agent_name.into(),
            status: "active".to_owned(),
            ..Self::default()
        }
    }
}

/// Payload of envelope type `announce` on `group.{g}.announce`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AnnouncePayload {
    /// `join`, `leave` or `heartbeat` ([`AnnounceAction`]).
    #[schemars(extend("enum" = AnnounceAction::NAMES))]
    pub action: String,
    /// The announcing agent. Receivers key the roster by `identity.agent_id`.
    pub identity: AgentIdentity,
}

impl AnnouncePayload {
    /// An announce payload for `action`.
    pub fn new(action: AnnounceAction, identity: AgentIdentity) -> Self {
        AnnouncePayload {
            action: action.as_str().to_owned(),
            identity,
        }
    }

    /// The action, when it is one of the known ones.
    pub fn action(&self) -> Option<AnnounceAction> {
        AnnounceAction::parse(&self.action)
    }
}
