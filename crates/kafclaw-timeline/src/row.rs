//! Small helpers shared by the table modules: time conversion, row decoding with
//! context, and page limits.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Decode, Row, Type};

use crate::{Error, Result};

/// Rows returned when a filter gives no limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page any list query returns, whatever the caller asks for.
pub const MAX_LIMIT: u32 = 1000;

pub(crate) fn now() -> DateTime<Utc> {
    // Stored at millisecond precision; truncate so returned values equal stored ones.
    ms_to_ts(Utc::now().timestamp_millis()).unwrap_or_else(Utc::now)
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn ms_to_ts(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// `(limit, offset)` as bound values, with the default and cap applied.
pub(crate) fn page(limit: Option<u32>, offset: u32) -> (i64, i64) {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    (i64::from(limit), i64::from(offset))
}

/// Finishes a filtered list query: orders it, applies the page (default and maximum
/// limit), runs it and converts the rows.
pub(crate) async fn fetch_page<T>(
    pool: &sqlx::SqlitePool,
    mut qb: sqlx::QueryBuilder<Sqlite>,
    order_by: &str,
    (limit, offset): (Option<u32>, u32),
    op: &'static str,
    from_row: fn(&SqliteRow) -> Result<T>,
) -> Result<Vec<T>> {
    let (limit, offset) = page(limit, offset);
    qb.push(" ORDER BY ")
        .push(order_by)
        .push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(crate::error::db(op))?;
    rows.iter().map(from_row).collect()
}

pub(crate) fn u64_to_i64(field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::InvalidInput {
        field,
        reason: format!("{v} is larger than {}", i64::MAX),
    })
}

pub(crate) fn require(field: &'static str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::InvalidInput {
            field,
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

pub(crate) fn json_text(field: &'static str, v: &serde_json::Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::InvalidInput {
        field,
        reason: e.to_string(),
    })
}

/// Decodes rows of one table, naming the table and column on failure.
pub(crate) struct RowReader<'r> {
    pub row: &'r SqliteRow,
    pub table: &'static str,
}

impl<'r> RowReader<'r> {
    pub fn new(row: &'r SqliteRow, table: &'static str) -> Self {
        Self { row, table }
    }

    fn corrupt(&self, column: &'static str, reason: impl Display) -> Error {
        Error::CorruptRow {
            table: self.table,
            column,
            reason: reason.to_string(),
        }
    }

    pub fn get<T>(&self, column: &'static str) -> Result<T>
    where
        T: Decode<'r, Sqlite> + Type<Sqlite>,
    {
        self.row
            .try_get(column)
            .map_err(|e| self.corrupt(column, e))
    }

    pub fn ts(&self, column: &'static str) -> Result<DateTime<Utc>> {
        let v: i64 = self.get(column)?;
        ms_to_ts(v).ok_or_else(|| self.corrupt(column, format!("{v} is not a valid time")))
    }

    pub fn opt_ts(&self, column: &'static str) -> Result<Option<DateTime<Utc>>> {
        let v: Option<i64> = self.get(column)?;
        v.map(|v| {
            ms_to_ts(v).ok_or_else(|| self.corrupt(column, format!("{v} is not a valid time")))
        })
        .transpose()
    }

    pub fn u64(&self, column: &'static str) -> Result<u64> {
        let v: i64 = self.get(column)?;
        u64::try_from(v).map_err(|_| self.corrupt(column, format!("{v} is negative")))
    }

    pub fn json(&self, column: &'static str) -> Result<serde_json::Value> {
        let v: String = self.get(column)?;
        serde_json::from_str(&v).map_err(|e| self.corrupt(column, e))
    }

    pub fn parse<T>(&self, column: &'static str) -> Result<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v: String = self.get(column)?;
        v.parse().map_err(|e| self.corrupt(column, e))
    }

    pub fn tier(&self, column: &'static str) -> Result<Option<kafclaw_policy::ToolTier>> {
        let v: Option<i64> = self.get(column)?;
        v.map(|v| {
            u8::try_from(v)
                .map_err(|_| format!("tool tier must be 0, 1 or 2, got {v}"))
                .and_then(kafclaw_policy::ToolTier::try_from)
                .map_err(|e| self.corrupt(column, e))
        })
        .transpose()
    }
}
