//! kafclaw-group: KafClaw's group collaboration over Apache Kafka.
//!
//! [`GroupAgent`] is one agent of a group: it joins and heartbeats, keeps a roster
//! that expires silent members, onboards newcomers (open, or gated by a challenge
//! answered with the group secret), submits tasks and awaits their responses, runs
//! the tasks it is given or wins by claim, enforces delegation depth and deadlines as
//! a receiver, and publishes and stores trace spans and audit events. It registers
//! skills (per-skill topics, a topic manifest merged entry by entry, one provider
//! claims each skill task) and shares memory items, inline or through the KafScale
//! LFS proxy ([`LfsClient`]), handing received content to a hook. The protocol is
//! a compatible superset of the Go KafClaw wire format (docs/group-protocol.md).
//!
//! Underneath is the transport: a [`Transport`] trait with an rskafka implementation
//! ([`KafkaTransport`]) that connects with PLAINTEXT, SASL (PLAIN, SCRAM-SHA-256/512)
//! and TLS (including mutual TLS), creates topics and produces keyed records, and a
//! [`BroadcastConsumer`] in which one agent reads every partition of its topics and
//! commits each record's effect together with its offset through an [`OffsetStore`].
//!
//! It is not a general Kafka client: there are no Kafka consumer groups (every agent
//! reads everything; work is claimed at the protocol level), no transactions and no
//! topic configs. It does not persist anything itself: the group's durable state
//! ([`GroupStore`], [`OffsetStore`]) lives in kafclaw-timeline; [`MemoryOffsetStore`]
//! keeps nothing, for short-lived readers. It does not run models or tools: a task's
//! work is whatever [`TaskHandler`] the embedding program gives it.
//!
//! ```no_run
//! use kafclaw_group::{GroupAgent, IncomingTask, KafkaSettings, TaskSpec};
//!
//! # async fn demo() -> kafclaw_group::Result<()> {
//! let agent = GroupAgent::builder(KafkaSettings::plaintext("127.0.0.1:9092"), "research", "agent-a")
//!     .role("worker")
//!     .task_handler(|task: IncomingTask| async move { Ok(format!("echo: {}", task.content())) })
//!     .build()
//!     .await?;
//! agent.join().await?;
//! let answer = agent.submit(TaskSpec::to("agent-b", "summarise the report")).await?;
//! println!("{} says {}", answer.responder_id, answer.content);
//! agent.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod agent;
mod consumer;
mod decoding;
mod error;
mod lfs;
mod memory;
mod offsets;
mod onboarding;
mod protocol;
mod roster;
mod settings;
mod skills;
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
pub use lfs::LfsClient;
pub use memory::{
    MemoryErrorHook, MemoryFailure, MemoryHook, MemoryOptions, MemoryShare, Provenance,
    SharedMemory,
};
pub use offsets::{
    MemoryOffsetStore, MemoryTxn, OffsetStore, RecordPosition, RecordTxn, StoreError,
};
pub use onboarding::{Onboarding, challenge_answer};
pub use protocol::ProtocolStats;
pub use roster::Member;
pub use settings::{KafkaSettings, SaslMechanism, SecurityProtocol, TlsFiles};
pub use skills::SkillInfo;
pub use store::{
    AuditRecord, DelegationRecord, GroupStore, GroupTxn, MemberRecord, OpenTaskRecord, SpanRecord,
};
pub use tasks::{IncomingTask, PendingTask, TaskHandler, TaskProgress, TaskResult, TaskSpec};
pub use transport::{
    FetchBatch, HEADER_MESSAGE_ID, InRecord, KafkaTransport, OffsetQuery, OutRecord,
    PartitionReader, Produced, Transport, partition_for_key, tls_client_config,
};
