//! kafclaw-orchestrator: the layer above a KafClaw group that arranges agents in a
//! hierarchy (parent and children; roles orchestrator, worker and observer from
//! configuration), groups them in zones (public, shared, private) that are enforced
//! on the wire, keeps both up to date through discovery on the group's
//! `group.{g}.orchestrator` topic, and dispatches tasks to the members of one zone on
//! that zone's own topics (`group.{g}.zone.{z}.requests|responses`).
//!
//! It is not the group protocol (membership, onboarding, open tasks, skills: that is
//! kafclaw-group, whose transport and broadcast consumer it uses), it does not run
//! models (a zone task goes to whatever handler the program gives it), and it serves
//! no HTTP: [`Orchestrator`]'s view methods return serialisable structs that the
//! gateway wraps. See docs/orchestrator.md.

mod error;
mod hierarchy;
mod orchestrator;
mod settings;
mod views;
mod zones;

pub use error::{Error, Result};
pub use hierarchy::Hierarchy;
pub use orchestrator::{Orchestrator, OrchestratorBuilder, ZoneAnswer, ZoneTask};
pub use settings::OrchestratorSettings;
pub use views::{
    DispatchAnswer, GraphSnapshot, HierarchyView, NodeView, OrchestratorStats, StatusView, ZoneView,
};
pub use zones::{PUBLIC_ZONE, Zones, check_zone_id};
