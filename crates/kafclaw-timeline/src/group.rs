//! Group state: the roster and its history, group trace spans, group audit records,
//! delegation chains and skill channels.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::db;
use crate::row::{MAX_LIMIT, RowReader, fetch_page, json_text, ms, now, page, require};
use crate::{Error, Result, Timeline};

// ---------------------------------------------------------------- roster

/// What a heartbeat or announcement says about a member.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberUpdate {
    /// Agent id.
    pub agent_id: String,
    /// The identity as announced (JSON object).
    pub identity: serde_json::Value,
    /// Role in the group (from configuration).
    pub role: String,
    /// Zone, if any.
    pub zone: Option<String>,
    /// Status (e.g. `active`, `left`, `expired`).
    pub status: String,
    /// When it was seen; now when `None`.
    pub seen_at: Option<DateTime<Utc>>,
}

/// A roster entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// Agent id.
    pub agent_id: String,
    /// Last announced identity.
    pub identity: serde_json::Value,
    /// Role.
    pub role: String,
    /// Zone.
    pub zone: Option<String>,
    /// Status.
    pub status: String,
    /// First time seen.
    pub first_seen: DateTime<Utc>,
    /// Last time seen.
    pub last_seen: DateTime<Utc>,
}

/// How [`Timeline::upsert_member`] changed the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterChange {
    /// A new member (history row `joined`).
    Joined,
    /// Identity, role, zone or status changed (history row `changed`).
    Changed,
    /// Only `last_seen` moved (no history row).
    Seen,
}

/// One roster history row: a snapshot of a member when it joined or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterEntry {
    /// Row id.
    pub id: i64,
    /// Agent id.
    pub agent_id: String,
    /// `joined` or `changed`.
    pub action: String,
    /// Identity at that time.
    pub identity: serde_json::Value,
    /// Role at that time.
    pub role: String,
    /// Zone at that time.
    pub zone: Option<String>,
    /// Status at that time.
    pub status: String,
    /// When.
    pub happened_at: DateTime<Utc>,
}

fn member_from_row(row: &SqliteRow) -> Result<Member> {
    let r = RowReader::new(row, "group_members");
    Ok(Member {
        agent_id: r.get("agent_id")?,
        identity: r.json("identity")?,
        role: r.get("role")?,
        zone: r.get("zone")?,
        status: r.get("status")?,
        first_seen: r.ts("first_seen")?,
        last_seen: r.ts("last_seen")?,
    })
}

fn roster_from_row(row: &SqliteRow) -> Result<RosterEntry> {
    let r = RowReader::new(row, "roster_history");
    Ok(RosterEntry {
        id: r.get("id")?,
        agent_id: r.get("agent_id")?,
        action: r.get("action")?,
        identity: r.json("identity")?,
        role: r.get("role")?,
        zone: r.get("zone")?,
        status: r.get("status")?,
        happened_at: r.ts("happened_at")?,
    })
}

async fn add_history(conn: &mut SqliteConnection, m: &Member, action: &str, at: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO roster_history (agent_id, action, identity, role, zone, status, happened_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&m.agent_id)
    .bind(action)
    .bind(json_text("identity", &m.identity)?)
    .bind(&m.role)
    .bind(m.zone.as_deref())
    .bind(&m.status)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(db("writing roster history"))?;
    Ok(())
}

/// Inserts or updates a member. Must run inside a `BEGIN IMMEDIATE` transaction.
pub(crate) async fn upsert_member(
    conn: &mut SqliteConnection,
    u: MemberUpdate,
) -> Result<(Member, RosterChange)> {
    require("agent_id", &u.agent_id)?;
    require("role", &u.role)?;
    require("status", &u.status)?;
    if !u.identity.is_object() {
        return Err(Error::InvalidInput {
            field: "identity",
            reason: "must be a JSON object".into(),
        });
    }
    let at = ms(u.seen_at.unwrap_or_else(now));
    let existing = sqlx::query("SELECT * FROM group_members WHERE agent_id = ?")
        .bind(&u.agent_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading a group member"))?;
    let existing = existing.as_ref().map(member_from_row).transpose()?;
    let change = match &existing {
        None => RosterChange::Joined,
        Some(m)
            if m.identity != u.identity
                || m.role != u.role
                || m.zone != u.zone
                || m.status != u.status =>
        {
            RosterChange::Changed
        }
        Some(_) => RosterChange::Seen,
    };
    let row = sqlx::query(
        "INSERT INTO group_members (agent_id, identity, role, zone, status, first_seen, last_seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
         ON CONFLICT (agent_id) DO UPDATE SET identity = excluded.identity, role = excluded.role, \
         zone = excluded.zone, status = excluded.status, \
         last_seen = MAX(group_members.last_seen, excluded.last_seen) RETURNING *",
    )
    .bind(&u.agent_id)
    .bind(json_text("identity", &u.identity)?)
    .bind(&u.role)
    .bind(u.zone.as_deref())
    .bind(&u.status)
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("storing a group member"))?;
    let member = member_from_row(&row)?;
    match change {
        RosterChange::Joined => add_history(conn, &member, "joined", at).await?,
        RosterChange::Changed => add_history(conn, &member, "changed", at).await?,
        RosterChange::Seen => {}
    }
    Ok((member, change))
}

// ---------------------------------------------------------------- traces and audit

/// A group trace span to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupSpan {
    /// Trace id.
    pub trace_id: String,
    /// Span id (unique; a second span with the same id is ignored).
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// Agent that produced the span.
    pub source_agent_id: String,
    /// Kind of span (e.g. `task.request`, `task.response`).
    pub span_type: String,
    /// Short title.
    pub title: String,
    /// Content.
    pub content: String,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// End time.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
}

/// A stored group trace span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSpan {
    /// Row id.
    pub id: i64,
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// Producing agent.
    pub source_agent_id: String,
    /// Kind of span.
    pub span_type: String,
    /// Title.
    pub title: String,
    /// Content.
    pub content: String,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// End time.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// When stored.
    pub created_at: DateTime<Utc>,
}

/// Filters for [`Timeline::list_group_spans`]. Oldest first (trace order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSpanFilter {
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only spans from this agent.
    pub source_agent_id: Option<String>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

fn span_from_row(row: &SqliteRow) -> Result<GroupSpan> {
    let r = RowReader::new(row, "group_traces");
    Ok(GroupSpan {
        id: r.get("id")?,
        trace_id: r.get("trace_id")?,
        span_id: r.get("span_id")?,
        parent_span_id: r.get("parent_span_id")?,
        source_agent_id: r.get("source_agent_id")?,
        span_type: r.get("span_type")?,
        title: r.get("title")?,
        content: r.get("content")?,
        started_at: r.opt_ts("started_at")?,
        ended_at: r.opt_ts("ended_at")?,
        duration_ms: r.get("duration_ms")?,
        created_at: r.ts("created_at")?,
    })
}

pub(crate) async fn record_span(conn: &mut SqliteConnection, s: NewGroupSpan) -> Result<bool> {
    require("trace_id", &s.trace_id)?;
    require("span_id", &s.span_id)?;
    require("source_agent_id", &s.source_agent_id)?;
    require("span_type", &s.span_type)?;
    let done = sqlx::query(
        "INSERT INTO group_traces (trace_id, span_id, parent_span_id, source_agent_id, span_type, \
         title, content, started_at, ended_at, duration_ms, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (span_id) DO NOTHING",
    )
    .bind(s.trace_id)
    .bind(s.span_id)
    .bind(s.parent_span_id)
    .bind(s.source_agent_id)
    .bind(s.span_type)
    .bind(s.title)
    .bind(s.content)
    .bind(s.started_at.map(ms))
    .bind(s.ended_at.map(ms))
    .bind(s.duration_ms)
    .bind(ms(now()))
    .execute(&mut *conn)
    .await
    .map_err(db("storing a group trace span"))?;
    Ok(done.rows_affected() == 1)
}

/// A group audit record to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewGroupAudit {
    /// Unique id of the audited event (a second record with the same id is ignored).
    pub event_id: String,
    /// Agent that acted.
    pub agent_id: String,
    /// What it did (e.g. `joined`, `skill.registered`, `onboarding.approved`).
    pub action: String,
    /// What it acted on.
    pub subject: Option<String>,
    /// Details (JSON; `Null` is stored as `{}`).
    pub detail: serde_json::Value,
    /// Trace id.
    pub trace_id: Option<String>,
}

/// A stored group audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAudit {
    /// Row id.
    pub id: i64,
    /// Event id.
    pub event_id: String,
    /// Acting agent.
    pub agent_id: String,
    /// Action.
    pub action: String,
    /// Subject.
    pub subject: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
    /// Trace id.
    pub trace_id: Option<String>,
    /// When stored.
    pub created_at: DateTime<Utc>,
}

/// Filters for [`Timeline::list_group_audit`]. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupAuditFilter {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

fn audit_from_row(row: &SqliteRow) -> Result<GroupAudit> {
    let r = RowReader::new(row, "group_audit");
    Ok(GroupAudit {
        id: r.get("id")?,
        event_id: r.get("event_id")?,
        agent_id: r.get("agent_id")?,
        action: r.get("action")?,
        subject: r.get("subject")?,
        detail: r.json("detail")?,
        trace_id: r.get("trace_id")?,
        created_at: r.ts("created_at")?,
    })
}

pub(crate) async fn record_audit(conn: &mut SqliteConnection, a: NewGroupAudit) -> Result<bool> {
    require("event_id", &a.event_id)?;
    require("agent_id", &a.agent_id)?;
    require("action", &a.action)?;
    let detail = if a.detail.is_null() {
        "{}".to_owned()
    } else {
        json_text("detail", &a.detail)?
    };
    let done = sqlx::query(
        "INSERT INTO group_audit (event_id, agent_id, action, subject, detail, trace_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(a.event_id)
    .bind(a.agent_id)
    .bind(a.action)
    .bind(a.subject)
    .bind(detail)
    .bind(a.trace_id)
    .bind(ms(now()))
    .execute(&mut *conn)
    .await
    .map_err(db("storing a group audit record"))?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------- delegation

/// A delegation event to store (request, accepted, response, rejected, expired, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewDelegation {
    /// The delegated task.
    pub task_id: String,
    /// The task it was delegated from.
    pub parent_task_id: Option<String>,
    /// What happened.
    pub event_type: String,
    /// Sending agent.
    pub sender_id: String,
    /// Receiving agent.
    pub receiver_id: Option<String>,
    /// Delegation depth (0 = original request).
    pub depth: u32,
    /// Deadline of the task.
    pub deadline_at: Option<DateTime<Utc>>,
    /// Short summary.
    pub summary: String,
    /// Trace id.
    pub trace_id: Option<String>,
}

/// A stored delegation event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DelegationEvent {
    /// Row id.
    pub id: i64,
    /// Task id.
    pub task_id: String,
    /// Parent task id.
    pub parent_task_id: Option<String>,
    /// What happened.
    pub event_type: String,
    /// Sending agent.
    pub sender_id: String,
    /// Receiving agent.
    pub receiver_id: Option<String>,
    /// Depth.
    pub depth: u32,
    /// Deadline.
    pub deadline_at: Option<DateTime<Utc>>,
    /// Summary.
    pub summary: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// When stored.
    pub created_at: DateTime<Utc>,
}

fn delegation_from_row(row: &SqliteRow) -> Result<DelegationEvent> {
    let r = RowReader::new(row, "delegation_events");
    Ok(DelegationEvent {
        id: r.get("id")?,
        task_id: r.get("task_id")?,
        parent_task_id: r.get("parent_task_id")?,
        event_type: r.get("event_type")?,
        sender_id: r.get("sender_id")?,
        receiver_id: r.get("receiver_id")?,
        depth: r.get("depth")?,
        deadline_at: r.opt_ts("deadline_at")?,
        summary: r.get("summary")?,
        trace_id: r.get("trace_id")?,
        created_at: r.ts("created_at")?,
    })
}

pub(crate) async fn record_delegation(
    conn: &mut SqliteConnection,
    d: NewDelegation,
) -> Result<i64> {
    require("task_id", &d.task_id)?;
    require("event_type", &d.event_type)?;
    require("sender_id", &d.sender_id)?;
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO delegation_events (task_id, parent_task_id, event_type, sender_id, \
         receiver_id, depth, deadline_at, summary, trace_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(d.task_id)
    .bind(d.parent_task_id)
    .bind(d.event_type)
    .bind(d.sender_id)
    .bind(d.receiver_id)
    .bind(i64::from(d.depth))
    .bind(d.deadline_at.map(ms))
    .bind(d.summary)
    .bind(d.trace_id)
    .bind(ms(now()))
    .fetch_one(&mut *conn)
    .await
    .map_err(db("storing a delegation event"))
}

// ---------------------------------------------------------------- admissions

/// An agent admitted to a gated group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admission {
    /// The admitted agent.
    pub agent_id: String,
    /// The member that sponsored it (itself for the founder).
    pub sponsor_id: String,
    /// When (the time of the sponsor's `onboard_complete`).
    pub admitted_at: DateTime<Utc>,
}

pub(crate) async fn admit(
    conn: &mut SqliteConnection,
    agent_id: &str,
    sponsor_id: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    require("agent_id", agent_id)?;
    require("sponsor_id", sponsor_id)?;
    let done = sqlx::query(
        "INSERT INTO group_admissions (agent_id, sponsor_id, admitted_at) VALUES (?, ?, ?) \
         ON CONFLICT (agent_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(sponsor_id)
    .bind(ms(at))
    .execute(&mut *conn)
    .await
    .map_err(db("storing a group admission"))?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------- skills

/// A skill channel to register (the topics of one skill in one group).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSkillChannel {
    /// Group name.
    pub group_name: String,
    /// Skill name.
    pub skill_name: String,
    /// Topic where requests for the skill go.
    pub requests_topic: String,
    /// Topic where responses go.
    pub responses_topic: String,
    /// Agent that registered the skill.
    pub registered_by: String,
    /// Whether this agent provides the skill (and must subscribe to its topics).
    pub local_provider: bool,
}

/// A stored skill channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkillChannel {
    /// Group name.
    pub group_name: String,
    /// Skill name.
    pub skill_name: String,
    /// Requests topic.
    pub requests_topic: String,
    /// Responses topic.
    pub responses_topic: String,
    /// Registering agent.
    pub registered_by: String,
    /// Whether this agent provides it.
    pub local_provider: bool,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn skill_from_row(row: &SqliteRow) -> Result<SkillChannel> {
    let r = RowReader::new(row, "group_skills");
    Ok(SkillChannel {
        group_name: r.get("group_name")?,
        skill_name: r.get("skill_name")?,
        requests_topic: r.get("requests_topic")?,
        responses_topic: r.get("responses_topic")?,
        registered_by: r.get("registered_by")?,
        local_provider: r.get("local_provider")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

pub(crate) async fn upsert_skill(
    conn: &mut SqliteConnection,
    s: NewSkillChannel,
) -> Result<SkillChannel> {
    require("group_name", &s.group_name)?;
    require("skill_name", &s.skill_name)?;
    require("requests_topic", &s.requests_topic)?;
    require("responses_topic", &s.responses_topic)?;
    require("registered_by", &s.registered_by)?;
    let t = ms(now());
    let row = sqlx::query(
        "INSERT INTO group_skills (group_name, skill_name, requests_topic, responses_topic, \
         registered_by, local_provider, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
         ON CONFLICT (group_name, skill_name) DO UPDATE SET requests_topic = excluded.requests_topic, \
         responses_topic = excluded.responses_topic, registered_by = excluded.registered_by, \
         local_provider = excluded.local_provider, updated_at = excluded.updated_at RETURNING *",
    )
    .bind(s.group_name)
    .bind(s.skill_name)
    .bind(s.requests_topic)
    .bind(s.responses_topic)
    .bind(s.registered_by)
    .bind(s.local_provider)
    .bind(t)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("storing a skill channel"))?;
    skill_from_row(&row)
}

impl Timeline {
    /// Records a heartbeat or announcement. A new agent gets a `joined` history row, a
    /// changed identity/role/zone/status a `changed` row; a plain heartbeat only moves
    /// `last_seen` (never backwards).
    pub async fn upsert_member(&self, update: MemberUpdate) -> Result<(Member, RosterChange)> {
        let mut tx = self.write_tx("storing a group member").await?;
        let out = upsert_member(&mut tx, update).await?;
        tx.commit().await.map_err(db("committing a group member"))?;
        Ok(out)
    }

    /// One roster entry.
    pub async fn get_member(&self, agent_id: &str) -> Result<Option<Member>> {
        let row = sqlx::query("SELECT * FROM group_members WHERE agent_id = ?")
            .bind(agent_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a group member"))?;
        row.as_ref().map(member_from_row).transpose()
    }

    /// The roster, optionally only members with `status`, by agent id.
    pub async fn list_members(&self, status: Option<&str>) -> Result<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT * FROM group_members WHERE (?1 IS NULL OR status = ?1) ORDER BY agent_id",
        )
        .bind(status)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing group members"))?;
        rows.iter().map(member_from_row).collect()
    }

    /// Marks members with status `active` not seen since `last_seen_before` as
    /// `expired` (with a history row each); returns them.
    pub async fn expire_members(&self, last_seen_before: DateTime<Utc>) -> Result<Vec<Member>> {
        let mut tx = self.write_tx("expiring group members").await?;
        let rows = sqlx::query(
            "UPDATE group_members SET status = 'expired' \
             WHERE status = 'active' AND last_seen < ? RETURNING *",
        )
        .bind(ms(last_seen_before))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("expiring group members"))?;
        let mut members = rows
            .iter()
            .map(member_from_row)
            .collect::<Result<Vec<_>>>()?;
        members.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        let at = ms(now());
        for m in &members {
            add_history(&mut tx, m, "changed", at).await?;
        }
        tx.commit()
            .await
            .map_err(db("committing expired group members"))?;
        Ok(members)
    }

    /// Records that `sponsor_id` admitted `agent_id` to the gated group; false when the
    /// agent was admitted before (the first admission is kept).
    pub async fn admit_member(
        &self,
        agent_id: &str,
        sponsor_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("storing a group admission"))?;
        admit(&mut conn, agent_id, sponsor_id, at).await
    }

    /// Every admission, by agent id.
    pub async fn admissions(&self) -> Result<Vec<Admission>> {
        let rows = sqlx::query("SELECT * FROM group_admissions ORDER BY agent_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing group admissions"))?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "group_admissions");
                Ok(Admission {
                    agent_id: r.get("agent_id")?,
                    sponsor_id: r.get("sponsor_id")?,
                    admitted_at: r.ts("admitted_at")?,
                })
            })
            .collect()
    }

    /// Roster history, newest first, optionally for one agent.
    pub async fn roster_history(
        &self,
        agent_id: Option<&str>,
        limit: Option<u32>,
        offset: u32,
    ) -> Result<Vec<RosterEntry>> {
        let (limit, offset) = page(limit, offset);
        let rows = sqlx::query(
            "SELECT * FROM roster_history WHERE (?1 IS NULL OR agent_id = ?1) \
             ORDER BY happened_at DESC, id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(agent_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading roster history"))?;
        rows.iter().map(roster_from_row).collect()
    }

    /// Stores a group trace span; returns false if a span with that id was already stored.
    pub async fn record_group_span(&self, span: NewGroupSpan) -> Result<bool> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("storing a group trace span"))?;
        record_span(&mut conn, span).await
    }

    /// Group trace spans matching the filter, oldest first.
    pub async fn list_group_spans(&self, filter: &GroupSpanFilter) -> Result<Vec<GroupSpan>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM group_traces WHERE 1 = 1");
        if let Some(v) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.source_agent_id {
            qb.push(" AND source_agent_id = ").push_bind(v.clone());
        }
        fetch_page(
            &self.pool,
            qb,
            "COALESCE(started_at, created_at), id",
            (filter.limit, filter.offset),
            "listing group trace spans",
            span_from_row,
        )
        .await
    }

    /// Stores a group audit record; returns false if one with that event id exists.
    pub async fn record_group_audit(&self, audit: NewGroupAudit) -> Result<bool> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("storing a group audit record"))?;
        record_audit(&mut conn, audit).await
    }

    /// Group audit records matching the filter, newest first.
    pub async fn list_group_audit(&self, filter: &GroupAuditFilter) -> Result<Vec<GroupAudit>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM group_audit WHERE 1 = 1");
        if let Some(v) = &filter.agent_id {
            qb.push(" AND agent_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.action {
            qb.push(" AND action = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(v.clone());
        }
        fetch_page(
            &self.pool,
            qb,
            "created_at DESC, id DESC",
            (filter.limit, filter.offset),
            "listing group audit records",
            audit_from_row,
        )
        .await
    }

    /// Stores a delegation event; returns its row id.
    pub async fn record_delegation(&self, event: NewDelegation) -> Result<i64> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("storing a delegation event"))?;
        record_delegation(&mut conn, event).await
    }

    /// The delegation chain around a task: events of the task, of every ancestor
    /// (following `parent_task_id`) and of every descendant, in time order (at most 1000).
    pub async fn delegation_chain(&self, task_id: &str) -> Result<Vec<DelegationEvent>> {
        let rows = sqlx::query(
            "WITH RECURSIVE \
               up(t) AS (SELECT ?1 UNION SELECT d.parent_task_id FROM delegation_events d \
                         JOIN up ON d.task_id = up.t WHERE d.parent_task_id IS NOT NULL), \
               down(t) AS (SELECT ?1 UNION SELECT d.task_id FROM delegation_events d \
                           JOIN down ON d.parent_task_id = down.t) \
             SELECT * FROM delegation_events \
             WHERE task_id IN (SELECT t FROM up UNION SELECT t FROM down) \
             ORDER BY created_at, id LIMIT ?2",
        )
        .bind(task_id)
        .bind(i64::from(MAX_LIMIT))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a delegation chain"))?;
        rows.iter().map(delegation_from_row).collect()
    }

    /// Registers or updates a skill channel (one per group and skill).
    pub async fn upsert_skill_channel(&self, skill: NewSkillChannel) -> Result<SkillChannel> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("storing a skill channel"))?;
        upsert_skill(&mut conn, skill).await
    }

    /// Skill channels, optionally of one group, by group and skill name.
    pub async fn list_skill_channels(&self, group_name: Option<&str>) -> Result<Vec<SkillChannel>> {
        let rows = sqlx::query(
            "SELECT * FROM group_skills WHERE (?1 IS NULL OR group_name = ?1) \
             ORDER BY group_name, skill_name",
        )
        .bind(group_name)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing skill channels"))?;
        rows.iter().map(skill_from_row).collect()
    }

    /// Removes a skill channel; returns whether it existed.
    pub async fn remove_skill_channel(&self, group_name: &str, skill_name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM group_skills WHERE group_name = ? AND skill_name = ?")
            .bind(group_name)
            .bind(skill_name)
            .execute(&self.pool)
            .await
            .map_err(db("removing a skill channel"))?;
        Ok(done.rows_affected() > 0)
    }
}

// ---------------------------------------------------------------- delegation listing

/// Which delegation events to list (every field narrows the result).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelegationFilter {
    /// Only events of this task.
    pub task_id: Option<String>,
    /// Only events of this trace.
    pub trace_id: Option<String>,
    /// Only events sent by this agent.
    pub sender_id: Option<String>,
    /// Only events addressed to this agent.
    pub receiver_id: Option<String>,
    /// Only this event type (`request`, `accepted`, `completed`, `failed`, `rejected`, ...).
    pub event_type: Option<String>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

impl Timeline {
    /// Delegation events matching the filter, newest first.
    pub async fn list_delegations(
        &self,
        filter: &DelegationFilter,
    ) -> Result<Vec<DelegationEvent>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM delegation_events WHERE 1 = 1");
        for (column, value) in [
            ("task_id", &filter.task_id),
            ("trace_id", &filter.trace_id),
            ("sender_id", &filter.sender_id),
            ("receiver_id", &filter.receiver_id),
            ("event_type", &filter.event_type),
        ] {
            if let Some(v) = value {
                qb.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        fetch_page(
            &self.pool,
            qb,
            "created_at DESC, id DESC",
            (filter.limit, filter.offset),
            "listing delegation events",
            delegation_from_row,
        )
        .await
    }
}

#[cfg(test)]
mod delegation_listing_tests {
    use super::*;
    use crate::TimelineOptions;

    fn event(task: &str, kind: &str, sender: &str, trace: &str) -> NewDelegation {
        NewDelegation {
            task_id: task.into(),
            event_type: kind.into(),
            sender_id: sender.into(),
            receiver_id: Some("agent-b".into()),
            summary: format!("{kind} of {task}"),
            trace_id: Some(trace.into()),
            ..NewDelegation::default()
        }
    }

    #[tokio::test]
    async fn delegations_are_filtered_and_paged_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        tl.record_delegation(event("t1", "request", "agent-a", "tr1"))
            .await
            .unwrap();
        tl.record_delegation(event("t1", "completed", "agent-b", "tr1"))
            .await
            .unwrap();
        tl.record_delegation(event("t2", "request", "agent-c", "tr2"))
            .await
            .unwrap();
        let all = tl
            .list_delegations(&DelegationFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].task_id, "t2", "newest first");
        let t1 = tl
            .list_delegations(&DelegationFilter {
                task_id: Some("t1".into()),
                ..DelegationFilter::default()
            })
            .await
            .unwrap();
        let kinds: Vec<&str> = t1.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(kinds, ["completed", "request"]);
        let by_sender = tl
            .list_delegations(&DelegationFilter {
                sender_id: Some("agent-c".into()),
                event_type: Some("request".into()),
                ..DelegationFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(by_sender.len(), 1);
        assert_eq!(by_sender[0].trace_id.as_deref(), Some("tr2"));
        let page2 = tl
            .list_delegations(&DelegationFilter {
                limit: Some(1),
                offset: 1,
                ..DelegationFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(page2.len(), 1);
        assert_eq!(page2[0].event_type, "completed");
    }
}
