//! `kafclaw status`: what this agent is and where its state lives — version, operating
//! mode, config file, paths, which model and provider answer, task counts from the
//! timeline, and the gateway and group settings. Reads only; never calls a provider.

use std::process::ExitCode;

use kafclaw_agent::SOUL_FILES;
use kafclaw_config::LoadedConfig;
use kafclaw_gateway::Mode;
use kafclaw_providers::{CallContext, ChatChain, provider_status};
use kafclaw_timeline::{ApprovalFilter, ApprovalStatus, SCHEMA_VERSION};
use serde_json::{Value, json};

use crate::setup;

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 status printed; 1 the timeline cannot be read; \
    2 configuration error."
)]
pub(crate) struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, ok) = rt.block_on(collect(&loaded));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}

fn model_section(loaded: &LoadedConfig) -> Value {
    let config = &loaded.config;
    let agent_id = config
        .agents
        .list
        .iter()
        .find(|a| a.default)
        .map(|a| a.id.clone());
    let chain = match ChatChain::builder(config).build() {
        Ok(c) => c,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let plan = match chain.plan(&CallContext {
        agent_id,
        ..CallContext::default()
    }) {
        Ok(p) => p,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let statuses = provider_status(&config.providers);
    let describe = |m: &kafclaw_providers::ModelRef| {
        let st = statuses.iter().find(|s| s.id == m.provider);
        json!({
            "model": m.to_string(),
            "provider": m.provider,
            "endpoint": st.map(|s| s.api_base.clone()),
            "ready": st.is_some_and(|s| s.problem.is_none()),
            "problem": st.and_then(|s| s.problem.clone()),
        })
    };
    json!({
        "primary": describe(&plan.primary),
        "source": plan.source.to_string(),
        "fallbacks": plan.fallbacks.iter().map(describe).collect::<Vec<_>>(),
        "maxToolIterations": config.model.max_tool_iterations,
    })
}

async fn collect(loaded: &LoadedConfig) -> (Value, bool) {
    let config = &loaded.config;
    let paths = &loaded.paths;
    let mode = Mode::from_config(config);
    let soul_present: Vec<&str> = SOUL_FILES
        .iter()
        .copied()
        .filter(|f| paths.workspace.join(f).is_file())
        .collect();
    let mut ok = true;
    let timeline = if paths.timeline_db.exists() {
        match kafclaw_timeline::Timeline::open_path(&paths.timeline_db).await {
            Ok(tl) => {
                let counts = tl.count_tasks_by_status().await;
                let approvals = tl
                    .list_approvals(&ApprovalFilter {
                        status: Some(ApprovalStatus::Pending),
                        limit: Some(1000),
                        ..ApprovalFilter::default()
                    })
                    .await;
                let schema = tl.schema_version().await.unwrap_or_default();
                tl.close().await;
                match (counts, approvals) {
                    (Ok(counts), Ok(approvals)) => {
                        let mut tasks =
                            json!({"pending": 0, "processing": 0, "completed": 0, "failed": 0});
                        for (s, n) in counts {
                            tasks[s.as_str()] = json!(n);
                        }
                        json!({
                            "path": paths.timeline_db,
                            "schema": schema,
                            "schemaCurrent": schema == SCHEMA_VERSION,
                            "tasks": tasks,
                            "pendingApprovals": approvals.len(),
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => {
                        ok = false;
                        json!({"path": paths.timeline_db, "error": e.to_string()})
                    }
                }
            }
            Err(e) => {
                ok = false;
                json!({"path": paths.timeline_db, "error": e.to_string()})
            }
        }
    } else {
        json!({"path": paths.timeline_db, "missing": true})
    };
    let status = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "mode": mode.as_str(),
        "config": {"path": paths.config_file, "exists": paths.config_file.is_file()},
        "paths": {
            "home": paths.home,
            "workspace": paths.workspace,
            "workRepo": paths.work_repo,
            "sessions": paths.sessions_dir,
        },
        "soulFiles": {"present": soul_present, "of": SOUL_FILES.len()},
        "model": model_section(loaded),
        "timeline": timeline,
        "gateway": {
            "host": config.gateway.host,
            "port": config.gateway.port,
            "dashboardPort": config.gateway.dashboard_port,
            "authToken": !config.gateway.auth_token.expose().trim().is_empty(),
        },
        "group": {
            "enabled": config.group.enabled,
            "name": config.group.group_name,
            "brokers": config.group.kafka_brokers,
            "agentId": config.group.agent_id,
            "orchestrator": config.orchestrator.enabled,
            "role": config.orchestrator.role,
        },
    });
    (status, ok)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_text(st: &Value) {
    println!("kafclaw {}", s(&st["version"]));
    println!("mode:       {}", s(&st["mode"]));
    let cfg = &st["config"];
    println!(
        "config:     {}{}",
        s(&cfg["path"]),
        if cfg["exists"] == true {
            ""
        } else {
            " (not found: defaults; run kafclaw onboard)"
        }
    );
    println!("home:       {}", s(&st["paths"]["home"]));
    println!(
        "workspace:  {} ({} of {} soul files)",
        s(&st["paths"]["workspace"]),
        st["soulFiles"]["present"].as_array().map_or(0, Vec::len),
        s(&st["soulFiles"]["of"])
    );
    println!("work repo:  {}", s(&st["paths"]["workRepo"]));
    println!("sessions:   {}", s(&st["paths"]["sessions"]));
    let m = &st["model"];
    if let Some(e) = m["error"].as_str() {
        println!("model:      error: {e}");
    } else {
        let p = &m["primary"];
        let state = if p["ready"] == true {
            "ready".to_owned()
        } else {
            format!("not usable: {}", s(&p["problem"]))
        };
        println!(
            "model:      {} (from {}) via {} at {}: {state}",
            s(&p["model"]),
            s(&m["source"]),
            s(&p["provider"]),
            s(&p["endpoint"])
        );
        for f in m["fallbacks"].as_array().into_iter().flatten() {
            println!(
                "fallback:   {}{}",
                s(&f["model"]),
                if f["ready"] == true {
                    ""
                } else {
                    " (not usable)"
                }
            );
        }
    }
    let tl = &st["timeline"];
    if tl["missing"] == true {
        println!("timeline:   {} (not created yet)", s(&tl["path"]));
    } else if let Some(e) = tl["error"].as_str() {
        println!("timeline:   {}: error: {e}", s(&tl["path"]));
    } else {
        let t = &tl["tasks"];
        println!(
            "timeline:   {} (schema {})",
            s(&tl["path"]),
            s(&tl["schema"])
        );
        println!(
            "tasks:      {} pending, {} processing, {} completed, {} failed; {} approval(s) waiting",
            s(&t["pending"]),
            s(&t["processing"]),
            s(&t["completed"]),
            s(&t["failed"]),
            s(&tl["pendingApprovals"])
        );
    }
    let g = &st["gateway"];
    println!(
        "gateway:    http://{}:{} (API), port {} (dashboard), auth token {}",
        s(&g["host"]),
        s(&g["port"]),
        s(&g["dashboardPort"]),
        if g["authToken"] == true {
            "set"
        } else {
            "not set"
        }
    );
    let gr = &st["group"];
    if gr["enabled"] == true {
        println!(
            "group:      {} on {} as {} (orchestrator {}, role {})",
            s(&gr["name"]),
            s(&gr["brokers"]),
            if gr["agentId"] == "" {
                "(host-derived id)".to_owned()
            } else {
                s(&gr["agentId"])
            },
            if gr["orchestrator"] == true {
                "on"
            } else {
                "off"
            },
            s(&gr["role"])
        );
    } else {
        println!("group:      disabled");
    }
}
