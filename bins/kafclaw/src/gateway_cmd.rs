//! `kafclaw gateway`: runs the agent with its HTTP API and dashboard until SIGINT or
//! SIGTERM, then shuts down gracefully (running tasks finish or stay queued) and exits 0.
//! In the group modes the agent also joins its Kafka group (kafclaw-collab connects the
//! two) and leaves it at shutdown; in `full` and `headless` mode it also runs its
//! orchestrator (hierarchy, zones, discovery), whose zone tasks go through the agent loop.

use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use kafclaw_agent::{Agent, AgentOptions};
use kafclaw_collab::{Collab, CommandSkills, Group, ZoneWork};
use kafclaw_gateway::{Gateway, GatewayOptions, Mode};
use kafclaw_orchestrator::{Orchestrator, OrchestratorSettings, ZoneAnswer, ZoneTask};

use crate::setup;

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// One agent, no Kafka.
    Standalone,
    /// Kafka group collaboration: joins group.groupName with group.skills and group.commandSkills.
    Group,
    /// Group plus orchestrator.
    Full,
    /// Server deployment: binds 0.0.0.0 and refuses to start without gateway.authToken.
    Headless,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Standalone => Mode::Standalone,
            ModeArg::Group => Mode::Group,
            ModeArg::Full => Mode::Full,
            ModeArg::Headless => Mode::Headless,
        }
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "Listens on gateway.host (127.0.0.1) at gateway.port (18790, POST /chat) and \
                  gateway.dashboardPort (18791, dashboard and /api/v1). A token \
                  (gateway.authToken / KAFCLAW_GATEWAY_AUTH_TOKEN) is required beyond loopback \
                  and in headless mode. See docs/gateway.md."
)]
pub(crate) struct Args {
    /// Operating mode; default: full when orchestrator.enabled, group when group.enabled,
    /// standalone otherwise.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Browser origin (scheme://host[:port]) allowed to call the API besides the gateway's
    /// own; repeat or separate with commas. Default: none (same-origin only).
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        env = "KAFCLAW_GATEWAY_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allow_origins: Vec<String>,
    /// Seconds POST /chat waits for the answer before it answers 504 (the task goes on).
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    chat_timeout: u64,
    /// Seconds running tasks get to finish at shutdown; unfinished ones stay queued.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    shutdown_grace: u64,
    /// Largest accepted request body in bytes (413 above it).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=64 * 1024 * 1024))]
    max_body_bytes: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let config = &loaded.config;
    let mode = args
        .mode
        .map(Mode::from)
        .unwrap_or_else(|| Mode::from_config(config));
    let mut options = match GatewayOptions::from_config(&config.gateway, mode) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kafclaw: {e}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    options.allowed_origins = args
        .allow_origins
        .iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    options.chat_timeout = Duration::from_secs(args.chat_timeout);
    options.shutdown_grace = Duration::from_secs(args.shutdown_grace);
    options.max_body_bytes = usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX);
    options.version = env!("CARGO_PKG_VERSION").to_owned();
    options.agent_id = if config.group.agent_id.is_empty() {
        config.node.claw_id.clone()
    } else {
        config.group.agent_id.clone()
    };
    if let Err(e) = options.check() {
        eprintln!("kafclaw: {e}");
        return Ok(ExitCode::from(crate::EXIT_USAGE));
    }
    let token = config.gateway.auth_token.expose().trim();
    if !token.is_empty() && token.len() < 16 {
        eprintln!(
            "kafclaw: warning: gateway.authToken is shorter than 16 characters; use a long random token"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(loaded, options))
}

/// The group side of a gateway in a group mode: the settings checked before anything
/// starts, and the collaboration hub whose tools the agent gets.
struct GroupParts {
    setup: crate::group_cmd::GroupSetup,
    collab: Collab,
    /// The orchestrator's connection and settings, in `full` and `headless` mode.
    orchestrator: Option<(kafclaw_group::KafkaSettings, OrchestratorSettings)>,
}

/// Checks the group configuration and creates the hub (its tools go into the agent's
/// registry). An error names the key and means exit code 2.
fn group_parts(
    loaded: &kafclaw_config::LoadedConfig,
    deps: &mut kafclaw_agent::AgentDeps,
    mode: Mode,
) -> anyhow::Result<GroupParts> {
    let setup = crate::group_cmd::GroupSetup::from_config(loaded.clone())
        .map_err(|e| anyhow::anyhow!("group configuration: {e}"))?;
    let orchestrator = if mode.uses_orchestrator() {
        Some(
            setup::orchestrator_settings(loaded, &setup.agent_id)
                .map_err(|e| anyhow::anyhow!("orchestrator configuration: {e}"))?,
        )
    } else {
        None
    };
    let g = &loaded.config.group;
    let tools = setup::tools_config(loaded)?;
    let commands = CommandSkills::new(
        g.command_skills.clone(),
        tools.exec.clone(),
        &loaded.paths.work_repo,
    )?;
    let collab = Collab::new(deps.timeline.clone(), commands)
        .with_delegate_timeout(Duration::from_secs(g.default_task_timeout_secs.max(1)));
    let registry = std::sync::Arc::get_mut(&mut deps.tools)
        .ok_or_else(|| anyhow::anyhow!("the tool registry is already shared"))?;
    collab.register_tools(registry)?;
    Ok(GroupParts {
        setup,
        collab,
        orchestrator,
    })
}

/// Starts the orchestrator (connects, reads the discovery window, announces this agent)
/// with the agent's timeline; a zone task sent to this agent runs through the agent loop
/// like a group task, within the requester's deadline (at most the group's default task
/// timeout), refused over `group.maxDelegationDepth`, its spans returned for the zone's
/// own topic. Started before the group agent, which then reads only the zones it admits.
async fn start_orchestrator(
    loaded: &kafclaw_config::LoadedConfig,
    parts: &GroupParts,
    timeline: kafclaw_timeline::Timeline,
) -> anyhow::Result<Option<Orchestrator>> {
    let Some((kafka, settings)) = parts.orchestrator.clone() else {
        return Ok(None);
    };
    let g = &loaded.config.group;
    let limit = chrono::Duration::seconds(
        i64::try_from(g.default_task_timeout_secs.max(1)).unwrap_or(i64::MAX / 1000),
    );
    let max_depth = if g.max_delegation_depth == 0 {
        3
    } else {
        g.max_delegation_depth
    };
    let collab = parts.collab.clone();
    let orch = Orchestrator::builder(kafka, settings)
        .timeline(timeline)
        .task_handler(move |task: ZoneTask| {
            let collab = collab.clone();
            async move {
                if task.delegation_depth > max_depth {
                    return ZoneAnswer::from(Err(format!(
                        "delegation depth {} exceeds the maximum of {max_depth}",
                        task.delegation_depth
                    )));
                }
                let own = chrono::Utc::now().checked_add_signed(limit);
                let work = ZoneWork {
                    task_id: task.task_id,
                    zone_id: task.zone_id,
                    requester_id: task.requester_id,
                    description: task.description,
                    content: task.content,
                    traceparent: task.traceparent,
                    deadline: [task.deadline, own].into_iter().flatten().min(),
                    delegation_depth: task.delegation_depth,
                };
                let outcome = collab.run_zone_task(work).await;
                ZoneAnswer {
                    result: outcome.result,
                    spans: outcome.spans,
                }
            }
        })
        .start()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start the orchestrator of group {} at {} (group.kafkaBrokers): {e}",
                g.group_name,
                g.kafka_brokers
            )
        })?;
    Ok(Some(orch))
}

async fn join_group(
    loaded: &kafclaw_config::LoadedConfig,
    parts: &GroupParts,
    timeline: kafclaw_timeline::Timeline,
    orchestrator: Option<&Orchestrator>,
) -> anyhow::Result<Group> {
    let g = &loaded.config.group;
    let memory = parts
        .setup
        .memory_options()
        .map_err(|e| anyhow::anyhow!("group.lfsProxyUrl: {e}"))?;
    let mut builder = parts.setup.builder();
    if let Some(orch) = orchestrator {
        // From the first record on, group messages of zones this agent is not in are dropped.
        let gate = orch.clone();
        builder = builder.zone_gate(move |zone| gate.admits(Some(zone)));
    }
    let group = builder
        .skills(parts.collab.skills(&g.skills))
        .memory_options(memory)
        .store(std::sync::Arc::new(timeline))
        .task_handler_arc(parts.collab.handler())
        .build()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the group {} at {} (group.kafkaBrokers): {e}",
                g.group_name,
                g.kafka_brokers
            )
        })?;
    parts.collab.bind_group(group.clone())?;
    if let Err(e) = group.join().await {
        group.halt().await;
        parts.collab.unbind_group();
        return Err(anyhow::anyhow!(
            "cannot join the group {}: {e}",
            g.group_name
        ));
    }
    Ok(group)
}

async fn serve(
    loaded: kafclaw_config::LoadedConfig,
    options: GatewayOptions,
) -> anyhow::Result<ExitCode> {
    let mode = options.mode;
    let mut deps = match setup::build_agent_deps(&loaded).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kafclaw: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    if mode.uses_group() && !loaded.config.group.enabled {
        eprintln!(
            "kafclaw: note: {mode} mode, but group.enabled is false: the agent joins no Kafka group \
             (set group.enabled, group.groupName and group.kafkaBrokers)"
        );
    }
    if mode.uses_orchestrator() && !loaded.config.group.enabled {
        eprintln!(
            "kafclaw: note: {mode} mode, but group.enabled is false: no orchestrator runs \
             (it works within the agent's group)"
        );
    }
    let parts = if mode.uses_group() && loaded.config.group.enabled {
        match group_parts(&loaded, &mut deps, mode) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("kafclaw: {e:#}");
                return Ok(ExitCode::from(crate::EXIT_USAGE));
            }
        }
    } else {
        None
    };
    let mut agent_options = AgentOptions::default();
    if parts.is_some() && !loaded.config.group.command_skills.is_empty() {
        // A command-skill worker needs no model: tasks that do need one fail one by one
        // with the provider's error instead of the gateway refusing to start.
        agent_options.require_provider = false;
    }
    let timeline = deps.timeline.clone();
    let agent = match Agent::start_with(deps, agent_options).await {
        Ok(a) => a,
        Err(e @ kafclaw_agent::Error::NoProvider(_)) => {
            eprintln!("kafclaw: {e}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot start the agent: {e}")),
    };
    let (group, orchestrator) = match &parts {
        Some(parts) => {
            if let Err(e) = parts.collab.bind_agent(agent.clone()) {
                agent.shutdown(Duration::ZERO).await;
                return Err(e.into());
            }
            let orchestrator = match start_orchestrator(&loaded, parts, timeline.clone()).await {
                Ok(o) => o,
                Err(e) => {
                    agent.shutdown(Duration::ZERO).await;
                    eprintln!("kafclaw: {e:#}");
                    return Ok(ExitCode::from(crate::EXIT_FAILURE));
                }
            };
            match join_group(&loaded, parts, timeline, orchestrator.as_ref()).await {
                Ok(g) => (Some(g), orchestrator),
                Err(e) => {
                    if let Some(o) = &orchestrator {
                        o.shutdown().await;
                    }
                    agent.shutdown(Duration::ZERO).await;
                    eprintln!("kafclaw: {e:#}");
                    return Ok(ExitCode::from(crate::EXIT_FAILURE));
                }
            }
        }
        None => (None, None),
    };
    let mut gateway = match Gateway::bind(options, agent.clone()).await {
        Ok(g) => g,
        Err(e) => {
            if let Some(o) = &orchestrator {
                o.shutdown().await;
            }
            if let Some(g) = &group {
                g.shutdown().await;
            }
            agent.shutdown(Duration::ZERO).await;
            return Err(anyhow::anyhow!("{e}"));
        }
    };
    if let Some(g) = &group {
        gateway = gateway.with_group(std::sync::Arc::new(g.clone()));
        eprintln!(
            "kafclaw: joined group {} as {} (skills: {})",
            g.group(),
            g.agent_id(),
            g.provided_skills().join(", ")
        );
    }
    if let Some(o) = &orchestrator {
        gateway = gateway.with_orchestrator(std::sync::Arc::new(o.clone()));
        let s = o.status();
        eprintln!(
            "kafclaw: orchestrator running as {} (role {}, zone {}, parent {}; in zones: {})",
            s.agent_id,
            s.role,
            dash(&s.zone_id),
            dash(&s.parent_id),
            s.my_zones.join(", ")
        );
    }
    println!(
        "kafclaw gateway: mode {mode}; API http://{} (POST /chat); dashboard http://{}",
        gateway.api_addr(),
        gateway.dashboard_addr()
    );
    // Stop the orchestrator and leave the group first, so peers stop sending work, then
    // stop the agent.
    let leave = group.clone();
    let orch = orchestrator.clone();
    let stop = async move {
        shutdown_signal().await;
        if let Some(o) = orch {
            o.shutdown().await;
        }
        if let Some(g) = leave
            && let Err(e) = g.leave().await
        {
            eprintln!("kafclaw: warning: leaving the group failed: {e}");
        }
    };
    let served = gateway.serve(stop).await;
    if let Some(o) = &orchestrator {
        // Already stopped by the signal; this covers a server that ended on an error.
        o.shutdown().await;
    }
    if let Some(g) = &group {
        g.halt().await;
    }
    if let Some(p) = &parts {
        p.collab.unbind_group();
    }
    served?;
    println!("kafclaw gateway: stopped");
    Ok(ExitCode::SUCCESS)
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            eprintln!("kafclaw: warning: cannot watch SIGTERM ({e}); stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
