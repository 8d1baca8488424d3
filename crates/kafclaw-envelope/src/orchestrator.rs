//! Orchestrator discovery: agent nodes, zones, and the declared-but-unsent hierarchy and zone updates.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

wire_enum! {
    /// `action` of a discovery payload (Go only ever sends `discover`).
    DiscoveryAction {
        /// Announce this node, its zones and its view of the hierarchy.
        Discover = "discover",
        /// Declared in Go, never sent.
        HierarchyUpdate = "hierarchy_update",
        /// Declared in Go, never sent.
        ZoneUpdate = "zone_update",
    }
}

wire_enum! {
    /// `visibility` of a zone.
    ZoneVisibility {
        /// Owner and members, plus the listed `allowed_ids`.
        Private = "private",
        /// Owner and members.
        Shared = "shared",
        /// Everyone.
        Public = "public",
    }
}

wire_enum! {
    /// `action` of a [`HierarchyPayload`].
    HierarchyAction {
        /// Set the agent's parent.
        SetParent = "set_parent",
        /// Remove a child from its parent.
        RemoveChild = "remove_child",
    }
}

wire_enum! {
    /// `action` of a [`ZoneUpdatePayload`].
    ZoneAction {
        /// Create the zone.
        Create = "create",
        /// Delete the zone.
        Delete = "delete",
        /// Ask to join the zone.
        JoinRequest = "join_request",
        /// Approve a join request.
        JoinApprove = "join_approve",
        /// Deny a join request.
        JoinDeny = "join_deny",
    }
}

/// A node of the orchestrator hierarchy. Go writes every field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct AgentNode {
    /// Agent id.
    pub agent_id: String,
    /// Display name (Go never sets it for its own node).
    pub agent_name: String,
    /// `orchestrator`, `worker` or `observer` (not validated by Go).
    pub role: String,
    /// Parent agent id, empty at the root.
    pub parent_id: String,
    /// Zone id.
    pub zone_id: String,
    /// Reachable endpoint.
    pub endpoint: String,
    /// `active`, `stale` or `inactive`.
    pub status: String,
}

/// A zone: who may see which agents and tasks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Zone {
    /// Zone id (`public` is built in).
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// [`ZoneVisibility`].
    #[schemars(extend("enum" = ZoneVisibility::NAMES))]
    pub visibility: String,
    /// Owning agent id.
    pub owner_id: String,
    /// Parent zone id.
    pub parent_zone: String,
    /// Extra agents allowed into a private zone (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub allowed_ids: Vec<String>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Payload of envelope type `orchestrator` on `group.{g}.orchestrator`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DiscoveryPayload {
    /// [`DiscoveryAction`]; Go sends `discover`.
    #[schemars(extend("enum" = DiscoveryAction::NAMES))]
    pub action: String,
    /// The sending node.
    pub node: AgentNode,
    /// Zones known to the sender (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<Zone>>")]
    pub zones: Vec<Zone>,
    /// The sender's view of the hierarchy (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Option<Vec<AgentNode>>")]
    pub hierarchy: Vec<AgentNode>,
}

impl DiscoveryPayload {
    /// A `discover` payload for `node`.
    pub fn discover(node: AgentNode) -> Self {
        DiscoveryPayload {
            action: DiscoveryAction::Discover.as_str().to_owned(),
            node,
            zones: Vec::new(),
            hierarchy: Vec::new(),
        }
    }
}

/// Declared by the Go orchestrator for hierarchy changes but never sent or read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HierarchyPayload {
    /// [`HierarchyAction`].
    #[schemars(extend("enum" = HierarchyAction::NAMES))]
    pub action: String,
    /// The agent being moved.
    pub agent_id: String,
    /// Its (new) parent.
    pub parent_id: String,
}

/// Declared by the Go orchestrator for zone changes but never sent or read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ZoneUpdatePayload {
    /// [`ZoneAction`].
    #[schemars(extend("enum" = ZoneAction::NAMES))]
    pub action: String,
    /// The zone concerned.
    pub zone: Zone,
    /// The agent concerned (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
}
