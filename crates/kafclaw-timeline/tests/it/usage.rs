//! Token usage and its sums; the quota check reads them.

use std::sync::Arc;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use kafclaw_policy::{PolicyConfig, PolicyEngine};
use kafclaw_timeline::{Error, NewUsage};

use crate::support::{new_task, open};

fn usage(tokens_in: u64, tokens_out: u64, at: chrono::DateTime<Utc>) -> NewUsage {
    NewUsage {
        task_id: None,
        provider: "anthropic".into(),
        model: "claude-sonnet".into(),
        tokens_in,
        tokens_out,
        cost_usd: 0.01,
        created_at: Some(at),
    }
}

#[tokio::test]
async fn usage_adds_up_on_the_task() {
    let t = open().await;
    let task = new_task(&t, "x").await;
    for (i, o) in [(100, 20), (50, 5)] {
        t.record_usage(NewUsage {
            task_id: Some(task.task_id.clone()),
            provider: "openai".into(),
            model: "gpt".into(),
            tokens_in: i,
            tokens_out: o,
            cost_usd: 0.5,
            created_at: None,
        })
        .await
        .unwrap();
    }
    let task = t.get_task(&task.task_id).await.unwrap().unwrap();
    assert_eq!((task.tokens_in, task.tokens_out), (150, 25));
    assert!((task.cost_usd - 1.0).abs() < 1e-9);
    let today = t.usage_today().await.unwrap();
    assert_eq!(today.calls, 2);
    assert_eq!(today.total_tokens(), 175);
}

#[tokio::test]
async fn day_and_month_boundaries_are_utc() {
    let t = open().await;
    let day = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
    t.record_usage(usage(1, 0, start - Duration::milliseconds(1)))
        .await
        .unwrap();
    t.record_usage(usage(10, 0, start)).await.unwrap();
    t.record_usage(usage(
        100,
        0,
        start + Duration::hours(23) + Duration::minutes(59),
    ))
    .await
    .unwrap();
    t.record_usage(usage(1000, 0, start + Duration::days(1)))
        .await
        .unwrap();

    let d = t.usage_on_day(day).await.unwrap();
    assert_eq!(d.calls, 2);
    assert_eq!(d.tokens_in, 110);
    assert!((d.cost_usd - 0.02).abs() < 1e-9);
    assert_eq!(t.usage_in_month(2026, 1).await.unwrap().tokens_in, 111);
    assert_eq!(t.usage_in_month(2026, 2).await.unwrap().tokens_in, 1000);
    assert_eq!(t.usage_in_month(2025, 12).await.unwrap().calls, 0);
    let err = t.usage_in_month(2026, 13).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { field: "month", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn per_model_breakdown() {
    let t = open().await;
    let now = Utc::now();
    t.record_usage(usage(10, 1, now)).await.unwrap();
    let mut other = usage(500, 50, now);
    other.provider = "openai".into();
    other.model = "gpt".into();
    t.record_usage(other).await.unwrap();
    let rows = t
        .usage_by_model(now - Duration::hours(1), now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].provider, "openai");
    assert_eq!(rows[0].usage.total_tokens(), 550);
    assert_eq!(rows[1].model, "claude-sonnet");
}

#[tokio::test]
async fn bad_usage_is_refused() {
    let t = open().await;
    let mut u = usage(1, 1, Utc::now());
    u.cost_usd = -1.0;
    assert!(matches!(
        t.record_usage(u).await.unwrap_err(),
        Error::InvalidInput {
            field: "cost_usd",
            ..
        }
    ));
    let mut u = usage(u64::MAX, 1, Utc::now());
    u.cost_usd = 0.0;
    assert!(matches!(
        t.record_usage(u).await.unwrap_err(),
        Error::InvalidInput {
            field: "tokens_in",
            ..
        }
    ));
    assert_eq!(t.usage_today().await.unwrap().calls, 0);
}

#[tokio::test]
async fn the_quota_check_reads_todays_usage() {
    let t = open().await;
    t.set_setting("daily_token_limit", "1000").await.unwrap();
    let engine = PolicyEngine::new(
        PolicyConfig {
            daily_token_limit: t.daily_token_limit().await.unwrap(),
            ..PolicyConfig::default()
        },
        Arc::new(t.tl.clone()),
    )
    .unwrap();
    t.record_usage(usage(600, 300, Utc::now())).await.unwrap();
    // Yesterday's usage does not count.
    t.record_usage(usage(5000, 0, Utc::now() - Duration::days(1)))
        .await
        .unwrap();
    let used = t.usage_today().await.unwrap().total_tokens();
    assert_eq!(used, 900);
    assert!(engine.check_quota(used, 100).is_ok());
    t.record_usage(usage(100, 0, Utc::now())).await.unwrap();
    let used = t.usage_today().await.unwrap().total_tokens();
    let err = engine.check_quota(used, 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("daily token quota exhausted: used 1000 of 1000"),
        "{err}"
    );
}
