//! The crate's error type: every variant says which broker, topic or setting was involved.

/// Errors of the transport layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to the KafScale LFS proxy failed (after its retries, for downloads).
    #[error("LFS proxy {url}: {operation} failed: {reason}")]
    Lfs {
        /// The URL called.
        url: String,
        /// `produce` or `download`.
        operation: &'static str,
        /// What went wrong (HTTP status and body, or the transport error).
        reason: String,
    },
    /// A setting is invalid (unknown security protocol or SASL mechanism, missing file, ...).
    #[error("invalid Kafka setting {key}: {reason}")]
    Config {
        /// The configuration key, e.g. `group.kafkaSaslMechanism`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The brokers could not be reached (refused, timed out, DNS, wrong port).
    #[error("cannot connect to Kafka at {brokers}: {reason}")]
    Connect {
        /// The bootstrap address list.
        brokers: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The broker rejected our credentials.
    #[error(
        "SASL authentication with mechanism {mechanism} as user {user:?} failed at {brokers}: {reason}"
    )]
    Authentication {
        /// The bootstrap address list.
        brokers: String,
        /// The SASL mechanism used.
        mechanism: String,
        /// The user name presented.
        user: String,
        /// The broker's answer.
        reason: String,
    },
    /// The broker does not offer the SASL mechanism we asked for.
    #[error("the broker at {brokers} does not accept SASL mechanism {mechanism}: {reason}")]
    UnsupportedMechanism {
        /// The bootstrap address list.
        brokers: String,
        /// The mechanism we asked for.
        mechanism: String,
        /// The broker's answer.
        reason: String,
    },
    /// TLS could not be set up (bad CA file, certificate, key) or the handshake failed.
    #[error("TLS error ({context}): {reason}")]
    Tls {
        /// Which file or step.
        context: String,
        /// What went wrong.
        reason: String,
    },
    /// The requested offset no longer (or not yet) exists in the partition.
    #[error("offset {offset} is out of range for {topic}/{partition}")]
    OffsetOutOfRange {
        /// Topic name.
        topic: String,
        /// Partition id.
        partition: i32,
        /// The offset we asked for.
        offset: i64,
    },
    /// The topic does not exist (or has not propagated yet).
    #[error("topic {topic} does not exist")]
    UnknownTopic {
        /// Topic name.
        topic: String,
    },
    /// A Kafka operation failed.
    #[error("Kafka {operation} on {topic} failed: {reason}")]
    Kafka {
        /// produce, fetch, create topic, list offsets, metadata.
        operation: &'static str,
        /// Topic name (or `*` for cluster-wide operations).
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// The transport or consumer was shut down.
    #[error("the Kafka transport is shut down")]
    Closed,
    /// The offset store failed.
    #[error(transparent)]
    Store(#[from] crate::offsets::StoreError),
    /// The group name cannot form topic names.
    #[error("invalid group name {name:?}: {reason}")]
    InvalidGroupName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// An argument of the group API is invalid (empty agent id, zero interval, ...).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which argument.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// An envelope could not be encoded.
    #[error("cannot encode a {what} envelope: {reason}")]
    Encode {
        /// Which message.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// `join` on an agent that is already a member.
    #[error("agent {agent_id} has already joined group {group}")]
    AlreadyJoined {
        /// Group name.
        group: String,
        /// Agent id.
        agent_id: String,
    },
    /// `leave` on an agent that is not a member.
    #[error("agent {agent_id} is not a member of group {group}")]
    NotJoined {
        /// Group name.
        group: String,
        /// Agent id.
        agent_id: String,
    },
    /// A sponsor refused the newcomer.
    #[error("onboarding to group {group} was rejected by {sponsor}: {reason}")]
    OnboardingRejected {
        /// Group name.
        group: String,
        /// The sponsor that refused.
        sponsor: String,
        /// Its reason.
        reason: String,
    },
    /// No sponsor answered (or admitted us) in time.
    #[error("onboarding to group {group} timed out after {waited:?}: {reason}")]
    OnboardingTimeout {
        /// Group name.
        group: String,
        /// How long we waited.
        waited: std::time::Duration,
        /// What was missing.
        reason: String,
    },
    /// No response to a submitted task in time.
    #[error("no response to task {task_id} within {waited:?}")]
    TaskTimeout {
        /// The task id.
        task_id: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// A delegation would exceed the maximum depth; it was not sent.
    #[error("delegating task {parent_task_id} at depth {depth} exceeds the maximum of {max}")]
    DelegationTooDeep {
        /// The task being delegated from.
        parent_task_id: String,
        /// The depth the child would have.
        depth: u32,
        /// The configured maximum.
        max: u32,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when retrying the same operation later may succeed (network, broker restart).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Kafka { .. } | Error::UnknownTopic { .. }
        )
    }
}
