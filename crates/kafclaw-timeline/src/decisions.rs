//! Policy decisions: the audit trail of every tool-call verdict. `Timeline` implements
//! kafclaw-policy's `DecisionSink` by writing here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kafclaw_policy::{Decision, DecisionSink, Outcome, SinkError, ToolTier, TrustClass};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

use crate::error::db;
use crate::row::{RowReader, fetch_page, ms, now};
use crate::{Result, Timeline};

/// A stored policy decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Row id.
    pub id: i64,
    /// Tool name.
    pub tool: String,
    /// Tool tier (`None`: unknown tool).
    pub tier: Option<ToolTier>,
    /// Sender id.
    pub sender: String,
    /// Sender trust class.
    pub trust_class: TrustClass,
    /// Channel.
    pub channel: String,
    /// allow, deny or approval_required.
    pub outcome: Outcome,
    /// Reason code and sentence.
    pub reason: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Task id.
    pub task_id: Option<String>,
    /// When the decision was made.
    pub created_at: DateTime<Utc>,
}

/// Filters for [`Timeline::list_decisions`]; combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionFilter {
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only this task.
    pub task_id: Option<String>,
    /// Only this sender.
    pub sender: Option<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

fn decision_from_row(row: &SqliteRow) -> Result<DecisionRecord> {
    let r = RowReader::new(row, "policy_decisions");
    Ok(DecisionRecord {
        id: r.get("id")?,
        tool: r.get("tool")?,
        tier: r.tier("tier")?,
        sender: r.get("sender")?,
        trust_class: r.parse("trust_class")?,
        channel: r.get("channel")?,
        outcome: r.parse("outcome")?,
        reason: r.get("reason")?,
        trace_id: r.get("trace_id")?,
        task_id: r.get("task_id")?,
        created_at: r.ts("created_at")?,
    })
}

impl Timeline {
    /// Stores one decision; returns its row id.
    pub async fn record_decision(&self, d: &Decision) -> Result<i64> {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO policy_decisions (tool, tier, sender, trust_class, channel, outcome, \
             reason, trace_id, task_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(&d.tool)
        .bind(d.tier.map(|t| i64::from(u8::from(t))))
        .bind(&d.sender)
        .bind(d.trust_class.as_str())
        .bind(&d.channel)
        .bind(d.outcome.as_str())
        .bind(&d.reason)
        .bind(d.trace_id.as_deref())
        .bind(d.task_id.as_deref())
        .bind(ms(now()))
        .fetch_one(&self.pool)
        .await
        .map_err(db("recording a policy decision"))
    }

    /// Decisions matching the filter, newest first.
    pub async fn list_decisions(&self, filter: &DecisionFilter) -> Result<Vec<DecisionRecord>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM policy_decisions WHERE 1 = 1");
        if let Some(v) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.task_id {
            qb.push(" AND task_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.sender {
            qb.push(" AND sender = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.channel {
            qb.push(" AND channel = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.tool {
            qb.push(" AND tool = ").push_bind(v.clone());
        }
        if let Some(v) = filter.outcome {
            qb.push(" AND outcome = ").push_bind(v.as_str());
        }
        fetch_page(
            &self.pool,
            qb,
            "created_at DESC, id DESC",
            (filter.limit, filter.offset),
            "listing policy decisions",
            decision_from_row,
        )
        .await
    }
}

#[async_trait]
impl DecisionSink for Timeline {
    async fn record(&self, decision: &Decision) -> Result<(), SinkError> {
        self.record_decision(decision)
            .await
            .map(|_| ())
            .map_err(|e| Box::new(e) as SinkError)
    }
}
