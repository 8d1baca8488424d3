//! The event log: what happened, with trace, span and parent span ids.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::db;
use crate::row::{MAX_LIMIT, RowReader, fetch_page, json_text, ms, now, require};
use crate::{Result, Timeline};

/// An event to append.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEvent {
    /// Kind of event (e.g. `message_in`, `llm_call`, `tool_call`, `security`). Required.
    pub event_type: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Span id.
    pub span_id: Option<String>,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// Sender id.
    pub sender: String,
    /// Channel.
    pub channel: String,
    /// Text content.
    pub content: String,
    /// Extra JSON (`Null` is stored as `{}`).
    pub metadata: serde_json::Value,
    /// Event time; now when `None` (set it when importing events from elsewhere).
    pub created_at: Option<DateTime<Utc>>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Row id (insertion order).
    pub id: i64,
    /// Unique event id (UUIDv7).
    pub event_id: String,
    /// Kind of event.
    pub event_type: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Span id.
    pub span_id: Option<String>,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// Sender id.
    pub sender: String,
    /// Channel.
    pub channel: String,
    /// Text content.
    pub content: String,
    /// Extra JSON.
    pub metadata: serde_json::Value,
    /// Event time.
    pub created_at: DateTime<Utc>,
}

/// Filters for [`Timeline::list_events`]; combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this sender.
    pub sender: Option<String>,
    /// Only this trace.
    pub trace_id: Option<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    /// Page size (default 100, capped at 1000).
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: u32,
}

fn event_from_row(row: &SqliteRow) -> Result<Event> {
    let r = RowReader::new(row, "events");
    Ok(Event {
        id: r.get("id")?,
        event_id: r.get("event_id")?,
        event_type: r.get("event_type")?,
        trace_id: r.get("trace_id")?,
        span_id: r.get("span_id")?,
        parent_span_id: r.get("parent_span_id")?,
        sender: r.get("sender")?,
        channel: r.get("channel")?,
        content: r.get("content")?,
        metadata: r.json("metadata")?,
        created_at: r.ts("created_at")?,
    })
}

pub(crate) async fn append(conn: &mut SqliteConnection, new: NewEvent) -> Result<Event> {
    require("event_type", &new.event_type)?;
    let metadata = if new.metadata.is_null() {
        "{}".to_owned()
    } else {
        json_text("metadata", &new.metadata)?
    };
    let row = sqlx::query(
        "INSERT INTO events (event_id, trace_id, span_id, parent_span_id, event_type, sender, \
         channel, content, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(new.trace_id)
    .bind(new.span_id)
    .bind(new.parent_span_id)
    .bind(new.event_type)
    .bind(new.sender)
    .bind(new.channel)
    .bind(new.content)
    .bind(metadata)
    .bind(ms(new.created_at.unwrap_or_else(now)))
    .fetch_one(&mut *conn)
    .await
    .map_err(db("appending an event"))?;
    event_from_row(&row)
}

impl Timeline {
    /// Appends an event to the log.
    pub async fn append_event(&self, new: NewEvent) -> Result<Event> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("appending an event"))?;
        append(&mut conn, new).await
    }

    /// Events matching the filter, newest first.
    pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM events WHERE 1 = 1");
        if let Some(v) = &filter.sender {
            qb.push(" AND sender = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.trace_id {
            qb.push(" AND trace_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.channel {
            qb.push(" AND channel = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.event_type {
            qb.push(" AND event_type = ").push_bind(v.clone());
        }
        if let Some(v) = filter.since {
            qb.push(" AND created_at >= ").push_bind(ms(v));
        }
        if let Some(v) = filter.until {
            qb.push(" AND created_at < ").push_bind(ms(v));
        }
        fetch_page(
            &self.pool,
            qb,
            "created_at DESC, id DESC",
            (filter.limit, filter.offset),
            "listing events",
            event_from_row,
        )
        .await
    }

    /// All events of one trace in time order (at most 1000).
    pub async fn trace_events(&self, trace_id: &str) -> Result<Vec<Event>> {
        let rows =
            sqlx::query("SELECT * FROM events WHERE trace_id = ? ORDER BY created_at, id LIMIT ?")
                .bind(trace_id)
                .bind(i64::from(MAX_LIMIT))
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading a trace"))?;
        rows.iter().map(event_from_row).collect()
    }
}
