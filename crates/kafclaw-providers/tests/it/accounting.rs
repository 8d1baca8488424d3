//! Usage and cost recorded per task in a real timeline; budgets and the daily token quota
//! refuse a call before anything is sent.

use chrono::Utc;
use kafclaw_config::{Config, Pricing};
use kafclaw_providers::{Action, CallContext, ChatChain, Error, Stage};
use kafclaw_testkit::{Reply, Wire};
use kafclaw_timeline::NewUsage;
use serde_json::json;

use crate::support::{Ledger, ask, config, point, server};

fn priced(c: &mut Config, key: &str, prompt: f64, completion: f64) {
    c.finops.enabled = true;
    c.finops.pricing.insert(
        key.into(),
        Pricing {
            prompt_per_1k_tokens: prompt,
            completion_per_1k_tokens: completion,
        },
    );
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn usage_and_cost_land_in_the_timeline_for_the_task() {
    let ledger = Ledger::new().await;
    let srv = server(
        Wire::OpenAi,
        vec![
            Reply::tool_call("get_weather", json!({"city": "Oslo"})).with_usage(1000, 200),
            Reply::text("rain").with_usage(500, 100),
            Reply::text("other task").with_usage(7, 3),
        ],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "openai", &srv);
    priced(&mut c, "openai/gpt-4o", 2.5, 10.0);
    let chain = ledger.chain(&c);

    let task = ledger.task("weather in Oslo?").await;
    let ctx = CallContext::for_task(&task);
    let first = chain.chat(&ctx, ask("weather in Oslo?")).await.unwrap();
    assert!(close(first.cost_usd.unwrap(), 4.5), "{:?}", first.cost_usd);
    let record = first
        .events
        .iter()
        .find(|e| e.stage == Stage::FinOps && e.action == Action::Record)
        .expect("a record event");
    assert_eq!(record.detail, "1000 tokens in, 200 out, 4.500000 USD");
    let second = chain.chat(&ctx, ask("and now?")).await.unwrap();
    assert!(close(second.cost_usd.unwrap(), 2.25));

    let other = ledger.task("something else").await;
    chain
        .chat(&CallContext::for_task(&other), ask("x"))
        .await
        .unwrap();

    let t = ledger.timeline.get_task(&task).await.unwrap().unwrap();
    assert_eq!((t.tokens_in, t.tokens_out), (1500, 300));
    assert!(close(t.cost_usd, 6.75), "{}", t.cost_usd);
    let o = ledger.timeline.get_task(&other).await.unwrap().unwrap();
    assert_eq!((o.tokens_in, o.tokens_out), (7, 3));

    let today = ledger.timeline.usage_today().await.unwrap();
    assert_eq!(today.calls, 3);
    let by_model = ledger
        .timeline
        .usage_by_model(
            Utc::now() - chrono::Duration::hours(1),
            Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(by_model.len(), 1);
    assert_eq!(
        (by_model[0].provider.as_str(), by_model[0].model.as_str()),
        ("openai", "gpt-4o")
    );
    assert_eq!(by_model[0].usage.calls, 3);
}

#[tokio::test]
async fn tokens_are_recorded_without_finops_and_cost_stays_zero() {
    let ledger = Ledger::new().await;
    let srv = server(Wire::Anthropic, vec![Reply::text("hi").with_usage(11, 4)]).await;
    let mut c = config();
    c.model.name = "anthropic/claude-haiku".into();
    point(&mut c, "anthropic", &srv);
    c.finops.pricing.insert(
        "claude".into(),
        Pricing {
            prompt_per_1k_tokens: 1.0,
            completion_per_1k_tokens: 1.0,
        },
    );
    let task = ledger.task("hi").await;
    let reply = ledger
        .chain(&c)
        .chat(&CallContext::for_task(&task), ask("hi"))
        .await
        .unwrap();
    assert_eq!(reply.cost_usd, None, "finops.enabled is off");
    let t = ledger.timeline.get_task(&task).await.unwrap().unwrap();
    assert_eq!((t.tokens_in, t.tokens_out, t.cost_usd), (11, 4, 0.0));
    let by_model = ledger
        .timeline
        .usage_by_model(
            Utc::now() - chrono::Duration::hours(1),
            Utc::now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(by_model[0].provider, "claude");
    assert_eq!(by_model[0].model, "claude-haiku");
}

#[tokio::test]
async fn an_exhausted_daily_budget_refuses_the_next_call_before_sending_it() {
    let ledger = Ledger::new().await;
    let srv = server(
        Wire::OpenAi,
        vec![
            Reply::text("first").with_usage(1000, 0),
            Reply::text("must not be used"),
        ],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "openai", &srv);
    priced(&mut c, "openai", 1.0, 1.0);
    c.finops.daily_budget = 1.0;
    let chain = ledger.chain(&c);
    chain
        .chat(&CallContext::default(), ask("one"))
        .await
        .unwrap();
    assert_eq!(srv.requests().len(), 1);

    let err = chain
        .chat(&CallContext::default(), ask("two"))
        .await
        .unwrap_err();
    match &err {
        Error::BudgetExceeded {
            budget,
            limit,
            spent,
            ..
        } => {
            assert_eq!(*budget, "finops.dailyBudget");
            assert!(close(*limit, 1.0) && close(*spent, 1.0));
        }
        other => panic!("expected BudgetExceeded, got {other:?}"),
    }
    assert!(err.to_string().contains("the call was not sent"), "{err}");
    assert_eq!(srv.requests().len(), 1, "nothing reached the server");
    assert_eq!(srv.remaining(), 1);
}

#[tokio::test]
async fn an_exhausted_monthly_budget_refuses_before_sending() {
    let ledger = Ledger::new().await;
    ledger
        .timeline
        .record_usage(NewUsage {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            tokens_in: 1,
            tokens_out: 1,
            cost_usd: 0.6,
            ..NewUsage::default()
        })
        .await
        .unwrap();
    let srv = server(Wire::OpenAi, vec![Reply::text("must not be used")]).await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "openai", &srv);
    priced(&mut c, "openai", 1.0, 1.0);
    c.finops.monthly_budget = 0.5;
    let err = ledger
        .chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded {
                budget: "finops.monthlyBudget",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(srv.requests().is_empty(), "nothing reached the server");
}

#[tokio::test]
async fn a_call_whose_prompt_alone_would_overrun_the_budget_is_refused() {
    let ledger = Ledger::new().await;
    let srv = server(Wire::OpenAi, vec![Reply::text("must not be used")]).await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "openai", &srv);
    priced(&mut c, "openai/gpt-4o", 100.0, 100.0);
    c.finops.daily_budget = 0.5;
    let long = "word ".repeat(400);
    let err = ledger
        .chain(&c)
        .chat(&CallContext::default(), ask(&long))
        .await
        .unwrap_err();
    let Error::BudgetExceeded {
        spent, estimated, ..
    } = err
    else {
        panic!("expected BudgetExceeded, got {err:?}");
    };
    assert_eq!(spent, 0.0);
    assert!(estimated > 0.5, "{estimated}");
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn the_daily_token_quota_refuses_before_sending() {
    let ledger = Ledger::new().await;
    let srv = server(
        Wire::OpenAi,
        vec![
            Reply::text("first").with_usage(80, 20),
            Reply::text("after reset"),
        ],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/m".into();
    point(&mut c, "openai", &srv);
    c.policy.daily_token_limit = 100;
    let chain = ledger.chain(&c);
    chain
        .chat(&CallContext::default(), ask("one"))
        .await
        .unwrap();

    let err = chain
        .chat(&CallContext::default(), ask("two"))
        .await
        .unwrap_err();
    match &err {
        Error::QuotaExceeded(q) => assert_eq!((q.used, q.limit), (100, 100)),
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("daily token quota exhausted: used 100 of 100 tokens today"),
        "{err}"
    );
    assert_eq!(srv.requests().len(), 1);

    // the runtime setting overrides the config value; 0 removes the quota
    ledger
        .timeline
        .set_setting("daily_token_limit", "0")
        .await
        .unwrap();
    chain
        .chat(&CallContext::default(), ask("three"))
        .await
        .unwrap();
    ledger
        .timeline
        .set_setting("daily_token_limit", "110")
        .await
        .unwrap();
    let err = chain
        .chat(&CallContext::default(), ask("four"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::QuotaExceeded(q) if q.limit == 110),
        "{err:?}"
    );
    assert_eq!(srv.requests().len(), 2);
}

#[test]
fn budgets_without_a_ledger_are_refused_at_build_time() {
    let mut c = config();
    c.finops.enabled = true;
    c.finops.daily_budget = 1.0;
    let err = ChatChain::builder(&c).build().err().unwrap();
    assert_eq!(
        err.to_string(),
        "finops: budgets need a usage ledger (the timeline) to read spending from"
    );
}
