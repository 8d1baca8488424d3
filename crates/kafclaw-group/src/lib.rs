//! kafclaw-group: KafClaw's group collaboration over Apache Kafka.
//!
//! Today this crate holds the transport layer: a [`Transport`] trait with an
//! rskafka implementation ([`KafkaTransport`]) that connects with PLAINTEXT, SASL
//! (PLAIN, SCRAM-SHA-256/512) and TLS (including mutual TLS), creates topics,
//! produces keyed records with batching under load, and a [`BroadcastConsumer`]
//! in which one agent reads every partition of a dynamic set of topics and
//! commits each record's effect together with its offset through an
//! [`OffsetStore`].
//!
//! It is not a general Kafka client: there are no Kafka consumer groups (every
//! agent reads everything; work is claimed at the protocol level), no
//! transactions and no topic configs. It does not persist anything itself; the
//! durable [`OffsetStore`] lives in kafclaw-timeline.

mod agent;
mod consumer;
mod decoding;
mod error;
mod offsets;
mod onboarding;
mod protocol;
mod roster;
mod settings;
mod store;
mod tasks;
mod transport;

pub use agent::{GroupAgent, GroupAgentBuilder, GroupStats};

pub use consumer::{
    BroadcastConsumer, ConsumerOptions, ConsumerStats, HandlerError, PartitionLag, RecordHandler,
    StartAt, Subscription,
};
pub use decoding::{Decoding, EnvelopeHandler};
pub use error::{Error, Result};
pub use offsets::{
    MemoryOffsetStore, MemoryTxn, OffsetStore, RecordPosition, RecordTxn, StoreError,
};
pub use onboarding::{Onboarding, challenge_answer};
pub use protocol::ProtocolStats;
pub use roster::Member;
pub use settings::{KafkaSettings, SaslMechanism, SecurityProtocol, TlsFiles};
pub use store::{AuditRecord, DelegationRecord, GroupStore, GroupTxn, MemberRecord, SpanRecord};
pub use tasks::{IncomingTask, PendingTask, TaskHandler, TaskProgress, TaskResult, TaskSpec};
pub use transport::{
    FetchBatch, HEADER_MESSAGE_ID, InRecord, KafkaTransport, OffsetQuery, OutRecord,
    PartitionReader, Produced, Transport, partition_for_key, tls_client_config,
};
