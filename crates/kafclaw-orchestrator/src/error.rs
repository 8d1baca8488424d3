//! The crate's error type.

/// Everything the orchestrator can fail at, with the agent, zone or topic concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parent would close a loop in the hierarchy.
    #[error("making {parent:?} the parent of {agent:?} would create a cycle in the hierarchy")]
    Cycle {
        /// The agent being placed.
        agent: String,
        /// The refused parent.
        parent: String,
    },
    /// A zone id, role or other setting is not acceptable.
    #[error("{key}: {reason}")]
    Config {
        /// The setting (e.g. `orchestrator.zones.red.visibility`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// No agent with this id is in the hierarchy.
    #[error("unknown agent {agent:?}")]
    UnknownAgent {
        /// The agent id.
        agent: String,
    },
    /// No zone with this id is known.
    #[error("unknown zone {zone:?}")]
    UnknownZone {
        /// The zone id.
        zone: String,
    },
    /// A zone with this id already exists.
    #[error("zone {zone:?} already exists (owner {owner:?})")]
    ZoneExists {
        /// The zone id.
        zone: String,
        /// Its owner.
        owner: String,
    },
    /// Only the owner of a zone may change it.
    #[error("zone {zone:?} is owned by {owner:?}; only its owner may change it")]
    NotOwner {
        /// The zone id.
        zone: String,
        /// Its owner.
        owner: String,
    },
    /// This agent is not allowed in the zone.
    #[error("agent {agent:?} is not allowed in zone {zone:?}")]
    NotAllowed {
        /// The zone id.
        zone: String,
        /// The agent.
        agent: String,
    },
    /// The zone has no live member (other than this agent) to send a task to.
    #[error("zone {zone:?} has no live member to dispatch to")]
    NoMember {
        /// The zone id.
        zone: String,
    },
    /// No answer arrived in time.
    #[error("task {task_id} in zone {zone:?} got no answer within {secs} s")]
    Timeout {
        /// The task id.
        task_id: String,
        /// The zone id.
        zone: String,
        /// The timeout.
        secs: u64,
    },
    /// The orchestrator was passive (read-only) or has stopped.
    #[error("the orchestrator cannot {what}: {reason}")]
    Unavailable {
        /// What was attempted.
        what: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// An envelope could not be encoded or a name is invalid.
    #[error("envelope: {0}")]
    Envelope(#[from] kafclaw_envelope::Error),
    /// Kafka (through kafclaw-group's transport) failed.
    #[error("kafka: {0}")]
    Group(#[from] kafclaw_group::Error),
    /// The timeline failed.
    #[error("timeline: {0}")]
    Timeline(#[from] kafclaw_timeline::Error),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
