//! kafclaw-timeline: one agent's durable local state in a single SQLite file (via
//! sqlx): the event log, tasks and their status machine, policy decisions, approval
//! requests, runtime settings, group state (roster, traces, audit, delegation,
//! skills), the orchestrator's hierarchy and zones, Kafka consumer offsets with
//! message-id de-duplication, and token usage.
//! It opens the file with WAL and a busy timeout, applies embedded versioned
//! migrations, recovers tasks a crash interrupted, and prunes old log rows.
//! It is NOT a Kafka client, a policy engine or a vector store: it implements
//! kafclaw-policy's `DecisionSink` and offers the offset/de-dup transaction
//! ([`RecordTx`]) that the group transport builds on.

mod approvals;
mod decisions;
mod error;
mod events;
mod group;
mod logged;
mod migrate;
mod offset_store;
mod offsets;
mod open_tasks;
mod orchestrator;
mod retention;
mod row;
mod settings;
mod store;
mod tasks;
mod usage;

pub use approvals::{Approval, ApprovalAnswer, ApprovalFilter, ApprovalStatus, NewApproval};
pub use decisions::{DecisionFilter, DecisionRecord};
pub use error::{BoxError, Error, Result};
pub use events::{Event, EventFilter, NewEvent};
pub use group::{
    Admission, DelegationEvent, DelegationFilter, GroupAudit, GroupAuditFilter, GroupSpan,
    GroupSpanFilter, Member, MemberUpdate, NewDelegation, NewGroupAudit, NewGroupSpan,
    NewSkillChannel, RosterChange, RosterEntry, SkillChannel,
};
pub use migrate::SCHEMA_VERSION;
pub use offsets::{RecordTx, SeenBy};
pub use open_tasks::{OpenTask, OpenTaskState};
pub use orchestrator::{OrchestratorNode, OrchestratorZone};
pub use retention::{PruneReport, Retention};
pub use row::{DEFAULT_LIMIT, MAX_LIMIT};
pub use settings::{Setting, SettingKey};
pub use store::{Recovery, Timeline, TimelineOptions};
pub use tasks::{CreatedTask, DeliveryStatus, NewTask, Task, TaskFilter, TaskStatus};
pub use usage::{ModelUsage, NewUsage, UsageSum};
