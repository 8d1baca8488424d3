//! Retention: deletes old rows from every log table, in small batches so writers are
//! never blocked for long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::error::db;
use crate::row::ms;
use crate::{Error, Result, Timeline};

const DAY: u64 = 24 * 60 * 60;
const BATCH: i64 = 5000;

/// How long each log table keeps rows (`None` = forever). `Default` gives the shipped
/// defaults; see `docs/timeline.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `events` by `created_at`.
    pub events: Option<Duration>,
    /// `tasks` in completed/failed state, by `updated_at`.
    pub tasks: Option<Duration>,
    /// `policy_decisions` by `created_at`.
    pub policy_decisions: Option<Duration>,
    /// Decided or expired `approvals`, by `requested_at` (pending ones are kept).
    pub approvals: Option<Duration>,
    /// `token_usage` by `created_at` (keep at least a month for the monthly sums).
    pub token_usage: Option<Duration>,
    /// `group_traces` by `created_at`.
    pub group_traces: Option<Duration>,
    /// `group_audit` by `created_at`.
    pub group_audit: Option<Duration>,
    /// `delegation_events` by `created_at`.
    pub delegation_events: Option<Duration>,
    /// `roster_history` by `happened_at`.
    pub roster_history: Option<Duration>,
    /// `seen_messages` by `first_seen`; must exceed the longest time a duplicate can
    /// still arrive (broker retention of the topics).
    pub seen_messages: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        let days = |n: u64| Some(Duration::from_secs(n * DAY));
        Self {
            events: days(30),
            tasks: days(30),
            policy_decisions: days(90),
            approvals: days(90),
            token_usage: days(400),
            group_traces: days(30),
            group_audit: days(90),
            delegation_events: days(30),
            roster_history: days(90),
            seen_messages: days(14),
        }
    }
}

impl Retention {
    /// Keeps everything.
    pub fn keep_all() -> Self {
        Self {
            events: None,
            tasks: None,
            policy_decisions: None,
            approvals: None,
            token_usage: None,
            group_traces: None,
            group_audit: None,
            delegation_events: None,
            roster_history: None,
            seen_messages: None,
        }
    }

    /// (table, time column, extra condition, max age) for every table.
    fn rules(&self) -> [(&'static str, &'static str, &'static str, Option<Duration>); 10] {
        [
            ("events", "created_at", "", self.events),
            (
                "tasks",
                "updated_at",
                " AND status IN ('completed', 'failed')",
                self.tasks,
            ),
            ("policy_decisions", "created_at", "", self.policy_decisions),
            (
                "approvals",
                "requested_at",
                " AND status <> 'pending'",
                self.approvals,
            ),
            ("token_usage", "created_at", "", self.token_usage),
            ("group_traces", "created_at", "", self.group_traces),
            ("group_audit", "created_at", "", self.group_audit),
            (
                "delegation_events",
                "created_at",
                "",
                self.delegation_events,
            ),
            ("roster_history", "happened_at", "", self.roster_history),
            ("seen_messages", "first_seen", "", self.seen_messages),
        ]
    }
}

/// Rows deleted per table by one prune.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// (table, rows deleted), for every table with a retention.
    pub deleted: Vec<(&'static str, u64)>,
}

impl PruneReport {
    /// Rows deleted from one table (0 if it was not pruned).
    pub fn deleted_from(&self, table: &str) -> u64 {
        self.deleted
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }

    /// Rows deleted in total.
    pub fn total(&self) -> u64 {
        self.deleted.iter().map(|(_, n)| n).sum()
    }
}

impl Timeline {
    /// Deletes rows older than the retention of each table, measured from now.
    pub async fn prune(&self, retention: &Retention) -> Result<PruneReport> {
        self.prune_at(Utc::now(), retention).await
    }

    /// Like [`Self::prune`], measuring ages from `now`.
    pub async fn prune_at(&self, now: DateTime<Utc>, retention: &Retention) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        for (table, column, extra, age) in retention.rules() {
            let Some(age) = age else { continue };
            let age = chrono::Duration::from_std(age).map_err(|_| Error::InvalidInput {
                field: "retention",
                reason: format!("{table}: {age:?} is too long"),
            })?;
            let cutoff = now.checked_sub_signed(age).map_or(i64::MIN, ms);
            // Table and column names come from the fixed list above, never from input.
            let sql = format!(
                "DELETE FROM {table} WHERE rowid IN \
                 (SELECT rowid FROM {table} WHERE {column} < ?{extra} LIMIT ?)"
            );
            let mut deleted = 0u64;
            loop {
                let done = sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(cutoff)
                    .bind(BATCH)
                    .execute(&self.pool)
                    .await
                    .map_err(db("pruning old rows"))?;
                deleted += done.rows_affected();
                if done.rows_affected() < BATCH as u64 {
                    break;
                }
            }
            if deleted > 0 {
                tracing::debug!(table, deleted, "pruned old rows");
            }
            report.deleted.push((table, deleted));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ApprovalAnswer, NewApproval, NewDelegation, NewEvent, NewGroupAudit, NewGroupSpan, NewTask,
        NewUsage, TimelineOptions,
    };
    use kafclaw_policy::{Decision, Outcome, TrustClass};

    const DAY_MS: i64 = 24 * 60 * 60 * 1000;

    /// Shifts every time column of `table` by `days` into the past.
    async fn age(tl: &Timeline, table: &str, column: &str, days: i64) {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET {column} = {column} - ?"
        )))
        .bind(days * DAY_MS)
        .execute(&tl.pool)
        .await
        .unwrap();
    }

    async fn count(tl: &Timeline, table: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&tl.pool)
            .await
            .unwrap()
    }

    async fn fill(tl: &Timeline, tag: &str) {
        tl.append_event(NewEvent {
            event_type: "test".into(),
            content: tag.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let done = tl
            .create_task(NewTask::new("cli", tag, TrustClass::Owner, tag))
            .await
            .unwrap()
            .task;
        tl.start_task(&done.task_id).await.unwrap();
        tl.complete_task(&done.task_id, "ok").await.unwrap();
        // A task that never finished: retention must keep it however old.
        tl.create_task(NewTask::new("cli", tag, TrustClass::Owner, "open"))
            .await
            .unwrap();
        tl.record_decision(&Decision {
            outcome: Outcome::Allow,
            reason: "allowed: test".into(),
            tool: "read_file".into(),
            tier: None,
            sender: tag.into(),
            trust_class: TrustClass::Owner,
            channel: "cli".into(),
            trace_id: None,
            task_id: None,
        })
        .await
        .unwrap();
        let decided = tl
            .create_approval(NewApproval {
                task_id: None,
                trace_id: None,
                tool: "exec".into(),
                tier: None,
                args: serde_json::json!({}),
                sender: tag.into(),
                channel: "cli".into(),
            })
            .await
            .unwrap();
        tl.decide_approval(&decided.approval_id, ApprovalAnswer::Deny, "op")
            .await
            .unwrap();
        // A pending approval: kept however old.
        tl.create_approval(NewApproval {
            task_id: None,
            trace_id: None,
            tool: "exec".into(),
            tier: None,
            args: serde_json::json!({}),
            sender: tag.into(),
            channel: "cli".into(),
        })
        .await
        .unwrap();
        tl.record_usage(NewUsage {
            provider: "p".into(),
            model: "m".into(),
            tokens_in: 1,
            ..Default::default()
        })
        .await
        .unwrap();
        tl.record_group_span(NewGroupSpan {
            trace_id: "t".into(),
            span_id: format!("span-{tag}"),
            source_agent_id: "a".into(),
            span_type: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        tl.record_group_audit(NewGroupAudit {
            event_id: format!("audit-{tag}"),
            agent_id: "a".into(),
            action: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        tl.record_delegation(NewDelegation {
            task_id: format!("task-{tag}"),
            event_type: "request".into(),
            sender_id: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        tl.upsert_member(crate::MemberUpdate {
            agent_id: format!("agent-{tag}"),
            identity: serde_json::json!({}),
            role: "member".into(),
            zone: None,
            status: "active".into(),
            seen_at: None,
        })
        .await
        .unwrap();
        tl.begin_record("me", "topic", 0, 0, Some(&format!("msg-{tag}")))
            .await
            .unwrap()
            .commit()
            .await
            .unwrap();
    }

    const TABLES: [(&str, &str); 10] = [
        ("events", "created_at"),
        ("tasks", "updated_at"),
        ("policy_decisions", "created_at"),
        ("approvals", "requested_at"),
        ("token_usage", "created_at"),
        ("group_traces", "created_at"),
        ("group_audit", "created_at"),
        ("delegation_events", "created_at"),
        ("roster_history", "happened_at"),
        ("seen_messages", "first_seen"),
    ];

    #[tokio::test]
    async fn prune_deletes_old_rows_of_every_log_table_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        fill(&tl, "old").await;
        for (table, column) in TABLES {
            age(&tl, table, column, 500).await;
        }
        fill(&tl, "new").await;
        let before: Vec<i64> = {
            let mut v = Vec::new();
            for (t, _) in TABLES {
                v.push(count(&tl, t).await);
            }
            v
        };

        // Nothing is old enough for a keep-all policy.
        let report = tl.prune(&Retention::keep_all()).await.unwrap();
        assert_eq!(report.total(), 0);

        let report = tl.prune(&Retention::default()).await.unwrap();
        for ((table, _), before) in TABLES.into_iter().zip(before) {
            let after = count(&tl, table).await;
            let expected_deleted = match table {
                // Only the finished task and the decided approval of the old batch go.
                "tasks" | "approvals" => 1,
                _ => before / 2,
            };
            assert_eq!(
                report.deleted_from(table) as i64,
                expected_deleted,
                "{table}"
            );
            assert_eq!(after, before - expected_deleted, "{table}");
        }
        // The roster itself is state, not a log: members stay.
        assert_eq!(count(&tl, "group_members").await, 2);
    }

    #[tokio::test]
    async fn prune_respects_each_tables_own_age() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        fill(&tl, "a").await;
        for (table, column) in TABLES {
            age(&tl, table, column, 20).await;
        }
        // 20 days old: past seen_messages' 14 days, within every other default.
        let report = tl.prune(&Retention::default()).await.unwrap();
        assert_eq!(report.deleted_from("seen_messages"), 1);
        assert_eq!(report.total(), 1);

        // A custom policy: events after 10 days only.
        let custom = Retention {
            events: Some(Duration::from_secs(10 * DAY)),
            ..Retention::keep_all()
        };
        let report = tl.prune(&custom).await.unwrap();
        assert_eq!(report.deleted_from("events"), 1);
        assert_eq!(report.total(), 1);
    }

    #[tokio::test]
    async fn prune_works_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(TimelineOptions::new(dir.path().join("t.db")))
            .await
            .unwrap();
        let n = BATCH + 17;
        sqlx::query(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) \
             INSERT INTO events (event_id, event_type, created_at) SELECT 'e' || i, 'x', 0 FROM seq",
        )
        .bind(n)
        .execute(&tl.pool)
        .await
        .unwrap();
        let report = tl
            .prune(&Retention {
                events: Some(Duration::from_secs(DAY)),
                ..Retention::keep_all()
            })
            .await
            .unwrap();
        assert_eq!(report.deleted_from("events") as i64, n);
        assert_eq!(count(&tl, "events").await, 0);
    }
}
