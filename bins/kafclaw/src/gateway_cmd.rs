//! `kafclaw gateway`: runs the agent with its HTTP API and dashboard until SIGINT or
//! SIGTERM, then shuts down gracefully (running tasks finish or stay queued) and exits 0.

use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use kafclaw_agent::Agent;
use kafclaw_gateway::{Gateway, GatewayOptions, Mode};

use crate::setup;

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// One agent, no Kafka.
    Standalone,
    /// Kafka group collaboration (the group layer is not wired into the gateway yet).
    Group,
    /// Group plus orchestrator (the group layer is not wired into the gateway yet).
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

async fn serve(
    loaded: kafclaw_config::LoadedConfig,
    options: GatewayOptions,
) -> anyhow::Result<ExitCode> {
    let mode = options.mode;
    let deps = match setup::build_agent_deps(&loaded).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kafclaw: {e:#}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
    };
    let agent = match Agent::start(deps).await {
        Ok(a) => a,
        Err(e @ kafclaw_agent::Error::NoProvider(_)) => {
            eprintln!("kafclaw: {e}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot start the agent: {e}")),
    };
    let gateway = match Gateway::bind(options, agent.clone()).await {
        Ok(g) => g,
        Err(e) => {
            agent.shutdown(Duration::ZERO).await;
            return Err(anyhow::anyhow!("{e}"));
        }
    };
    if mode.uses_group() {
        eprintln!(
            "kafclaw: note: {mode} mode: the Kafka group layer is not wired into the gateway yet; \
             the agent works standalone"
        );
    }
    println!(
        "kafclaw gateway: mode {mode}; API http://{} (POST /chat); dashboard http://{}",
        gateway.api_addr(),
        gateway.dashboard_addr()
    );
    gateway.serve(shutdown_signal()).await?;
    println!("kafclaw gateway: stopped");
    Ok(ExitCode::SUCCESS)
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
