//! The group protocol's persistent effects: [`GroupTxn`] (written inside a consumed
//! record's transaction) and [`GroupStore`] (the agent's own writes and the periodic
//! roster expiry). kafclaw-timeline implements both on SQLite; the in-memory
//! [`MemoryOffsetStore`] implements them as no-ops, for short-lived readers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::offsets::{MemoryOffsetStore, MemoryTxn, OffsetStore, RecordTxn, StoreError};

/// A roster entry to persist.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecord {
    /// Agent id (the envelope's `sender_id`, equal to `identity.agent_id`).
    pub agent_id: String,
    /// The identity as announced, as a JSON object.
    pub identity: serde_json::Value,
    /// Role (empty when the agent announced none).
    pub role: String,
    /// Zone, if any.
    pub zone: Option<String>,
    /// `active`, `left` or `expired`.
    pub status: String,
    /// When the member was last heard of (record time, never in the future).
    pub seen_at: DateTime<Utc>,
}

/// A trace span to persist (duplicates by span id are ignored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: String,
    /// Span id; for Go spans, which carry none, a digest of the record.
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// The agent that sent the span.
    pub source_agent_id: String,
    /// `TASK`, `LLM`, `TOOL`, ...
    pub span_type: String,
    /// Title.
    pub title: String,
    /// Content.
    pub content: String,
    /// Start time, when it parsed.
    pub started_at: Option<DateTime<Utc>>,
    /// End time, when it parsed.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
}

/// An audit event to persist (duplicates by event id are ignored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRecord {
    /// The envelope's message id, or a digest of the record for Go agents.
    pub event_id: String,
    /// The sending agent.
    pub agent_id: String,
    /// The payload's `event_type` (`audit` when absent).
    pub action: String,
    /// What it is about (`skill_name` or `agent_id` of the payload), if anything.
    pub subject: Option<String>,
    /// The whole payload.
    pub detail: serde_json::Value,
    /// The envelope's correlation id (a trace id for policy decisions).
    pub trace_id: Option<String>,
}

/// One step of a delegation chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelegationRecord {
    /// The task.
    pub task_id: String,
    /// The task it was delegated from.
    pub parent_task_id: Option<String>,
    /// `request`, `accepted`, `completed`, `failed` or `rejected`.
    pub event_type: String,
    /// Who sent the message this event comes from.
    pub sender_id: String,
    /// The agent doing the task, when known.
    pub receiver_id: Option<String>,
    /// Delegation depth.
    pub depth: u32,
    /// Deadline.
    pub deadline_at: Option<DateTime<Utc>>,
    /// A short summary (description, or the response's first line).
    pub summary: String,
    /// The original requester, as a trace id of the chain.
    pub trace_id: Option<String>,
}

/// A group task this agent committed to work on, kept so a restarted agent resumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTaskRecord {
    /// The request (for a skill task, with its skill set).
    pub request: kafclaw_envelope::TaskRequest,
    /// The W3C traceparent of the request's envelope.
    pub traceparent: Option<String>,
    /// Addressed to this agent (no claim).
    pub targeted: bool,
    /// False: its claim is sent and the outcome not read yet; true: it is this agent's
    /// to answer.
    pub running: bool,
}

/// Effects of the group protocol, written inside one record's transaction so they
/// commit together with the record's offset.
#[async_trait]
pub trait GroupTxn: RecordTxn {
    /// Inserts or updates a roster entry (history of joins and changes is kept).
    async fn upsert_member(&mut self, member: MemberRecord) -> Result<(), StoreError>;
    /// Stores a trace span; false when its span id was stored before.
    async fn record_span(&mut self, span: SpanRecord) -> Result<bool, StoreError>;
    /// Stores an audit event; false when its event id was stored before.
    async fn record_audit(&mut self, audit: AuditRecord) -> Result<bool, StoreError>;
    /// Appends a delegation event.
    async fn record_delegation(&mut self, event: DelegationRecord) -> Result<(), StoreError>;
    /// Records that a sponsor admitted an agent to a gated group.
    async fn admit_member(
        &mut self,
        agent_id: &str,
        sponsor_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Records that this agent committed to a task of `group` (a claimed one is stored
    /// once; a running one is stored or a claimed one becomes running; an answered one
    /// stays answered). The default keeps nothing.
    async fn save_open_task(
        &mut self,
        _group: &str,
        _task: &OpenTaskRecord,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets this agent's claim that lost. The default keeps nothing.
    async fn drop_open_claim(&mut self, _task_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The store behind a group agent: offsets and record transactions, plus the writes
/// that do not come from a consumed record.
#[async_trait]
pub trait GroupStore: OffsetStore<Txn: GroupTxn> {
    /// Stores the agent's own roster entry (its own announces are not consumed).
    async fn save_member(&self, member: MemberRecord) -> Result<(), StoreError>;
    /// Marks active members last seen before `cutoff` as expired; returns their ids.
    async fn expire_members(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
    /// Agents admitted to the gated group so far (so a restart need not replay onboarding).
    async fn admitted_members(&self) -> Result<Vec<String>, StoreError>;
    /// Marks a committed task of `group` answered. The default keeps nothing.
    async fn finish_open_task(&self, _group: &str, _task_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// The claimed and running tasks of `group` a previous run left. The default keeps
    /// nothing.
    async fn open_tasks(&self, _group: &str) -> Result<Vec<OpenTaskRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// Appends a delegation event that no consumed record brings: this agent's own
    /// request on a skill topic it does not read. The default keeps nothing.
    async fn record_delegation(&self, _event: DelegationRecord) -> Result<(), StoreError> {
        Ok(())
    }
    /// Remembers that this agent provides `skill` in `group` (so a restart
    /// re-subscribes and re-registers it). The default keeps nothing.
    async fn save_provided_skill(
        &self,
        _group: &str,
        _skill: &str,
        _topics: (&str, &str),
        _agent_id: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// Forgets a provided skill.
    async fn remove_provided_skill(&self, _group: &str, _skill: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// The skills this agent provides in `group`, as saved before, with the time of
    /// their first registration (a restart reads their requests from then on where it
    /// has no offset yet).
    async fn provided_skills(
        &self,
        _group: &str,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl GroupTxn for MemoryTxn {
    async fn upsert_member(&mut self, _member: MemberRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn record_span(&mut self, _span: SpanRecord) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn record_audit(&mut self, _audit: AuditRecord) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn record_delegation(&mut self, _event: DelegationRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn admit_member(
        &mut self,
        _agent_id: &str,
        _sponsor_id: &str,
        _at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Keeps nothing: offsets live in memory, group effects only in the agent's own state.
/// A reader on this store replays the look-back window (and, in a gated group, the
/// whole onboarding topic) on every start.
#[async_trait]
impl GroupStore for MemoryOffsetStore {
    async fn save_member(&self, _member: MemberRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn expire_members(&self, _cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn admitted_members(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}
