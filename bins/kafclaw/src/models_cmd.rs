//! `kafclaw models list|stats`: the configured providers and model strings (with where each
//! comes from and its price), and token usage and cost from the timeline with budget use.

use std::process::ExitCode;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use kafclaw_config::{Config, LoadedConfig};
use kafclaw_providers::{ModelRef, PriceTable, ProviderSet, provider_info, provider_status};
use kafclaw_timeline::{Timeline, UsageSum};
use serde_json::{Value, json};

use crate::setup;

/// The longest `--days` window (token usage is kept 400 days).
const MAX_DAYS: u32 = 400;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// List the providers (endpoint, key set, usable or what to set) and every configured
    /// model string with where it comes from, the provider and model name it resolves to,
    /// and its price from finops.pricing.
    List {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Token usage and cost per model and per day from the timeline, with the daily token
    /// quota and the FinOps budgets used so far (days are UTC).
    Stats {
        /// Number of days up to and including today.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS)))]
        days: u32,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    match args.cmd {
        Cmd::List { json } => {
            let report = list_report(&loaded.config);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_list(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Stats { days, json } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(stats_report(&loaded, days))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_stats(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every configured model string with the key it was read from.
fn model_strings(c: &Config) -> Vec<(String, String)> {
    let mut out = vec![("model.name".to_owned(), c.model.name.clone())];
    for (i, f) in c.model.fallbacks.iter().enumerate() {
        out.push((format!("model.fallbacks[{i}]"), f.clone()));
    }
    for (cat, m) in &c.model.task_routing {
        out.push((format!("model.taskRouting.{cat}"), m.clone()));
    }
    for a in &c.agents.list {
        if let Some(m) = &a.model {
            if !m.primary.trim().is_empty() {
                out.push((
                    format!("agents.list[{}].model.primary", a.id),
                    m.primary.clone(),
                ));
            }
            for (i, f) in m.fallbacks.iter().enumerate() {
                out.push((
                    format!("agents.list[{}].model.fallbacks[{i}]", a.id),
                    f.clone(),
                ));
            }
        }
    }
    let cc = &c.content_classification;
    for (cat, m) in &cc.task_type_routes {
        out.push((
            format!("contentClassification.taskTypeRoutes.{cat}"),
            m.clone(),
        ));
    }
    for (level, l) in &cc.sensitivity_levels {
        if !l.route_to.trim().is_empty() {
            out.push((
                format!("contentClassification.sensitivityLevels.{level}.routeTo"),
                l.route_to.clone(),
            ));
        }
    }
    if !c.observer.model.trim().is_empty() {
        out.push(("observer.model".to_owned(), c.observer.model.clone()));
    }
    if !c.tools.subagents.model.trim().is_empty() {
        out.push((
            "tools.subagents.model".to_owned(),
            c.tools.subagents.model.clone(),
        ));
    }
    out
}

fn list_report(c: &Config) -> Value {
    let status = provider_status(&c.providers);
    let providers: Vec<Value> = status
        .iter()
        .map(|s| {
            let key = provider_info(s.id).map_or(s.id, |i| i.config_key);
            json!({
                "id": s.id,
                "configKey": format!("providers.{key}"),
                "apiBase": s.api_base,
                "apiKeySet": s.has_api_key,
                "ready": s.problem.is_none(),
                "problem": s.problem,
            })
        })
        .collect();
    let prices = PriceTable::from_config(&c.finops);
    // builds no network connection; used only to tell whether each provider is usable
    let set = ProviderSet::from_config(&c.providers, c.model.request_timeout.get());
    let models: Vec<Value> = model_strings(c)
        .into_iter()
        .map(|(source, value)| match ModelRef::parse(&value) {
            Ok(m) => {
                let problem = match &set {
                    Ok(set) => set.get(&m.provider).err().map(|e| e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                let pricing = prices.price(&m).map(|p| {
                    json!({
                        "key": format!("finops.pricing.{}", p.key),
                        "promptPer1kTokens": p.pricing.prompt_per_1k_tokens,
                        "completionPer1kTokens": p.pricing.completion_per_1k_tokens,
                    })
                });
                json!({
                    "model": value,
                    "source": source,
                    "provider": m.provider,
                    "sentAs": m.model,
                    "ready": problem.is_none(),
                    "problem": problem,
                    "pricing": pricing,
                })
            }
            Err(e) => json!({
                "model": value,
                "source": source,
                "provider": null,
                "sentAs": null,
                "ready": false,
                "problem": e.to_string(),
                "pricing": null,
            }),
        })
        .collect();
    json!({
        "providers": providers,
        "models": models,
        "finops": {
            "enabled": c.finops.enabled,
            "dailyBudget": c.finops.daily_budget,
            "monthlyBudget": c.finops.monthly_budget,
        },
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn print_list(r: &Value) {
    println!("Providers");
    println!("  {:<18} {:<5} {:<4} ENDPOINT", "ID", "READY", "KEY");
    for p in r["providers"].as_array().into_iter().flatten() {
        let ready = if p["ready"] == true { "yes" } else { "no" };
        let key = if p["apiKeySet"] == true { "set" } else { "-" };
        let base = match p["apiBase"].as_str() {
            Some("") | None => "(not set)".to_owned(),
            Some(b) => b.to_owned(),
        };
        println!("  {:<18} {:<5} {:<4} {}", s(&p["id"]), ready, key, base);
    }
    println!();
    println!("Models");
    for m in r["models"].as_array().into_iter().flatten() {
        println!("  {}  (from {})", s(&m["model"]), s(&m["source"]));
        if m["provider"].is_string() {
            println!(
                "      provider {}, sent as {}",
                s(&m["provider"]),
                s(&m["sentAs"])
            );
        }
        match &m["pricing"] {
            Value::Null => println!("      price: not configured"),
            p => println!(
                "      price: {} / {} USD per 1k tokens in/out ({})",
                s(&p["promptPer1kTokens"]),
                s(&p["completionPer1kTokens"]),
                s(&p["key"])
            ),
        }
        if !m["problem"].is_null() {
            println!("      NOT USABLE: {}", s(&m["problem"]));
        }
    }
    let f = &r["finops"];
    println!();
    println!(
        "FinOps: {} (daily budget {}, monthly budget {} USD; 0 = none)",
        if f["enabled"] == true { "on" } else { "off" },
        s(&f["dailyBudget"]),
        s(&f["monthlyBudget"])
    );
}

fn sum_json(u: &UsageSum) -> Value {
    json!({
        "calls": u.calls,
        "tokensIn": u.tokens_in,
        "tokensOut": u.tokens_out,
        "costUsd": u.cost_usd,
    })
}

fn start_of(d: NaiveDate) -> chrono::DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn limit_json(used: f64, limit: f64) -> Value {
    json!({
        "used": used,
        "limit": if limit > 0.0 { json!(limit) } else { Value::Null },
    })
}

async fn stats_report(loaded: &LoadedConfig, days: u32) -> anyhow::Result<Value> {
    let tl: Timeline = setup::open_timeline(loaded).await?;
    let today = Utc::now().date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    let from = start_of(first);
    let to = start_of(today + Duration::days(1));
    let models: Vec<Value> = tl
        .usage_by_model(from, to)
        .await?
        .iter()
        .map(|m| {
            let mut v = sum_json(&m.usage);
            v["provider"] = json!(m.provider);
            v["model"] = json!(m.model);
            v
        })
        .collect();
    let mut daily = Vec::new();
    let mut day = first;
    while day <= today {
        let mut v = sum_json(&tl.usage_on_day(day).await?);
        v["day"] = json!(day.to_string());
        daily.push(v);
        day += Duration::days(1);
    }
    let total = tl.usage_between(from, to).await?;
    let usage_today = tl.usage_today().await?;
    let month = tl.usage_in_month(today.year(), today.month()).await?;
    let setting = tl.get_setting("daily_token_limit").await?;
    let (token_limit, token_limit_from) = match setting.filter(|s| !s.value.trim().is_empty()) {
        Some(s) => (
            s.value.trim().parse::<u64>().unwrap_or(0),
            "setting daily_token_limit",
        ),
        None => (
            loaded.config.policy.daily_token_limit,
            "policy.dailyTokenLimit",
        ),
    };
    tl.close().await;
    let f = &loaded.config.finops;
    Ok(json!({
        "days": days,
        "from": first.to_string(),
        "to": today.to_string(),
        "models": models,
        "daily": daily,
        "total": sum_json(&total),
        "budgets": {
            "dailyTokens": {
                "used": usage_today.total_tokens(),
                "limit": if token_limit > 0 { json!(token_limit) } else { Value::Null },
                "limitFrom": token_limit_from,
            },
            "finopsEnabled": f.enabled,
            "dailyCostUsd": limit_json(usage_today.cost_usd, f.daily_budget),
            "monthlyCostUsd": limit_json(month.cost_usd, f.monthly_budget),
        },
    }))
}

fn print_stats(r: &Value) {
    println!(
        "Usage {} to {} (UTC, {} day(s))",
        s(&r["from"]),
        s(&r["to"]),
        s(&r["days"])
    );
    println!();
    println!(
        "  {:<40} {:>6} {:>12} {:>12} {:>12}",
        "PROVIDER/MODEL", "CALLS", "TOKENS IN", "TOKENS OUT", "COST USD"
    );
    let row = |name: String, v: &Value| {
        println!(
            "  {:<40} {:>6} {:>12} {:>12} {:>12.4}",
            name,
            s(&v["calls"]),
            s(&v["tokensIn"]),
            s(&v["tokensOut"]),
            v["costUsd"].as_f64().unwrap_or(0.0)
        );
    };
    for m in r["models"].as_array().into_iter().flatten() {
        row(format!("{}/{}", s(&m["provider"]), s(&m["model"])), m);
    }
    row("total".to_owned(), &r["total"]);
    if r["days"].as_u64().unwrap_or(1) > 1 {
        println!();
        println!(
            "  {:<40} {:>6} {:>12} {:>12} {:>12}",
            "DAY", "CALLS", "TOKENS IN", "TOKENS OUT", "COST USD"
        );
        for d in r["daily"].as_array().into_iter().flatten() {
            row(s(&d["day"]), d);
        }
    }
    let b = &r["budgets"];
    println!();
    let of = |limit: &Value| match limit {
        Value::Null => "no limit".to_owned(),
        l => format!("of {}", s(l)),
    };
    println!(
        "Daily tokens: {} {} ({})",
        s(&b["dailyTokens"]["used"]),
        of(&b["dailyTokens"]["limit"]),
        s(&b["dailyTokens"]["limitFrom"])
    );
    println!(
        "Cost today: {:.4} USD {}; this month: {:.4} USD {}{}",
        b["dailyCostUsd"]["used"].as_f64().unwrap_or(0.0),
        of(&b["dailyCostUsd"]["limit"]),
        b["monthlyCostUsd"]["used"].as_f64().unwrap_or(0.0),
        of(&b["monthlyCostUsd"]["limit"]),
        if b["finopsEnabled"] == true {
            ""
        } else {
            " (finops.enabled is off: budgets are not enforced)"
        }
    );
}
