//! `kafclaw tools list|run`: drive a tool without a model, through the same policy
//! engine and sandbox the agent uses, with every decision recorded in the timeline.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use kafclaw_policy::{Decision, Outcome, PolicyEngine, ToolRequest, TrustClass};
use kafclaw_tools::{Error as ToolError, Registry, ToolContext};

use crate::setup;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the tools with their tier and parameters.
    List {
        /// Print JSON (name, description, tier, parameters) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run one tool with JSON arguments, as a sender of the given trust class.
    ///
    /// The call goes through the policy engine and the sandbox exactly as a model's
    /// call would; the decision is recorded in the timeline. A refusal is printed on
    /// stderr with its reason and exits 1; bad arguments exit 2.
    Run {
        /// Tool name (see `kafclaw tools list`).
        name: String,
        /// Arguments as a JSON object, e.g. '{"path":"README.md"}'.
        #[arg(default_value = "{}")]
        args: String,
        /// Trust class of the (simulated) sender.
        #[arg(long = "as", value_enum, default_value_t = AsClass::Owner)]
        as_class: AsClass,
        /// Sender id recorded with the decision.
        #[arg(long, default_value = "cli")]
        sender: String,
        /// Channel recorded with the decision.
        #[arg(long, default_value = "cli")]
        channel: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum AsClass {
    /// The operator (owner/internal).
    Owner,
    /// Another agent of the group.
    Peer,
    /// Anyone else (chat channels).
    External,
}

impl From<AsClass> for TrustClass {
    fn from(c: AsClass) -> Self {
        match c {
            AsClass::Owner => TrustClass::Owner,
            AsClass::Peer => TrustClass::Peer,
            AsClass::External => TrustClass::External,
        }
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let registry = match setup::tools_config(&loaded)
        .and_then(|c| Registry::with_builtin_tools(&c).map_err(Into::into))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafclaw: cannot set up the tools: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    match args.cmd {
        Cmd::List { json } => {
            list(&registry, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run {
            name,
            args,
            as_class,
            sender,
            channel,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(run_tool(
                &loaded,
                &registry,
                &name,
                &args,
                as_class.into(),
                &sender,
                &channel,
            ))
        }
    }
}

fn list(registry: &Registry, json: bool) -> anyhow::Result<()> {
    let defs = registry.definitions();
    if json {
        let out: Vec<serde_json::Value> = defs
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "description": d.description,
                    "tier": u8::from(d.tier),
                    "parameters": d.parameters,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{:<14} {:<5} DESCRIPTION", "NAME", "TIER");
    for d in defs {
        let first = d.description.split(". ").next().unwrap_or(&d.description);
        println!(
            "{:<14} {:<5} {}",
            d.name,
            u8::from(d.tier),
            first.trim_end_matches('.')
        );
    }
    Ok(())
}

async fn run_tool(
    loaded: &kafclaw_config::LoadedConfig,
    registry: &Registry,
    name: &str,
    raw_args: &str,
    trust: TrustClass,
    sender: &str,
    channel: &str,
) -> anyhow::Result<ExitCode> {
    let args: serde_json::Value = match serde_json::from_str(raw_args) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            eprintln!(
                "kafclaw: the tool arguments must be a JSON object, e.g. '{{\"path\":\"README.md\"}}'"
            );
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
        Err(e) => {
            eprintln!("kafclaw: the tool arguments are not valid JSON: {e}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    // Malformed arguments are a usage error, found before anything is decided or run.
    if registry.get(name).is_some()
        && let Err(e) = registry.validate(name, &args)
    {
        eprintln!("kafclaw: {e}");
        return Ok(ExitCode::from(crate::EXIT_USAGE));
    }
    let timeline = setup::open_timeline(loaded).await?;
    let engine = PolicyEngine::new(
        loaded.config.policy.to_engine_config(),
        Arc::new(timeline.clone()),
    )
    .map_err(|e| anyhow::anyhow!("policy configuration: {e}"))?;
    let trace_id = uuid::Uuid::now_v7().simple().to_string();
    let request = ToolRequest {
        tool: name.to_string(),
        tier: registry.get(name).map(|t| t.tier()),
        sender: sender.to_string(),
        trust_class: trust,
        channel: channel.to_string(),
        trace_id: Some(trace_id.clone()),
        task_id: None,
    };
    let decision = engine
        .evaluate(request)
        .await
        .map_err(|e| anyhow::anyhow!("policy engine: {e}"))?;
    match decision.outcome {
        Outcome::Allow => {}
        Outcome::Deny => {
            eprintln!("kafclaw: refused by policy: {}", decision.reason);
            eprintln!("kafclaw: trace {trace_id}");
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
        Outcome::RequireApproval => {
            eprintln!(
                "kafclaw: refused: approval required ({}); the command line cannot approve, run the tool through the agent",
                decision.reason
            );
            eprintln!("kafclaw: trace {trace_id}");
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
    }
    let ctx = ToolContext::new(trust)
        .with_sender(sender)
        .with_channel(channel)
        .with_trace_id(&trace_id);
    match registry.execute(name, args, &ctx).await {
        Ok(output) => {
            print!("{}", output.content);
            if !output.content.ends_with('\n') {
                println!();
            }
            if output.is_error {
                return Ok(ExitCode::from(crate::EXIT_FAILURE));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ToolError::Refused { refusal, .. }) => {
            // The sandbox refused after the policy allowed: recorded as a second decision.
            let reason = format!("sandbox_{}: {}", refusal.rule.as_str(), refusal.reason);
            let sandbox = Decision {
                outcome: Outcome::Deny,
                reason: reason.clone(),
                ..decision
            };
            timeline
                .record_decision(&sandbox)
                .await
                .map_err(|e| anyhow::anyhow!("cannot record the decision: {e}"))?;
            eprintln!("kafclaw: refused by the sandbox: {reason}");
            eprintln!("kafclaw: trace {trace_id}");
            Ok(ExitCode::from(crate::EXIT_FAILURE))
        }
        Err(e) => {
            eprintln!("kafclaw: {name} failed: {e}");
            Ok(ExitCode::from(crate::EXIT_FAILURE))
        }
    }
}
