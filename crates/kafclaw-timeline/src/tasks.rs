//! Tasks: the durable unit of work, with idempotency keys, the status machine
//! pending → processing → completed | failed, delivery status and token totals.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kafclaw_policy::TrustClass;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::db;
use crate::row::{RowReader, fetch_page, json_text, ms, now, require};
use crate::{Error, Result, Timeline};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Queued, not started (or put back after a crash).
    Pending,
    /// An agent is working on it.
    Processing,
    /// Finished with an answer.
    Completed,
    /// Finished with an error.
    Failed,
}

impl TaskStatus {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Processing => "processing",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }

    /// Whether the status machine allows `self → to` through the public API.
    /// (Crash recovery additionally moves processing → pending.)
    pub fn can_become(self, to: TaskStatus) -> bool {
        matches!(
            (self, to),
            (TaskStatus::Pending, TaskStatus::Processing)
                | (TaskStatus::Processing, TaskStatus::Completed)
                | (TaskStatus::Processing, TaskStatus::Failed)
        )
    }

    /// Completed or failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pending" => Ok(TaskStatus::Pending),
            "processing" => Ok(TaskStatus::Processing),
            "completed" => Ok(TaskStatus::Completed),
            "failed" => Ok(TaskStatus::Failed),
            other => Err(format!(
                "task status must be pending, processing, completed or failed, got {other:?}"
            )),
        }
    }
}

/// Whether the answer reached the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet sent.
    Pending,
    /// Sent.
    Sent,
    /// Sending failed (may be retried).
    Failed,
    /// Nothing to deliver (e.g. a silent channel).
    NotRequired,
}

impl DeliveryStatus {
    /// The stored text form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::NotRequired => "not_required",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            "not_required" => Ok(DeliveryStatus::NotRequired),
            other => Err(format!(
                "delivery status must be pending, sent, failed or not_required, got {other:?}"
            )),
        }
    }
}

/// A task to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Task id; generated (UUIDv7) when `None`. A given id that already exists returns
    /// the existing task instead of creating one.
    pub task_id: Option<String>,
    /// De-duplication key (e.g. `auto:{channel}:{message id}`); a second create with the
    /// same key returns the first task.
    pub idempotency_key: Option<String>,
    /// Trace id of the request.
    pub trace_id: Option<String>,
    /// Session the task belongs to (tasks of one session are processed in order).
    pub session_key: Option<String>,
    /// Channel the request came in on.
    pub channel: String,
    /// Chat/conversation id within the channel, where the answer goes.
    pub chat_id: Option<String>,
    /// Sender id.
    pub sender: String,
    /// Sender trust class, fixed for the task's life.
    pub trust_class: TrustClass,
    /// The request text.
    pub content_in: String,
    /// Anything else the agent needs to resume the task (JSON object).
    pub metadata: serde_json::Value,
}

impl NewTask {
    /// A task with the required fields; the rest empty.
    pub fn new(
        channel: impl Into<String>,
        sender: impl Into<String>,
        trust_class: TrustClass,
        content_in: impl Into<String>,
    ) -> Self {
        Self {
            task_id: None,
            idempotency_key: None,
            trace_id: None,
            session_key: None,
            channel: channel.into(),
            chat_id: None,
            sender: sender.into(),
            trust_class,
            content_in: content_in.into(),
            metadata: serde_json::Value::Object(Default::default()),
        }
    }
}

/// A stored task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    /// Row id (insertion order).
    pub id: i64,
    /// Task id.
    pub task_id: String,
    /// Idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Session key.
    pub session_key: Option<String>,
    /// Channel.
    pub channel: String,
    /// Chat id.
    pub chat_id: Option<String>,
    /// Sender id.
    pub sender: String,
    /// Sender trust class.
    pub trust_class: TrustClass,
    /// Status.
    pub status: TaskStatus,
    /// How many times the task was started.
    pub attempts: u32,
    /// Request text.
    pub content_in: String,
    /// Answer text, once completed.
    pub content_out: Option<String>,
    /// Error text, once failed.
    pub error: Option<String>,
    /// Prompt tokens, summed over the task's model calls.
    pub tokens_in: u64,
    /// Completion tokens, summed over the task's model calls.
    pub tokens_out: u64,
    /// Cost in USD, summed over the task's model calls.
    pub cost_usd: f64,
    /// Delivery status of the answer.
    pub delivery_status: DeliveryStatus,
    /// How many delivery attempts were recorded.
    pub delivery_attempts: u32,
    /// Last delivery error.
    pub delivery_error: Option<String>,
    /// Agent-defined JSON.
    pub metadata: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// Result of [`Timeline::create_task`].
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedTask {
    /// The new task, or the one that already had the idempotency key / task id.
    pub task: Task,
    /// False when an existing task was returned.
    pub is_new: bool,
}

/// Filters for [`Timeline::list_tasks`]; all optional, combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    /// Only this status.
    pub status: Option<TaskStatus>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this sender.
    pub sender: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only this session.
    pub session_key: Option<String>,
    /// Only this delivery status.
    pub delivery_status: Option<DeliveryStatus>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

pub(crate) fn task_from_row(row: &SqliteRow) -> Result<Task> {
    let r = RowReader::new(row, "tasks");
    Ok(Task {
        id: r.get("id")?,
        task_id: r.get("task_id")?,
        idempotency_key: r.get("idempotency_key")?,
        trace_id: r.get("trace_id")?,
        session_key: r.get("session_key")?,
        channel: r.get("channel")?,
        chat_id: r.get("chat_id")?,
        sender: r.get("sender")?,
        trust_class: r.parse("trust_class")?,
        status: r.parse("status")?,
        attempts: r.get("attempts")?,
        content_in: r.get("content_in")?,
        content_out: r.get("content_out")?,
        error: r.get("error")?,
        tokens_in: r.u64("tokens_in")?,
        tokens_out: r.u64("tokens_out")?,
        cost_usd: r.get("cost_usd")?,
        delivery_status: r.parse("delivery_status")?,
        delivery_attempts: r.get("delivery_attempts")?,
        delivery_error: r.get("delivery_error")?,
        metadata: r.json("metadata")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        completed_at: r.opt_ts("completed_at")?,
    })
}

pub(crate) async fn find_existing(
    conn: &mut SqliteConnection,
    new: &NewTask,
) -> Result<Option<Task>> {
    let row = sqlx::query(
        "SELECT * FROM tasks WHERE (?1 IS NOT NULL AND idempotency_key = ?1) \
         OR (?2 IS NOT NULL AND task_id = ?2) ORDER BY id LIMIT 1",
    )
    .bind(new.idempotency_key.as_deref())
    .bind(new.task_id.as_deref())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("looking up a task by idempotency key"))?;
    row.as_ref().map(task_from_row).transpose()
}

/// Checks a task before it is created.
pub(crate) fn validate(new: &NewTask) -> Result<()> {
    require("channel", &new.channel)?;
    if let Some(k) = &new.idempotency_key {
        require("idempotency_key", k)?;
    }
    if let Some(id) = &new.task_id {
        require("task_id", id)?;
    }
    if !new.metadata.is_object() {
        return Err(Error::InvalidInput {
            field: "metadata",
            reason: "must be a JSON object".into(),
        });
    }
    Ok(())
}

/// Creates a task, or returns the existing one with the same idempotency key or task id.
/// Must run inside a `BEGIN IMMEDIATE` transaction.
pub(crate) async fn create(conn: &mut SqliteConnection, new: NewTask) -> Result<CreatedTask> {
    validate(&new)?;
    if let Some(task) = find_existing(conn, &new).await? {
        return Ok(CreatedTask {
            task,
            is_new: false,
        });
    }
    let task_id = new
        .task_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let t = ms(now());
    let row = sqlx::query(
        "INSERT INTO tasks (task_id, idempotency_key, trace_id, session_key, channel, chat_id, \
         sender, trust_class, content_in, metadata, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(&task_id)
    .bind(new.idempotency_key.as_deref())
    .bind(new.trace_id.as_deref())
    .bind(new.session_key.as_deref())
    .bind(&new.channel)
    .bind(new.chat_id.as_deref())
    .bind(&new.sender)
    .bind(new.trust_class.as_str())
    .bind(&new.content_in)
    .bind(json_text("metadata", &new.metadata)?)
    .bind(t)
    .bind(t)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("creating a task"))?;
    Ok(CreatedTask {
        task: task_from_row(&row)?,
        is_new: true,
    })
}

pub(crate) async fn transition_error(
    conn: &mut SqliteConnection,
    task_id: &str,
    to: TaskStatus,
) -> Error {
    let current = sqlx::query_scalar::<_, String>("SELECT status FROM tasks WHERE task_id = ?")
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await;
    match current {
        Ok(None) => Error::TaskNotFound {
            task_id: task_id.to_owned(),
        },
        Ok(Some(s)) => match s.parse::<TaskStatus>() {
            Ok(from) => Error::InvalidTransition {
                task_id: task_id.to_owned(),
                from,
                to,
            },
            Err(reason) => Error::CorruptRow {
                table: "tasks",
                column: "status",
                reason,
            },
        },
        Err(e) => db("reading a task's status")(e),
    }
}

/// Moves processing tasks back to pending, or to failed once they used `max_attempts`.
pub(crate) async fn recover_processing(
    conn: &mut SqliteConnection,
    max_attempts: i64,
) -> Result<(Vec<Task>, Vec<Task>)> {
    let t = ms(now());
    let failed = sqlx::query(
        "UPDATE tasks SET status = 'failed', \
         error = 'interrupted by restart after ' || attempts || ' attempts', \
         updated_at = ?1, completed_at = ?1 \
         WHERE status = 'processing' AND attempts >= ?2 RETURNING *",
    )
    .bind(t)
    .bind(max_attempts)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("failing interrupted tasks"))?;
    let requeued = sqlx::query(
        "UPDATE tasks SET status = 'pending', updated_at = ?1 \
         WHERE status = 'processing' RETURNING *",
    )
    .bind(t)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("re-queueing interrupted tasks"))?;
    let mut requeued = requeued
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>>>()?;
    let mut failed = failed
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>>>()?;
    requeued.sort_by_key(|t| t.id);
    failed.sort_by_key(|t| t.id);
    Ok((requeued, failed))
}

impl Timeline {
    /// Creates a task (status pending) unless one with the same idempotency key or task
    /// id exists, in which case that one is returned with `is_new = false`.
    pub async fn create_task(&self, new: NewTask) -> Result<CreatedTask> {
        let mut tx = self.write_tx("creating a task").await?;
        let created = create(&mut tx, new).await?;
        tx.commit().await.map_err(db("committing a new task"))?;
        Ok(created)
    }

    /// The task with this id.
    pub async fn get_task(&self, task_id: &str) -> Result<Option<Task>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE task_id = ?")
            .bind(task_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a task"))?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// The task with this idempotency key.
    pub async fn get_task_by_idempotency_key(&self, key: &str) -> Result<Option<Task>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE idempotency_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading a task by idempotency key"))?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Tasks matching the filter, newest first.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM tasks WHERE 1 = 1");
        if let Some(s) = filter.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(c) = &filter.channel {
            qb.push(" AND channel = ").push_bind(c.clone());
        }
        if let Some(s) = &filter.sender {
            qb.push(" AND sender = ").push_bind(s.clone());
        }
        if let Some(t) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(t.clone());
        }
        if let Some(s) = &filter.session_key {
            qb.push(" AND session_key = ").push_bind(s.clone());
        }
        if let Some(d) = filter.delivery_status {
            qb.push(" AND delivery_status = ").push_bind(d.as_str());
        }
        fetch_page(
            &self.pool,
            qb,
            "created_at DESC, id DESC",
            (filter.limit, filter.offset),
            "listing tasks",
            task_from_row,
        )
        .await
    }

    /// Counts tasks per status.
    pub async fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db("counting tasks"))?;
        rows.into_iter()
            .map(|(s, n)| {
                let status = s.parse().map_err(|reason| Error::CorruptRow {
                    table: "tasks",
                    column: "status",
                    reason,
                })?;
                Ok((status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// pending → processing; counts an attempt.
    pub async fn start_task(&self, task_id: &str) -> Result<Task> {
        let mut conn = self.pool.acquire().await.map_err(db("starting a task"))?;
        let row = sqlx::query(
            "UPDATE tasks SET status = 'processing', attempts = attempts + 1, updated_at = ? \
             WHERE task_id = ? AND status = 'pending' RETURNING *",
        )
        .bind(ms(now()))
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("starting a task"))?;
        match row {
            Some(row) => task_from_row(&row),
            None => Err(transition_error(&mut conn, task_id, TaskStatus::Processing).await),
        }
    }

    /// processing → completed, with the answer.
    pub async fn complete_task(&self, task_id: &str, content_out: &str) -> Result<Task> {
        self.finish(task_id, TaskStatus::Completed, Some(content_out), None)
            .await
    }

    /// processing → failed, with the error text.
    pub async fn fail_task(&self, task_id: &str, error: &str) -> Result<Task> {
        self.finish(task_id, TaskStatus::Failed, None, Some(error))
            .await
    }

    async fn finish(
        &self,
        task_id: &str,
        to: TaskStatus,
        content_out: Option<&str>,
        error: Option<&str>,
    ) -> Result<Task> {
        let mut conn = self.pool.acquire().await.map_err(db("finishing a task"))?;
        let t = ms(now());
        let row = sqlx::query(
            "UPDATE tasks SET status = ?1, content_out = COALESCE(?2, content_out), error = ?3, \
             updated_at = ?4, completed_at = ?4 \
             WHERE task_id = ?5 AND status = 'processing' RETURNING *",
        )
        .bind(to.as_str())
        .bind(content_out)
        .bind(error)
        .bind(t)
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("finishing a task"))?;
        match row {
            Some(row) => task_from_row(&row),
            None => Err(transition_error(&mut conn, task_id, to).await),
        }
    }

    /// Records a delivery attempt's result (counts the attempt unless `status` is
    /// pending or not_required).
    pub async fn set_delivery(
        &self,
        task_id: &str,
        status: DeliveryStatus,
        error: Option<&str>,
    ) -> Result<Task> {
        let counts = matches!(status, DeliveryStatus::Sent | DeliveryStatus::Failed);
        let row = sqlx::query(
            "UPDATE tasks SET delivery_status = ?, delivery_error = ?, \
             delivery_attempts = delivery_attempts + ?, updated_at = ? \
             WHERE task_id = ? RETURNING *",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(i64::from(counts))
        .bind(ms(now()))
        .bind(task_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("recording a delivery"))?;
        match row {
            Some(row) => task_from_row(&row),
            None => Err(Error::TaskNotFound {
                task_id: task_id.to_owned(),
            }),
        }
    }
}
