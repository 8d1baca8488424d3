//! Read-only views of the orchestrator's state, serialisable for the HTTP API and the CLI.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// `GET /api/v1/orchestrator/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusView {
    /// Always true for a running orchestrator.
    pub enabled: bool,
    /// False for a read-only (passive) orchestrator, such as the CLI's.
    pub active: bool,
    /// Our role (from configuration).
    pub role: String,
    /// Our agent id.
    pub agent_id: String,
    /// The group.
    pub group: String,
    /// Our home zone (empty for none).
    pub zone_id: String,
    /// Our parent (empty for none).
    pub parent_id: String,
    /// Our endpoint.
    pub endpoint: String,
    /// Known agents, ourselves included.
    pub agent_count: usize,
    /// Known zones, `public` included.
    pub zone_count: usize,
    /// Zones we are a member of.
    pub my_zones: Vec<String>,
    /// Seconds between discoveries.
    pub discovery_interval_secs: u64,
    /// Counters.
    pub stats: OrchestratorStats,
}

/// One agent of the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// Agent id.
    pub agent_id: String,
    /// Display name.
    pub agent_name: String,
    /// Role as accepted by us (see docs/orchestrator.md for the rule).
    pub role: String,
    /// Parent id (empty at a root).
    pub parent_id: String,
    /// Home zone it announced.
    pub zone_id: String,
    /// Endpoint.
    pub endpoint: String,
    /// `active` or `stale` (silent for three discovery intervals).
    pub status: String,
    /// When we last heard from it (record time); `None` for ourselves.
    pub last_seen: Option<DateTime<Utc>>,
    /// True when the entry comes from the agent's own discovery (or is us); false
    /// when another agent reported it.
    pub first_hand: bool,
    /// Direct children.
    pub children: Vec<String>,
}

/// `GET /api/v1/orchestrator/hierarchy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HierarchyView {
    /// Agents without a known parent.
    pub roots: Vec<String>,
    /// Every known agent, by id.
    pub nodes: Vec<NodeView>,
}

/// One zone (`GET /api/v1/orchestrator/zones` returns a list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneView {
    /// Zone id.
    pub zone_id: String,
    /// Display name.
    pub name: String,
    /// `public`, `shared` or `private`.
    pub visibility: String,
    /// Owner (empty for `public`).
    pub owner_id: String,
    /// Parent zone.
    pub parent_zone: String,
    /// Members the owner lists.
    pub allowed_ids: Vec<String>,
    /// Members: every known agent for a public zone, owner plus listed ones otherwise.
    pub members: Vec<String>,
    /// Whether we are a member.
    pub is_member: bool,
    /// The zone's task topics (requests, responses).
    pub topics: Vec<String>,
    /// Creation time as the owner stated it.
    pub created_at: String,
}

/// The hierarchy and zones together, as published on the watch channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphSnapshot {
    /// Increases with every change.
    pub version: u64,
    /// The hierarchy.
    pub hierarchy: HierarchyView,
    /// The zones.
    pub zones: Vec<ZoneView>,
}

/// The answer to a zone dispatch (`POST /api/v1/orchestrator/dispatch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchAnswer {
    /// The task id.
    pub task_id: String,
    /// The zone.
    pub zone_id: String,
    /// The member that answered.
    pub responder_id: String,
    /// `completed`, `failed` or `rejected`.
    pub status: String,
    /// The answer.
    pub content: String,
}

/// Counters of what the orchestrator did and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrchestratorStats {
    /// Discoveries we published.
    pub discoveries_sent: u64,
    /// Discoveries from other agents we read.
    pub discoveries_received: u64,
    /// Discoveries or hierarchy entries from others that named our own id (ignored).
    pub own_node_claims: u64,
    /// Discoveries whose node was not their sender (ignored).
    pub forged_nodes: u64,
    /// `orchestrator` (or unknown) role claims by agents not trusted with it
    /// (recorded as workers).
    pub role_claims_refused: u64,
    /// Parents refused because they would have closed a cycle.
    pub cycles_refused: u64,
    /// Zone definitions refused (not sent by their owner, invalid, or conflicting).
    pub zones_refused: u64,
    /// Zone task records dropped: wrong zone, or a sender or receiver not allowed in it.
    pub zone_drops: u64,
    /// Zone tasks we ran.
    pub tasks_handled: u64,
    /// Responses ignored (not from the member the task went to).
    pub responses_ignored: u64,
}
