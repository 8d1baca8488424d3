//! Task writes that append their event in the same round trip to the database: creating
//! a task with its "message in" event, finishing one with its "message out" or "failed"
//! event. Each is one multi-statement query, so one hop to the connection's worker thread
//! instead of two or more; the task statement commits first and on its own, and the event
//! statement runs only when that one took effect. An event is a log entry: when it cannot
//! be stored, the task write stands, and the failure is logged.

use sqlx::SqliteConnection;

use crate::error::db;
use crate::row::{json_text, ms, now, require};
use crate::tasks::{CreatedTask, NewTask, Task, TaskStatus, task_from_row, transition_error};
use crate::{Error, NewEvent, Result, Timeline};

/// Checks an event before it is sent; returns its metadata as JSON text.
fn event_metadata(event: &NewEvent) -> Result<String> {
    require("event_type", &event.event_type)?;
    if event.metadata.is_null() {
        Ok("{}".to_owned())
    } else {
        json_text("metadata", &event.metadata)
    }
}

async fn task_by_id(conn: &mut SqliteConnection, task_id: &str) -> Result<Option<Task>> {
    let row = sqlx::query("SELECT * FROM tasks WHERE task_id = ?")
        .bind(task_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading a task"))?;
    row.as_ref().map(task_from_row).transpose()
}

impl Timeline {
    /// Like [`Timeline::create_task`], and when the task is new, appends the event that
    /// `event` makes for the new task's id right after it, in one round trip. The task is
    /// committed (durable) when this returns `Ok`, whatever became of the event; an
    /// existing task (same idempotency key or task id) is returned with `is_new = false`
    /// and no event is written.
    pub async fn create_task_with_event(
        &self,
        new: NewTask,
        event: impl FnOnce(&str) -> NewEvent,
    ) -> Result<CreatedTask> {
        crate::tasks::validate(&new)?;
        let task_id = new
            .task_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let ev = event(&task_id);
        let ev_meta = event_metadata(&ev)?;
        let t = ms(now());
        const SQL: &str = "INSERT INTO tasks (task_id, idempotency_key, trace_id, session_key, \
             channel, chat_id, sender, trust_class, content_in, metadata, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
             ON CONFLICT DO NOTHING RETURNING *; \
             INSERT INTO events (event_id, trace_id, span_id, parent_span_id, event_type, sender, \
             channel, content, metadata, created_at) \
             SELECT ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21 WHERE changes() = 1";
        let mut conn = self.pool.acquire().await.map_err(db("creating a task"))?;
        let rows = sqlx::query(SQL)
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
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(ev.trace_id)
            .bind(ev.span_id)
            .bind(ev.parent_span_id)
            .bind(&ev.event_type)
            .bind(ev.sender)
            .bind(ev.channel)
            .bind(ev.content)
            .bind(ev_meta)
            .bind(ms(ev.created_at.unwrap_or_else(now)))
            .fetch_all(&mut *conn)
            .await;
        match rows {
            Ok(rows) => match rows.first() {
                Some(row) => Ok(CreatedTask {
                    task: task_from_row(row)?,
                    is_new: true,
                }),
                None => match crate::tasks::find_existing(&mut conn, &new).await? {
                    Some(task) => Ok(CreatedTask {
                        task,
                        is_new: false,
                    }),
                    // Not inserted, and gone again (pruned) before the look-up.
                    None => Err(Error::TaskNotFound { task_id }),
                },
            },
            Err(e) => {
                // The task statement commits on its own: when it did, only the event failed.
                match task_by_id(&mut conn, &task_id).await? {
                    Some(task) if task.created_at.timestamp_millis() == t => {
                        tracing::warn!(task_id, event = %ev.event_type, error = %e, "the task was created; its event was not stored");
                        Ok(CreatedTask { task, is_new: true })
                    }
                    _ => Err(db("creating a task")(e)),
                }
            }
        }
    }

    /// Like [`Timeline::complete_task`], and then appends `event` with the task's
    /// committed totals (`tokens_in`, `tokens_out`, `cost_usd`, `attempts`) added to its
    /// metadata, in one round trip. The event is written only when the task was completed.
    pub async fn complete_task_with_event(
        &self,
        task_id: &str,
        content_out: &str,
        event: NewEvent,
    ) -> Result<Task> {
        self.finish_with_event(
            task_id,
            TaskStatus::Completed,
            Some(content_out),
            None,
            event,
        )
        .await
    }

    /// Like [`Timeline::fail_task`], with `event` as in
    /// [`Timeline::complete_task_with_event`].
    pub async fn fail_task_with_event(
        &self,
        task_id: &str,
        error: &str,
        event: NewEvent,
    ) -> Result<Task> {
        self.finish_with_event(task_id, TaskStatus::Failed, None, Some(error), event)
            .await
    }

    async fn finish_with_event(
        &self,
        task_id: &str,
        to: TaskStatus,
        content_out: Option<&str>,
        error: Option<&str>,
        ev: NewEvent,
    ) -> Result<Task> {
        let ev_meta = event_metadata(&ev)?;
        let t = ms(now());
        const SQL: &str = "UPDATE tasks SET status = ?1, content_out = COALESCE(?2, content_out), error = ?3, \
             updated_at = ?4, completed_at = ?4 \
             WHERE task_id = ?5 AND status = 'processing' RETURNING *; \
             INSERT INTO events (event_id, trace_id, span_id, parent_span_id, event_type, sender, \
             channel, content, metadata, created_at) \
             SELECT ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, json_patch(?14, json_object(\
             'tokens_in', tokens_in, 'tokens_out', tokens_out, 'cost_usd', cost_usd, \
             'attempts', attempts)), ?15 FROM tasks WHERE task_id = ?5 AND changes() = 1";
        let mut conn = self.pool.acquire().await.map_err(db("finishing a task"))?;
        let rows = sqlx::query(SQL)
            .bind(to.as_str())
            .bind(content_out)
            .bind(error)
            .bind(t)
            .bind(task_id)
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(ev.trace_id)
            .bind(ev.span_id)
            .bind(ev.parent_span_id)
            .bind(&ev.event_type)
            .bind(ev.sender)
            .bind(ev.channel)
            .bind(ev.content)
            .bind(ev_meta)
            .bind(ms(ev.created_at.unwrap_or_else(now)))
            .fetch_all(&mut *conn)
            .await;
        match rows {
            Ok(rows) => match rows.first() {
                Some(row) => task_from_row(row),
                None => Err(transition_error(&mut conn, task_id, to).await),
            },
            Err(e) => {
                // The task statement commits on its own: when it did, only the event failed.
                match task_by_id(&mut conn, task_id).await? {
                    Some(task)
                        if task.status == to
                            && task.completed_at.map(|c| c.timestamp_millis()) == Some(t) =>
                    {
                        tracing::warn!(task_id, event = %ev.event_type, error = %e, "the task was finished; its event was not stored");
                        Ok(task)
                    }
                    _ => Err(db("finishing a task")(e)),
                }
            }
        }
    }
}
