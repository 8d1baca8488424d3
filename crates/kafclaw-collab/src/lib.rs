//! kafclaw-collab: connects the agent runtime to its Kafka group.
//!
//! A [`Collab`] hub sits between a `kafclaw_agent::Agent` and a
//! `kafclaw_group::GroupAgent`. Its task handler turns a group task (addressed to this
//! agent, claimed by it, or for a skill it provides) into an agent task with the
//! group-peer trust class, the requester's trace continued and the task's deadline
//! kept, and answers with the outcome; a skill configured as a command
//! ([`CommandSkills`]) runs that program instead, in the exec sandbox, without a model.
//! It gives the model three tools: `group_members`, `delegate_task` (the response is
//! the tool result) and `share_memory`. The spans of each group task it works are
//! published on the group's traces topic, so the requester sees them in its trace.
//! The orchestrator's zone tasks run the same way ([`Collab::run_zone_task`]).
//!
//! It is NOT the Kafka protocol (kafclaw-group), the agent loop (kafclaw-agent) or an
//! HTTP API (kafclaw-gateway); it owns no storage besides what those already write.
//! See docs/collab.md.

mod command;
mod error;
mod handler;
mod hub;
mod peer;
mod tools;
mod trace;

pub use command::CommandSkills;
pub use error::{Error, Result};
pub use handler::GROUP_CHANNEL;
pub use hub::{Collab, Group};
pub use peer::{ZONE_CHANNEL, ZoneOutcome, ZoneWork};
