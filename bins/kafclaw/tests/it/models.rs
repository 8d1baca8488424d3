//! `kafclaw models list|stats` through the real binary, with KAFCLAW_HOME in a temp dir;
//! the usage `stats` reads comes from real calls through the chat chain against a scripted
//! LLM server.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::{Duration, Utc};
use kafclaw_config::{Config, Environment};
use kafclaw_providers::{CallContext, ChatChain, ChatMessage, ChatRequest};
use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use kafclaw_timeline::{NewTask, NewUsage, Timeline, TimelineOptions};
use serde_json::{Value, json};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("kc");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
        Self { dir }
    }

    fn kafclaw_home(&self) -> PathBuf {
        self.dir.path().join("kc")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KAFCLAW_HOME", self.kafclaw_home())
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run kafclaw")
    }

    fn json(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let out = self.run(args, env);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    fn loaded_config(&self) -> Config {
        let env: Environment = [("KAFCLAW_HOME", self.kafclaw_home().display().to_string())]
            .into_iter()
            .collect();
        Config::load_from(&env).unwrap().config
    }

    async fn timeline(&self) -> Timeline {
        Timeline::open(TimelineOptions::new(
            self.kafclaw_home().join("timeline.db"),
        ))
        .await
        .unwrap()
    }
}

fn find<'a>(models: &'a Value, source: &str) -> &'a Value {
    models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["source"] == source)
        .unwrap_or_else(|| panic!("no model from {source}: {models:#}"))
}

#[test]
fn list_shows_each_model_with_its_source_provider_and_price() {
    let home = Home::new(&json!({
        "model": {
            "name": "anthropic/claude-sonnet-4-5",
            "fallbacks": ["openai/gpt-4o"],
            "taskRouting": {"coding": "openrouter/qwen/qwen-2.5-coder"},
        },
        "agents": {"list": [{"id": "ops", "model": {"primary": "groq/llama-3.3-70b"}}]},
        "observer": {"model": "acme/turbo"},
        "providers": {"anthropic": {"apiKey": "sk-ant-secret-value"}},
        "finops": {
            "enabled": true,
            "dailyBudget": 5,
            "pricing": {
                "anthropic": {"promptPer1kTokens": 0.003, "completionPer1kTokens": 0.015},
                "openai/gpt-4o": {"promptPer1kTokens": 0.0025, "completionPer1kTokens": 0.01},
            },
        },
    }));
    let out = home.run(&["models", "list", "--json"], &[]);
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("sk-ant-secret-value"),
        "keys are never printed"
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = &r["models"];

    let primary = find(models, "model.name");
    assert_eq!(primary["provider"], "claude");
    assert_eq!(primary["sentAs"], "claude-sonnet-4-5");
    assert_eq!(primary["ready"], true);
    assert_eq!(primary["pricing"]["key"], "finops.pricing.anthropic");
    assert_eq!(primary["pricing"]["completionPer1kTokens"], 0.015);

    let fallback = find(models, "model.fallbacks[0]");
    assert_eq!(fallback["ready"], false);
    assert_eq!(
        fallback["problem"],
        "provider \"openai\" has no API key: set providers.openai.apiKey (or the environment variable KAFCLAW_PROVIDERS_OPENAI_API_KEY)"
    );
    assert_eq!(fallback["pricing"]["key"], "finops.pricing.openai/gpt-4o");

    let coding = find(models, "model.taskRouting.coding");
    assert_eq!(coding["provider"], "openrouter");
    assert_eq!(coding["sentAs"], "qwen/qwen-2.5-coder");
    assert_eq!(coding["pricing"], Value::Null);

    let agent = find(models, "agents.list[ops].model.primary");
    assert_eq!(agent["provider"], "groq");

    let bad = find(models, "observer.model");
    assert_eq!(bad["ready"], false);
    assert!(
        bad["problem"]
            .as_str()
            .unwrap()
            .contains("unknown provider \"acme\""),
        "{bad}"
    );

    let claude = r["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "claude")
        .unwrap();
    assert_eq!(claude["configKey"], "providers.anthropic");
    assert_eq!(claude["apiKeySet"], true);
    assert_eq!(claude["apiBase"], "https://api.anthropic.com/v1");
    assert_eq!(r["finops"]["dailyBudget"], 5.0);

    // the environment variable makes openai usable
    let r = home.json(
        &["models", "list", "--json"],
        &[("KAFCLAW_PROVIDERS_OPENAI_API_KEY", "sk-from-env")],
    );
    assert_eq!(find(&r["models"], "model.fallbacks[0]")["ready"], true);

    let text = home.run(&["models", "list"], &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("anthropic/claude-sonnet-4-5  (from model.name)"),
        "{text}"
    );
    assert!(
        text.contains("provider openrouter, sent as qwen/qwen-2.5-coder"),
        "{text}"
    );
    assert!(
        text.contains("NOT USABLE: provider \"openai\" has no API key"),
        "{text}"
    );
}

async fn call(chain: &ChatChain, task_id: &str, text: &str) {
    chain
        .chat(
            &CallContext::for_task(task_id),
            ChatRequest::new(vec![ChatMessage::user(text)]),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn stats_report_usage_of_real_calls_per_model_and_day_with_budgets() {
    let server = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::text("one").with_usage(1000, 100),
            Reply::text("two").with_usage(2000, 300),
        ],
    )
    .await
    .unwrap();
    let home = Home::new(&json!({
        "model": {"name": "openai/gpt-4o"},
        "providers": {"openai": {"apiKey": "sk-test", "apiBase": server.base_url()}},
        "finops": {
            "enabled": true,
            "dailyBudget": 10,
            "monthlyBudget": 200,
            "pricing": {"openai": {"promptPer1kTokens": 1.0, "completionPer1kTokens": 2.0}},
        },
    }));
    let config = home.loaded_config();
    let tl = Arc::new(home.timeline().await);
    let task = tl
        .create_task(NewTask::new(
            "cli",
            "tester",
            kafclaw_policy::TrustClass::Owner,
            "q",
        ))
        .await
        .unwrap()
        .task
        .task_id;
    let chain = ChatChain::builder(&config)
        .ledger(tl.clone())
        .build()
        .unwrap();
    call(&chain, &task, "first").await;
    call(&chain, &task, "second").await;
    tl.record_usage(NewUsage {
        provider: "claude".into(),
        model: "claude-haiku".into(),
        tokens_in: 50,
        tokens_out: 5,
        cost_usd: 0.25,
        created_at: Some(Utc::now() - Duration::days(2)),
        ..NewUsage::default()
    })
    .await
    .unwrap();
    tl.set_setting("daily_token_limit", "100000").await.unwrap();
    tl.close().await;

    // today only: the two calls, 1000+2000 in, 100+300 out, cost 1.2 + 2.6
    let r = home.json(&["models", "stats", "--json"], &[]);
    assert_eq!(r["days"], 1);
    assert_eq!(r["models"].as_array().unwrap().len(), 1);
    let m = &r["models"][0];
    assert_eq!(
        (m["provider"].as_str(), m["model"].as_str()),
        (Some("openai"), Some("gpt-4o"))
    );
    assert_eq!(
        (
            m["calls"].as_u64(),
            m["tokensIn"].as_u64(),
            m["tokensOut"].as_u64()
        ),
        (Some(2), Some(3000), Some(400))
    );
    assert!((m["costUsd"].as_f64().unwrap() - 3.8).abs() < 1e-9, "{m}");
    let b = &r["budgets"];
    assert_eq!(
        b["dailyTokens"],
        json!({"used": 3400, "limit": 100000, "limitFrom": "setting daily_token_limit"})
    );
    assert!((b["dailyCostUsd"]["used"].as_f64().unwrap() - 3.8).abs() < 1e-9);
    assert_eq!(b["dailyCostUsd"]["limit"], 10.0);
    assert_eq!(b["monthlyCostUsd"]["limit"], 200.0);
    assert!(b["monthlyCostUsd"]["used"].as_f64().unwrap() >= 3.8);
    assert_eq!(b["finopsEnabled"], true);

    // three days: the older call appears in its own day and in the per-model list
    let r = home.json(&["models", "stats", "--days", "3", "--json"], &[]);
    let daily = r["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 3);
    let two_days_ago = (Utc::now() - Duration::days(2)).date_naive().to_string();
    assert_eq!(daily[0]["day"], two_days_ago.as_str());
    assert_eq!(daily[0]["calls"], 1);
    assert_eq!(daily[1]["calls"], 0);
    assert_eq!(daily[2]["calls"], 2);
    let models: Vec<&str> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["gpt-4o", "claude-haiku"]);
    assert_eq!(r["total"]["calls"], 3);

    let text = home.run(&["models", "stats", "--days", "3"], &[]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("openai/gpt-4o"), "{text}");
    assert!(text.contains(&two_days_ago), "{text}");
    assert!(
        text.contains("Daily tokens: 3400 of 100000 (setting daily_token_limit)"),
        "{text}"
    );

    assert_eq!(server.requests().len(), 2);
}

#[test]
fn stats_rejects_a_bad_day_count() {
    let home = Home::new(&json!({}));
    for days in ["0", "401", "x"] {
        let out = home.run(&["models", "stats", "--days", days], &[]);
        assert_eq!(out.status.code(), Some(2), "--days {days}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--days"),
            "the error names the flag"
        );
    }
}
