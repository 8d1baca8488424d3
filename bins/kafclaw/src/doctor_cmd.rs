//! `kafclaw doctor`: checks the set-up and prints one line per check, OK, WARN or FAIL —
//! the configuration, the permissions of the state directory, the timeline and its
//! migrations, the soul files, the tools, the model's provider (a real call only with
//! `--online`), the gateway's exposure, and the Kafka brokers when the group is enabled.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use kafclaw_agent::SOUL_FILES;
use kafclaw_config::{Config, LoadedConfig};
use kafclaw_providers::{CallContext, ChatChain, ChatMessage, ChatRequest, provider_status};
use kafclaw_timeline::SCHEMA_VERSION;
use serde_json::json;

use crate::setup;

/// How long a broker gets to accept a TCP connection.
const BROKER_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 no check failed (warnings allowed); 1 at least one \
    check failed; 2 usage error."
)]
pub(crate) struct Args {
    /// Also send one short request to the model (costs a few tokens).
    #[arg(long)]
    online: bool,
    /// Print JSON (one object per check) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

struct Report {
    checks: Vec<(Level, &'static str, String)>,
    json: bool,
}

impl Report {
    fn add(&mut self, level: Level, check: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        if !self.json {
            println!("{:<4} {check}: {detail}", level.as_str());
        }
        self.checks.push((level, check, detail));
    }

    fn finish(self) -> anyhow::Result<ExitCode> {
        if self.json {
            let v: Vec<_> = self
                .checks
                .iter()
                .map(|(l, c, d)| json!({"check": c, "status": l.as_str(), "detail": d}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        let failed = self.checks.iter().any(|(l, _, _)| *l == Level::Fail);
        Ok(if failed {
            ExitCode::from(crate::EXIT_FAILURE)
        } else {
            ExitCode::SUCCESS
        })
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut r = Report {
        checks: Vec::new(),
        json: args.json,
    };
    let loaded = match Config::load() {
        Ok(l) => l,
        Err(e) => {
            r.add(Level::Fail, "config", e.to_string());
            return r.finish();
        }
    };
    let paths = &loaded.paths;
    r.add(
        Level::Ok,
        "config",
        if paths.config_file.is_file() {
            format!("{} is valid", paths.config_file.display())
        } else {
            format!(
                "{} does not exist; running on defaults (kafclaw onboard writes one)",
                paths.config_file.display()
            )
        },
    );
    for w in &loaded.warnings {
        r.add(Level::Warn, "config", w.to_string());
    }
    permissions(&mut r, &loaded);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        timeline(&mut r, &loaded).await;
        soul_files(&mut r, &loaded.paths.workspace);
        tools(&mut r, &loaded);
        provider(&mut r, &loaded, args.online).await;
        gateway(&mut r, &loaded.config);
        brokers(&mut r, &loaded.config).await;
    });
    r.finish()
}

#[cfg(unix)]
fn mode_of(p: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> Option<u32> {
    None
}

fn private(r: &mut Report, p: &Path, wanted: u32, what: &str) {
    match mode_of(p) {
        None => {}
        Some(m) if m & 0o077 == 0 => r.add(
            Level::Ok,
            "permissions",
            format!("{what} {} is private ({m:04o})", p.display()),
        ),
        Some(m) => r.add(
            Level::Warn,
            "permissions",
            format!(
                "{what} {} has mode {m:04o}, other users can read it: chmod {wanted:o} {}",
                p.display(),
                p.display()
            ),
        ),
    }
}

fn permissions(r: &mut Report, loaded: &LoadedConfig) {
    let paths = &loaded.paths;
    // Paths the loader already warned about are not reported twice.
    let warned = |p: &Path| {
        loaded.warnings.iter().any(
            |w| matches!(w, kafclaw_config::Warning::LoosePermissions { path, .. } if path == p),
        )
    };
    let private = |r: &mut Report, p: &Path, wanted: u32, what: &str| {
        if !warned(p) {
            private(r, p, wanted, what);
        }
    };
    if paths.home.is_dir() {
        private(r, &paths.home, 0o700, "home");
    } else {
        r.add(
            Level::Warn,
            "permissions",
            format!(
                "home {} does not exist yet (kafclaw onboard creates it)",
                paths.home.display()
            ),
        );
    }
    if paths.config_file.is_file() {
        private(r, &paths.config_file, 0o600, "config file");
    }
    if paths.timeline_db.is_file() {
        private(r, &paths.timeline_db, 0o600, "timeline");
    }
}

async fn timeline(r: &mut Report, loaded: &LoadedConfig) {
    let path = &loaded.paths.timeline_db;
    if !path.exists() {
        r.add(
            Level::Warn,
            "timeline",
            format!(
                "{} does not exist yet; it is created at the first start",
                path.display()
            ),
        );
        return;
    }
    match kafclaw_timeline::Timeline::open_path(path).await {
        Ok(tl) => {
            match tl.schema_version().await {
                Ok(v) if v == SCHEMA_VERSION => r.add(
                    Level::Ok,
                    "timeline",
                    format!("{} opens; schema {v} is current", path.display()),
                ),
                Ok(v) => r.add(
                    Level::Fail,
                    "timeline",
                    format!(
                        "{} is at schema {v}, this build expects {SCHEMA_VERSION}",
                        path.display()
                    ),
                ),
                Err(e) => r.add(Level::Fail, "timeline", e.to_string()),
            }
            tl.close().await;
        }
        Err(e) => r.add(Level::Fail, "timeline", format!("{}: {e}", path.display())),
    }
}

fn soul_files(r: &mut Report, workspace: &Path) {
    let missing: Vec<&str> = SOUL_FILES
        .iter()
        .copied()
        .filter(|f| !workspace.join(f).is_file())
        .collect();
    if missing.is_empty() {
        r.add(
            Level::Ok,
            "workspace",
            format!("{} has all soul files", workspace.display()),
        );
    } else {
        r.add(
            Level::Warn,
            "workspace",
            format!(
                "{} lacks {} (kafclaw onboard writes the templates)",
                workspace.display(),
                missing.join(", ")
            ),
        );
    }
}

fn tools(r: &mut Report, loaded: &LoadedConfig) {
    match setup::tools_config(loaded)
        .and_then(|c| kafclaw_tools::Registry::with_builtin_tools(&c).map_err(Into::into))
    {
        Ok(reg) => r.add(
            Level::Ok,
            "tools",
            format!(
                "{} tools: {}",
                reg.len(),
                reg.names().collect::<Vec<_>>().join(", ")
            ),
        ),
        Err(e) => r.add(Level::Fail, "tools", format!("{e:#}")),
    }
}

async fn provider(r: &mut Report, loaded: &LoadedConfig, online: bool) {
    let config = &loaded.config;
    let agent_id = config
        .agents
        .list
        .iter()
        .find(|a| a.default)
        .map(|a| a.id.clone());
    let ctx = CallContext {
        agent_id,
        ..CallContext::default()
    };
    let chain = match ChatChain::builder(config).build() {
        Ok(c) => c,
        Err(e) => return r.add(Level::Fail, "provider", e.to_string()),
    };
    let plan = match chain.plan(&ctx) {
        Ok(p) => p,
        Err(e) => return r.add(Level::Fail, "provider", e.to_string()),
    };
    let statuses = provider_status(&config.providers);
    let problem = |provider: &str| {
        statuses
            .iter()
            .find(|s| s.id == provider)
            .and_then(|s| s.problem.clone())
    };
    match problem(&plan.primary.provider) {
        Some(p) => r.add(
            Level::Fail,
            "provider",
            format!(
                "model {} (from {}): {p}; e.g. kafclaw config set providers.openai.apiKey sk-... \
                 and kafclaw config set model.name openai/gpt-4o-mini, or run kafclaw onboard",
                plan.primary, plan.source
            ),
        ),
        None => r.add(
            Level::Ok,
            "provider",
            format!(
                "model {} (from {}) has a configured provider",
                plan.primary, plan.source
            ),
        ),
    }
    for f in &plan.fallbacks {
        if let Some(p) = problem(&f.provider) {
            r.add(Level::Warn, "provider", format!("fallback {f}: {p}"));
        }
    }
    if !online {
        return;
    }
    let chain = match setup::open_timeline(loaded).await {
        Ok(tl) => ChatChain::builder(config)
            .ledger(std::sync::Arc::new(tl))
            .build(),
        Err(_) => ChatChain::builder(config).build(),
    };
    let Ok(chain) = chain else { return };
    let started = std::time::Instant::now();
    let req =
        ChatRequest::new(vec![ChatMessage::user("Reply with the word OK.")]).with_max_tokens(16);
    match chain.chat(&ctx, req).await {
        Ok(reply) => r.add(
            Level::Ok,
            "provider",
            format!(
                "{} answered in {} ms ({} tokens)",
                reply.model,
                started.elapsed().as_millis(),
                reply.response.usage.total()
            ),
        ),
        Err(e) => r.add(Level::Fail, "provider", format!("online check: {e}")),
    }
}

fn gateway(r: &mut Report, config: &Config) {
    let g = &config.gateway;
    let token = g.auth_token.expose().trim();
    let loopback = matches!(g.host.as_str(), "127.0.0.1" | "::1" | "localhost");
    if !loopback && token.is_empty() {
        r.add(
            Level::Fail,
            "gateway",
            format!(
                "gateway.host is {} (reachable from other machines) but gateway.authToken is empty; \
                 the gateway refuses to start (set a token or bind 127.0.0.1)",
                g.host
            ),
        );
    } else if !token.is_empty() && token.len() < 16 {
        r.add(
            Level::Warn,
            "gateway",
            "gateway.authToken is shorter than 16 characters; use a long random token",
        );
    } else {
        r.add(
            Level::Ok,
            "gateway",
            format!(
                "{}:{} (API) and port {} (dashboard){}",
                g.host,
                g.port,
                g.dashboard_port,
                if loopback {
                    ", local connections only"
                } else {
                    ", token required"
                }
            ),
        );
    }
}

async fn brokers(r: &mut Report, config: &Config) {
    let group = &config.group;
    if !group.enabled {
        r.add(
            Level::Ok,
            "group",
            "disabled (standalone); no broker to check",
        );
        return;
    }
    if group.group_name.trim().is_empty() {
        r.add(
            Level::Fail,
            "group",
            "group.enabled is true but group.groupName is empty",
        );
    }
    for broker in group
        .kafka_brokers
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        let outcome =
            tokio::time::timeout(BROKER_TIMEOUT, tokio::net::TcpStream::connect(broker)).await;
        match outcome {
            Ok(Ok(_)) => r.add(
                Level::Ok,
                "broker",
                format!("{broker} accepts TCP connections (kafclaw kshark --broker {broker} checks further)"),
            ),
            Ok(Err(e)) => r.add(Level::Fail, "broker", format!("{broker}: {e}")),
            Err(_) => r.add(
                Level::Fail,
                "broker",
                format!(
                    "{broker}: no TCP connection within {} s",
                    BROKER_TIMEOUT.as_secs()
                ),
            ),
        }
    }
}
