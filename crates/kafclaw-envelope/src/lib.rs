//! kafclaw-envelope: the KafClaw wire format and its JSON Schemas. It holds the
//! group envelope and every payload of the Go protocol with their exact JSON
//! field names, our optional extensions (message id, schema version, trace
//! context, zone, signature), the separate camelCase knowledge envelope, KafScale
//! LFS pointer records, topic-name builders and parser, lenient Go-style decoding
//! ([`decode_record`]), strict validation that names the wrong field
//! ([`validate`]), and schema generation ([`schema::all`]).
//!
//! It is NOT a Kafka client and does no IO: no sockets, no files, no async
//! runtime. Producing, consuming and resolving LFS pointers happen in
//! `kafclaw-group`.
//!
//! Typical use:
//!
//! ```
//! use kafclaw_envelope::{
//!     decode_record, Decoded, GroupEnvelope, GroupName, GroupTopic, Message, TaskRequest, TopicKind,
//! };
//!
//! let group = GroupName::new("research").unwrap();
//! let request = TaskRequest::new("t-1", "agent-a", "summarise", "Summarise the report");
//! let envelope = GroupEnvelope::new("agent-a", Message::Request(request));
//! let bytes = envelope.to_json().unwrap();
//!
//! let topic = TopicKind::parse(&group.topic(GroupTopic::Requests)).unwrap();
//! match decode_record(Some(&topic), &bytes).unwrap() {
//!     Decoded::Group { envelope: decoded, .. } => assert_eq!(*decoded, envelope),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

/// Declares a closed set of wire strings with `as_str`, `parse`, `ALL` and `NAMES`.
/// The wire fields themselves stay `String`, so unknown values still decode.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in protocol order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every wire spelling, in protocol order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the exact wire spelling.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod decode;
mod envelope;
mod error;
mod identity;
mod jsonutil;
mod knowledge;
mod lfs;
mod manifest;
mod memory;
mod observe;
mod onboard;
mod orchestrator;
mod patterns;
pub mod schema;
mod task;
mod time;
mod topic;
mod validate;

pub use decode::{Decoded, decode_record, decode_record_on, decode_value};
pub use envelope::{
    EXTENSION_FIELDS, GroupEnvelope, Message, MessageType, SCHEMA_VERSION, Signature, nanos_id,
    new_traceparent,
};
pub use error::{Error, Result};
pub use identity::{AgentIdentity, AnnounceAction, AnnouncePayload};
pub use knowledge::{
    CapabilitiesPayload, DecisionPayload, FactPayload, KNOWLEDGE_SCHEMA_VERSION, KnowledgeEnvelope,
    KnowledgeMessage, KnowledgeType, PresencePayload, ProposalPayload, VotePayload,
};
pub use lfs::{LfsEnvelope, looks_like_lfs_pointer};
pub use manifest::{EnsureTopicPayload, TopicCategory, TopicDescriptor, TopicManifest};
pub use memory::MemoryItem;
pub use observe::{AuditEvent, AuditPayload, TracePayload};
pub use onboard::{OnboardAction, OnboardPayload};
pub use orchestrator::{
    AgentNode, DiscoveryAction, DiscoveryPayload, HierarchyAction, HierarchyPayload, Zone,
    ZoneAction, ZoneUpdatePayload, ZoneVisibility,
};
pub use task::{ResponseStatus, TaskRequest, TaskResponse, TaskState, TaskStatusPayload};
pub use time::Timestamp;
pub use topic::{
    GroupName, GroupTopic, KnowledgeTopic, MAX_TOPIC_LEN, SkillDirection, SkillName, TopicKind,
    zone_allowed_types,
};
pub use validate::{ValidateOptions, Violation, validate, validate_record};
