//! Token usage per model call, with sums per UTC day and month (the daily quota reads
//! `usage_today`).

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::error::db;
use crate::row::{RowReader, ms, now, require, u64_to_i64};
use crate::{Error, Result, Timeline};

/// One model call's usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUsage {
    /// The task the call served; its token and cost totals are increased too.
    pub task_id: Option<String>,
    /// Provider id (e.g. `anthropic`).
    pub provider: String,
    /// Model name as sent to the provider.
    pub model: String,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Completion tokens.
    pub tokens_out: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Call time; now when `None`.
    pub created_at: Option<DateTime<Utc>>,
}

/// Summed usage over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UsageSum {
    /// Number of model calls.
    pub calls: u64,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Completion tokens.
    pub tokens_out: u64,
    /// Cost in USD.
    pub cost_usd: f64,
}

impl UsageSum {
    /// Prompt plus completion tokens (what the daily quota counts).
    pub fn total_tokens(&self) -> u64 {
        self.tokens_in.saturating_add(self.tokens_out)
    }
}

/// Usage of one provider/model over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsage {
    /// Provider id.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// The sums.
    pub usage: UsageSum,
}

pub(crate) async fn record(conn: &mut SqliteConnection, u: NewUsage) -> Result<i64> {
    require("provider", &u.provider)?;
    require("model", &u.model)?;
    if !u.cost_usd.is_finite() || u.cost_usd < 0.0 {
        return Err(Error::InvalidInput {
            field: "cost_usd",
            reason: format!("{} is not a non-negative amount", u.cost_usd),
        });
    }
    let tokens_in = u64_to_i64("tokens_in", u.tokens_in)?;
    let tokens_out = u64_to_i64("tokens_out", u.tokens_out)?;
    // One multi-statement query (one trip to the connection's worker thread); the caller
    // runs it in a transaction, so both rows change together.
    let row = sqlx::query(
        "INSERT INTO token_usage (task_id, provider, model, tokens_in, tokens_out, cost_usd, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id; \
         UPDATE tasks SET tokens_in = tokens_in + ?4, tokens_out = tokens_out + ?5, \
         cost_usd = cost_usd + ?6, updated_at = ?8 WHERE ?1 IS NOT NULL AND task_id = ?1",
    )
    .bind(u.task_id.as_deref())
    .bind(&u.provider)
    .bind(&u.model)
    .bind(tokens_in)
    .bind(tokens_out)
    .bind(u.cost_usd)
    .bind(ms(u.created_at.unwrap_or_else(now)))
    .bind(ms(now()))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("recording token usage"))?;
    let id = row
        .first()
        .ok_or_else(|| db("recording token usage")(sqlx::Error::RowNotFound))
        .and_then(|r| sqlx::Row::try_get::<i64, _>(r, 0).map_err(db("recording token usage")))?;
    Ok(id)
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

fn next_day(d: NaiveDate) -> Result<NaiveDate> {
    d.succ_opt().ok_or_else(|| Error::InvalidInput {
        field: "date",
        reason: format!("{d} is the last representable day"),
    })
}

impl Timeline {
    /// Stores one model call's usage and adds it to its task's totals, atomically.
    pub async fn record_usage(&self, usage: NewUsage) -> Result<i64> {
        let mut tx = self.write_tx("recording token usage").await?;
        let id = record(&mut tx, usage).await?;
        tx.commit().await.map_err(db("committing token usage"))?;
        Ok(id)
    }

    /// Usage of calls made in `[from, to)`.
    pub async fn usage_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<UsageSum> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS calls, COALESCE(SUM(tokens_in), 0) AS tokens_in, \
             COALESCE(SUM(tokens_out), 0) AS tokens_out, COALESCE(SUM(cost_usd), 0.0) AS cost_usd \
             FROM token_usage WHERE created_at >= ? AND created_at < ?",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_one(&self.pool)
        .await
        .map_err(db("summing token usage"))?;
        let r = RowReader::new(&row, "token_usage");
        Ok(UsageSum {
            calls: r.u64("calls")?,
            tokens_in: r.u64("tokens_in")?,
            tokens_out: r.u64("tokens_out")?,
            cost_usd: r.get("cost_usd")?,
        })
    }

    /// Usage on one UTC calendar day.
    pub async fn usage_on_day(&self, day: NaiveDate) -> Result<UsageSum> {
        self.usage_between(day_start(day), day_start(next_day(day)?))
            .await
    }

    /// Usage so far in the current UTC day (what the daily quota compares with).
    pub async fn usage_today(&self) -> Result<UsageSum> {
        self.usage_on_day(Utc::now().date_naive()).await
    }

    /// Usage in one UTC calendar month (`month` 1..=12).
    pub async fn usage_in_month(&self, year: i32, month: u32) -> Result<UsageSum> {
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(|| Error::InvalidInput {
            field: "month",
            reason: format!("{year}-{month} is not a valid month"),
        })?;
        let next = first
            .checked_add_months(Months::new(1))
            .ok_or_else(|| Error::InvalidInput {
                field: "month",
                reason: format!("{year}-{month} is the last representable month"),
            })?;
        self.usage_between(day_start(first), day_start(next)).await
    }

    /// Usage so far in the current UTC month.
    pub async fn usage_this_month(&self) -> Result<UsageSum> {
        let today = Utc::now().date_naive();
        self.usage_in_month(today.year(), today.month()).await
    }

    /// Usage in `[from, to)` per provider and model, largest token count first.
    pub async fn usage_by_model(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ModelUsage>> {
        let rows = sqlx::query(
            "SELECT provider, model, COUNT(*) AS calls, SUM(tokens_in) AS tokens_in, \
             SUM(tokens_out) AS tokens_out, SUM(cost_usd) AS cost_usd FROM token_usage \
             WHERE created_at >= ? AND created_at < ? GROUP BY provider, model \
             ORDER BY SUM(tokens_in) + SUM(tokens_out) DESC, provider, model",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await
        .map_err(db("summing token usage per model"))?;
        rows.iter()
            .map(|row| {
                let r = RowReader::new(row, "token_usage");
                Ok(ModelUsage {
                    provider: r.get("provider")?,
                    model: r.get("model")?,
                    usage: UsageSum {
                        calls: r.u64("calls")?,
                        tokens_in: r.u64("tokens_in")?,
                        tokens_out: r.u64("tokens_out")?,
                        cost_usd: r.get("cost_usd")?,
                    },
                })
            })
            .collect()
    }
}
