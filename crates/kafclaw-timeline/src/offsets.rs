//! Consumer offsets and message-id de-duplication for the Kafka transport.
//!
//! A consumed record is handled inside a [`RecordTx`]: one `BEGIN IMMEDIATE`
//! transaction that holds the handler's writes, the de-duplication mark and the new
//! offset, so they are committed together or not at all.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::error::db;
use crate::events::{Event, NewEvent};
use crate::group::{
    Member, MemberUpdate, NewDelegation, NewGroupAudit, NewGroupSpan, NewSkillChannel,
    RosterChange, SkillChannel,
};
use crate::row::{ms, now, require};
use crate::tasks::{CreatedTask, NewTask};
use crate::usage::NewUsage;
use crate::{Error, Result, Timeline};

/// Why a record counts as already handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenBy {
    /// A record with the same message id was committed before (on any partition).
    MessageId,
    /// The record's offset is below the stored next offset of its partition.
    Offset,
}

/// The transaction for one consumed record. Dropping it without [`RecordTx::commit`]
/// rolls everything back: the handler's writes, and no de-dup mark or offset.
///
/// It holds the database write lock until it ends. Write only through it (its typed
/// methods or [`RecordTx::conn`]), never through `Timeline` methods, which would wait
/// for this same lock until the busy timeout; and keep slow work (model calls) out of it.
pub struct RecordTx {
    tx: Transaction<'static, Sqlite>,
    agent_id: String,
    topic: String,
    partition: i32,
    offset: i64,
    message_id: Option<String>,
    seen: Option<SeenBy>,
}

impl std::fmt::Debug for RecordTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordTx")
            .field("agent_id", &self.agent_id)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("message_id", &self.message_id)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl RecordTx {
    /// True when this record was handled before: its message id is already recorded
    /// for this agent, or its offset is below the stored next offset. The handler must
    /// then skip its effect; `commit` is still right (it only advances the offset).
    pub fn already_seen(&self) -> bool {
        self.seen.is_some()
    }

    /// Why the record counts as seen, if it does.
    pub fn seen_by(&self) -> Option<SeenBy> {
        self.seen
    }

    /// Partition of the record.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Offset of the record.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The open transaction, for handler writes the typed methods do not cover.
    /// Do not commit or roll back through it; use [`Self::commit`].
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Writes the de-dup mark (when the record has a message id) and
    /// `next_offset = offset + 1` (never moving backwards), then commits the handler's
    /// writes with them.
    pub async fn commit(mut self) -> Result<()> {
        let t = ms(now());
        if let Some(id) = &self.message_id {
            sqlx::query(
                "INSERT INTO seen_messages (agent_id, message_id, topic, first_seen) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (agent_id, message_id) DO NOTHING",
            )
            .bind(&self.agent_id)
            .bind(id)
            .bind(&self.topic)
            .bind(t)
            .execute(&mut *self.tx)
            .await
            .map_err(db("recording a consumed message id"))?;
        }
        sqlx::query(
            "INSERT INTO consumer_offsets (agent_id, topic, partition, next_offset, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (agent_id, topic, partition) DO UPDATE SET \
             next_offset = MAX(consumer_offsets.next_offset, excluded.next_offset), \
             updated_at = excluded.updated_at",
        )
        .bind(&self.agent_id)
        .bind(&self.topic)
        .bind(self.partition)
        .bind(self.offset + 1)
        .bind(t)
        .execute(&mut *self.tx)
        .await
        .map_err(db("storing a consumer offset"))?;
        self.tx
            .commit()
            .await
            .map_err(db("committing a consumed record"))
    }

    /// Discards the handler's writes; nothing about the record is stored.
    pub async fn rollback(self) -> Result<()> {
        self.tx
            .rollback()
            .await
            .map_err(db("rolling back a consumed record"))
    }

    /// Creates a task as the record's effect (see [`Timeline::create_task`]).
    pub async fn create_task(&mut self, new: NewTask) -> Result<CreatedTask> {
        crate::tasks::create(&mut self.tx, new).await
    }

    /// Appends an event as the record's effect.
    pub async fn append_event(&mut self, new: NewEvent) -> Result<Event> {
        crate::events::append(&mut self.tx, new).await
    }

    /// Updates the roster as the record's effect (see [`Timeline::upsert_member`]).
    pub async fn upsert_member(&mut self, update: MemberUpdate) -> Result<(Member, RosterChange)> {
        crate::group::upsert_member(&mut self.tx, update).await
    }

    /// Stores a group trace span as the record's effect.
    pub async fn record_group_span(&mut self, span: NewGroupSpan) -> Result<bool> {
        crate::group::record_span(&mut self.tx, span).await
    }

    /// Stores a group audit record as the record's effect.
    pub async fn record_group_audit(&mut self, audit: NewGroupAudit) -> Result<bool> {
        crate::group::record_audit(&mut self.tx, audit).await
    }

    /// Stores a delegation event as the record's effect.
    pub async fn record_delegation(&mut self, event: NewDelegation) -> Result<i64> {
        crate::group::record_delegation(&mut self.tx, event).await
    }

    /// Records a gated-group admission as the record's effect (see [`Timeline::admit_member`]).
    pub async fn admit_member(
        &mut self,
        agent_id: &str,
        sponsor_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        crate::group::admit(&mut self.tx, agent_id, sponsor_id, at).await
    }

    /// Records, as the record's effect, that this agent committed to a group task.
    pub async fn save_open_task(&mut self, task: &crate::OpenTask) -> Result<()> {
        crate::open_tasks::save(&mut self.tx, task).await
    }

    /// Forgets, as the record's effect, this agent's claim that lost.
    pub async fn drop_open_claim(&mut self, task_id: &str) -> Result<()> {
        crate::open_tasks::drop_claim(&mut self.tx, task_id).await
    }

    /// Registers a skill channel as the record's effect.
    pub async fn upsert_skill_channel(&mut self, skill: NewSkillChannel) -> Result<SkillChannel> {
        crate::group::upsert_skill(&mut self.tx, skill).await
    }

    /// Records token usage as the record's effect.
    pub async fn record_usage(&mut self, usage: NewUsage) -> Result<i64> {
        crate::usage::record(&mut self.tx, usage).await
    }
}

fn check_position(partition: i32, offset: i64) -> Result<()> {
    if partition < 0 {
        return Err(Error::InvalidInput {
            field: "partition",
            reason: format!("{partition} is negative"),
        });
    }
    if !(0..i64::MAX).contains(&offset) {
        return Err(Error::InvalidInput {
            field: "offset",
            reason: format!("{offset} is out of range"),
        });
    }
    Ok(())
}

impl Timeline {
    /// Opens the transaction for one consumed record (`BEGIN IMMEDIATE`) and checks
    /// whether it was handled before (see [`RecordTx::already_seen`]).
    pub async fn begin_record(
        &self,
        agent_id: &str,
        topic: &str,
        partition: i32,
        offset: i64,
        message_id: Option<&str>,
    ) -> Result<RecordTx> {
        require("agent_id", agent_id)?;
        require("topic", topic)?;
        check_position(partition, offset)?;
        if let Some(id) = message_id {
            require("message_id", id)?;
        }
        let mut tx = self.write_tx("opening a record transaction").await?;
        let mut seen = None;
        if let Some(id) = message_id {
            let hit = sqlx::query_scalar::<_, i64>(
                "SELECT 1 FROM seen_messages WHERE agent_id = ? AND message_id = ?",
            )
            .bind(agent_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("checking a message id"))?;
            if hit.is_some() {
                seen = Some(SeenBy::MessageId);
            }
        }
        if seen.is_none() {
            let next = sqlx::query_scalar::<_, i64>(
                "SELECT next_offset FROM consumer_offsets \
                 WHERE agent_id = ? AND topic = ? AND partition = ?",
            )
            .bind(agent_id)
            .bind(topic)
            .bind(partition)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("reading a consumer offset"))?;
            if next.is_some_and(|next| offset < next) {
                seen = Some(SeenBy::Offset);
            }
        }
        Ok(RecordTx {
            tx,
            agent_id: agent_id.to_owned(),
            topic: topic.to_owned(),
            partition,
            offset,
            message_id: message_id.map(str::to_owned),
            seen,
        })
    }

    /// Next offset to read for every partition of `topic` this agent has committed.
    pub async fn load_offsets(&self, agent_id: &str, topic: &str) -> Result<HashMap<i32, i64>> {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, next_offset FROM consumer_offsets WHERE agent_id = ? AND topic = ?",
        )
        .bind(agent_id)
        .bind(topic)
        .fetch_all(&self.pool)
        .await
        .map_err(db("loading consumer offsets"))?;
        Ok(rows.into_iter().collect())
    }

    /// Sets a partition's next offset outright (e.g. a start position chosen by
    /// look-back, or a resync after a retention gap). Unlike `commit`, this may move it
    /// backwards.
    pub async fn set_offset(
        &self,
        agent_id: &str,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> Result<()> {
        require("agent_id", agent_id)?;
        require("topic", topic)?;
        check_position(partition, next_offset)?;
        sqlx::query(
            "INSERT INTO consumer_offsets (agent_id, topic, partition, next_offset, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (agent_id, topic, partition) DO UPDATE SET \
             next_offset = excluded.next_offset, updated_at = excluded.updated_at",
        )
        .bind(agent_id)
        .bind(topic)
        .bind(partition)
        .bind(next_offset)
        .bind(ms(now()))
        .execute(&self.pool)
        .await
        .map_err(db("setting a consumer offset"))?;
        Ok(())
    }

    /// Whether this agent has committed a record with this message id.
    pub async fn message_seen(&self, agent_id: &str, message_id: &str) -> Result<bool> {
        let hit = sqlx::query_scalar::<_, i64>(
            "SELECT 1 FROM seen_messages WHERE agent_id = ? AND message_id = ?",
        )
        .bind(agent_id)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("checking a message id"))?;
        Ok(hit.is_some())
    }
}
