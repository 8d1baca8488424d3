//! Group tasks this agent committed to work on (`group_open_tasks`): written with the
//! record that commits the agent (a request addressed to it, a request it claims, the
//! claim's outcome) and marked `done` once answered, so a restarted agent resumes what
//! a crash interrupted instead of leaving its requester to time out.

use chrono::Duration;
use sqlx::SqliteConnection;

use crate::error::db;
use crate::row::{RowReader, ms, now};
use crate::{Result, Timeline};

/// Where a committed group task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenTaskState {
    /// This agent's claim is sent; which claim wins is not read yet.
    Claimed,
    /// Addressed to this agent, or its claim won: it is this agent's to answer.
    Running,
}

impl OpenTaskState {
    fn as_str(self) -> &'static str {
        match self {
            OpenTaskState::Claimed => "claimed",
            OpenTaskState::Running => "running",
        }
    }
}

/// A committed group task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTask {
    /// The requester's task id.
    pub task_id: String,
    /// The group.
    pub group_name: String,
    /// The request as JSON (the group layer's `TaskRequest`).
    pub request: String,
    /// The W3C traceparent of the request's envelope.
    pub traceparent: Option<String>,
    /// Addressed to this agent (no claim).
    pub targeted: bool,
    /// Claimed or running.
    pub state: OpenTaskState,
}

/// How long a `done` row is kept (it stops a late `claimed`/`running` write of the same
/// task from reviving it).
const DONE_KEPT: Duration = Duration::days(1);

/// Records that this agent committed to `task` (inside a record's transaction): a
/// claimed task is inserted once; a running one is inserted, or a claimed one becomes
/// running. A task already `done` is left alone.
pub(crate) async fn save(conn: &mut SqliteConnection, task: &OpenTask) -> Result<()> {
    let sql = match task.state {
        OpenTaskState::Claimed => {
            "INSERT INTO group_open_tasks (task_id, group_name, request, traceparent, targeted, state, saved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task_id) DO NOTHING"
        }
        OpenTaskState::Running => {
            "INSERT INTO group_open_tasks (task_id, group_name, request, traceparent, targeted, state, saved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (task_id) DO UPDATE SET \
             state = 'running', saved_at = excluded.saved_at WHERE state = 'claimed'"
        }
    };
    sqlx::query(sql)
        .bind(&task.task_id)
        .bind(&task.group_name)
        .bind(&task.request)
        .bind(&task.traceparent)
        .bind(task.targeted)
        .bind(task.state.as_str())
        .bind(ms(now()))
        .execute(&mut *conn)
        .await
        .map_err(db("storing a committed group task"))?;
    Ok(())
}

/// Forgets a claim that lost (inside a record's transaction).
pub(crate) async fn drop_claim(conn: &mut SqliteConnection, task_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM group_open_tasks WHERE task_id = ? AND state = 'claimed'")
        .bind(task_id)
        .execute(&mut *conn)
        .await
        .map_err(db("forgetting a lost claim"))?;
    Ok(())
}

impl Timeline {
    /// Marks a committed group task answered (also when no row was written yet: a
    /// later write of it then changes nothing).
    pub async fn finish_open_task(&self, group: &str, task_id: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_open_tasks (task_id, group_name, request, targeted, state, saved_at) \
             VALUES (?1, ?2, '', 0, 'done', ?3) ON CONFLICT (task_id) DO UPDATE SET \
             state = 'done', request = '', saved_at = excluded.saved_at",
        )
        .bind(task_id)
        .bind(group)
        .bind(ms(now()))
        .execute(&self.pool)
        .await
        .map_err(db("marking a group task answered"))?;
        Ok(())
    }

    /// The claimed and running tasks of `group`, oldest first; drops `done` rows older
    /// than a day on the way.
    pub async fn open_tasks(&self, group: &str) -> Result<Vec<OpenTask>> {
        sqlx::query("DELETE FROM group_open_tasks WHERE state = 'done' AND saved_at < ?")
            .bind(ms(now() - DONE_KEPT))
            .execute(&self.pool)
            .await
            .map_err(db("pruning answered group tasks"))?;
        let rows = sqlx::query(
            "SELECT * FROM group_open_tasks WHERE group_name = ? AND state IN ('claimed', 'running') \
             ORDER BY saved_at, task_id",
        )
        .bind(group)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing committed group tasks"))?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "group_open_tasks");
                let state: String = r.get("state")?;
                Ok(OpenTask {
                    task_id: r.get("task_id")?,
                    group_name: r.get("group_name")?,
                    request: r.get("request")?,
                    traceparent: r.get("traceparent")?,
                    targeted: r.get("targeted")?,
                    state: if state == "claimed" {
                        OpenTaskState::Claimed
                    } else {
                        OpenTaskState::Running
                    },
                })
            })
            .collect()
    }
}
