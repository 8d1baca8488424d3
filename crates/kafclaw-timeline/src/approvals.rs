//! Approval requests: a tool call waiting for a human, and the human's answer.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kafclaw_policy::ToolTier;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

use crate::error::db;
use crate::row::{RowReader, fetch_page, json_text, ms, now, require};
use crate::{Error, Result, Timeline};

/// State of an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved; the tool may run.
    Approved,
    /// Denied.
    Denied,
    /// Nobody decided in time.
    Expired,
}

impl ApprovalStatus {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pending" => Ok(ApprovalStatus::Pending),
            "approved" => Ok(ApprovalStatus::Approved),
            "denied" => Ok(ApprovalStatus::Denied),
            "expired" => Ok(ApprovalStatus::Expired),
            other => Err(format!(
                "approval status must be pending, approved, denied or expired, got {other:?}"
            )),
        }
    }
}

/// A human's answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalAnswer {
    /// Run the tool.
    Approve,
    /// Do not run it.
    Deny,
}

/// An approval request to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// The task the tool call belongs to (must exist in `tasks` when given).
    pub task_id: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Tool tier.
    pub tier: Option<ToolTier>,
    /// The tool call's arguments.
    pub args: serde_json::Value,
    /// Who asked for the call.
    pub sender: String,
    /// Channel of the request.
    pub channel: String,
}

/// A stored approval request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    /// Random, unguessable id (UUIDv4).
    pub approval_id: String,
    /// Task id.
    pub task_id: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Tool name.
    pub tool: String,
    /// Tool tier.
    pub tier: Option<ToolTier>,
    /// Tool arguments.
    pub args: serde_json::Value,
    /// Requesting sender.
    pub sender: String,
    /// Channel.
    pub channel: String,
    /// Status.
    pub status: ApprovalStatus,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When it was decided or expired.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided (`None` for expiry).
    pub decided_by: Option<String>,
}

/// Filters for [`Timeline::list_approvals`]; combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalFilter {
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only this task.
    pub task_id: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

fn approval_from_row(row: &SqliteRow) -> Result<Approval> {
    let r = RowReader::new(row, "approvals");
    Ok(Approval {
        approval_id: r.get("approval_id")?,
        task_id: r.get("task_id")?,
        trace_id: r.get("trace_id")?,
        tool: r.get("tool")?,
        tier: r.tier("tier")?,
        args: r.json("args")?,
        sender: r.get("sender")?,
        channel: r.get("channel")?,
        status: r.parse("status")?,
        requested_at: r.ts("requested_at")?,
        decided_at: r.opt_ts("decided_at")?,
        decided_by: r.get("decided_by")?,
    })
}

impl Timeline {
    /// Stores a pending approval request with a fresh random id.
    pub async fn create_approval(&self, new: NewApproval) -> Result<Approval> {
        require("tool", &new.tool)?;
        let row = sqlx::query(
            "INSERT INTO approvals (approval_id, task_id, trace_id, tool, tier, args, sender, \
             channel, requested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(new.task_id.as_deref())
        .bind(new.trace_id.as_deref())
        .bind(&new.tool)
        .bind(new.tier.map(|t| i64::from(u8::from(t))))
        .bind(json_text("args", &new.args)?)
        .bind(&new.sender)
        .bind(&new.channel)
        .bind(ms(now()))
        .fetch_one(&self.pool)
        .await
        .map_err(db("creating an approval request"))?;
        approval_from_row(&row)
    }

    /// The approval request with this id.
    pub async fn get_approval(&self, approval_id: &str) -> Result<Option<Approval>> {
        let row = sqlx::query("SELECT * FROM approvals WHERE approval_id = ?")
            .bind(approval_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading an approval request"))?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// Records a human's answer. Only a pending request can be decided; a second answer
    /// gets [`Error::ApprovalNotPending`].
    pub async fn decide_approval(
        &self,
        approval_id: &str,
        answer: ApprovalAnswer,
        decided_by: &str,
    ) -> Result<Approval> {
        require("decided_by", decided_by)?;
        let status = match answer {
            ApprovalAnswer::Approve => ApprovalStatus::Approved,
            ApprovalAnswer::Deny => ApprovalStatus::Denied,
        };
        let row = sqlx::query(
            "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ? \
             WHERE approval_id = ? AND status = 'pending' RETURNING *",
        )
        .bind(status.as_str())
        .bind(ms(now()))
        .bind(decided_by)
        .bind(approval_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("deciding an approval request"))?;
        if let Some(row) = row {
            return approval_from_row(&row);
        }
        match self.get_approval(approval_id).await? {
            None => Err(Error::ApprovalNotFound {
                approval_id: approval_id.to_owned(),
            }),
            Some(a) => Err(Error::ApprovalNotPending {
                approval_id: approval_id.to_owned(),
                status: a.status,
            }),
        }
    }

    /// Marks pending requests made before `requested_before` as expired; returns them.
    pub async fn expire_approvals(&self, requested_before: DateTime<Utc>) -> Result<Vec<Approval>> {
        let rows = sqlx::query(
            "UPDATE approvals SET status = 'expired', decided_at = ? \
             WHERE status = 'pending' AND requested_at < ? RETURNING *",
        )
        .bind(ms(now()))
        .bind(ms(requested_before))
        .fetch_all(&self.pool)
        .await
        .map_err(db("expiring approval requests"))?;
        let mut out = rows
            .iter()
            .map(approval_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|a| a.requested_at);
        Ok(out)
    }

    /// Approval requests matching the filter, newest first.
    pub async fn list_approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM approvals WHERE 1 = 1");
        if let Some(v) = filter.status {
            qb.push(" AND status = ").push_bind(v.as_str());
        }
        if let Some(v) = &filter.task_id {
            qb.push(" AND task_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(v.clone());
        }
        fetch_page(
            &self.pool,
            qb,
            "requested_at DESC, approval_id",
            (filter.limit, filter.offset),
            "listing approval requests",
            approval_from_row,
        )
        .await
    }
}
