//! `kafclaw onboard`: first-time set-up. Writes the chosen provider, model and operating
//! mode into config.json (mode 0600, in a 0700 directory; only the keys given change) and
//! scaffolds the soul files in the workspace (existing ones are kept unless `--force`).
//! Interactive when stdin is a terminal, or `--non-interactive` with flags.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use kafclaw_agent::{ScaffoldAction, scaffold_workspace};
use kafclaw_config::{Config, ConfigFile, Environment};
use kafclaw_providers::{PROVIDERS, ProviderInfo, provider_info};
use serde_json::{Value, json};

use crate::setup;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// One agent, no Kafka.
    Standalone,
    /// Kafka group collaboration.
    Group,
    /// Group plus orchestrator.
    Full,
    /// Full, bound to 0.0.0.0 with an auth token (one is generated unless given).
    Headless,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  kafclaw onboard\n  kafclaw onboard --non-interactive \
    --provider openai --api-key sk-... --model gpt-4o-mini\n  kafclaw onboard --non-interactive \
    --mode group --group-name team --brokers kafka1:9092,kafka2:9092\n\n\
    Exit codes: 0 done; 2 usage or configuration error (a missing flag, a bad value, a file \
    that cannot be written)."
)]
pub(crate) struct Args {
    /// Do not ask anything; take the flags (required when stdin is not a terminal).
    #[arg(long)]
    non_interactive: bool,
    /// Replace existing soul files with the templates.
    #[arg(short, long)]
    force: bool,
    /// LLM provider id: claude, openai, openrouter, deepseek, groq, gemini, xai, vllm,
    /// scalytics-copilot.
    #[arg(long, value_name = "ID")]
    provider: Option<String>,
    /// The provider's API key (stored in config.json, which only you can read).
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Model name, with or without the `provider/` prefix (e.g. gpt-4o-mini).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// API endpoint, for self-hosted or proxied providers (e.g. http://127.0.0.1:8000/v1).
    #[arg(long, value_name = "URL")]
    api_base: Option<String>,
    /// Operating mode.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Group name (group, full and headless modes).
    #[arg(long, value_name = "NAME")]
    group_name: Option<String>,
    /// Kafka brokers, comma-separated host:port (group, full and headless modes).
    #[arg(long, value_name = "LIST")]
    brokers: Option<String>,
    /// Gateway auth token for headless mode (default: the configured one, else a new one).
    #[arg(long, value_name = "TOKEN")]
    auth_token: Option<String>,
}

/// What the operator chose, after prompts.
#[derive(Default)]
struct Choices {
    provider: Option<&'static ProviderInfo>,
    api_key: Option<String>,
    model: Option<String>,
    api_base: Option<String>,
    mode: Option<ModeArg>,
    group_name: Option<String>,
    brokers: Option<String>,
    auth_token: Option<String>,
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("kafclaw: {msg}");
    Ok(ExitCode::from(crate::EXIT_USAGE))
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process();
    let mut file = match ConfigFile::open_from(&env) {
        Ok(f) => f,
        Err(e) => return usage(format!("configuration error: {e}")),
    };
    // The file as it is (defaults for what it does not say), to offer current values.
    let current = match file.check() {
        Ok(c) => c,
        Err(e) => {
            return usage(format!(
                "configuration error: {e}\nfix or remove the key first (kafclaw config unset KEY)"
            ));
        }
    };
    let choices = if args.non_interactive {
        match from_flags(&args) {
            Ok(c) => c,
            Err(msg) => return usage(msg),
        }
    } else {
        if !std::io::stdin().is_terminal() {
            return usage(
                "stdin is not a terminal: use --non-interactive with flags, e.g. \
                 --provider openai --api-key sk-... --model gpt-4o-mini",
            );
        }
        match prompt(&args, &current) {
            Ok(c) => c,
            Err(e) => return usage(e),
        }
    };
    let mut generated_token = None;
    if let Err(msg) = apply(&mut file, &current, &choices, &mut generated_token) {
        return usage(msg);
    }
    if let Err(e) = file.save() {
        return usage(format!("cannot write {}: {e}", file.path().display()));
    }
    println!("config:    {} (written, mode 0600)", file.path().display());
    if let Some(t) = generated_token {
        println!("gateway:   generated auth token {t} (stored as gateway.authToken)");
    }

    // State directories and the soul files, from the configuration just written.
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let paths = &loaded.paths;
    if let Err(e) = paths.ensure_home() {
        return usage(e);
    }
    for dir in [&paths.work_repo, &paths.sessions_dir] {
        if let Err(e) = setup::ensure_dir(dir) {
            return usage(format!("{e:#}"));
        }
    }
    // The timeline: created (0600) with its current schema, so the first start finds it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(setup::open_timeline(&loaded)) {
        Ok(tl) => {
            rt.block_on(tl.close());
            println!("timeline:  {}", paths.timeline_db.display());
        }
        Err(e) => return usage(format!("{e:#}")),
    }
    let files = match scaffold_workspace(&paths.workspace, args.force) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    println!("workspace: {}", paths.workspace.display());
    for f in files {
        let what = match f.action {
            ScaffoldAction::Created => "created",
            ScaffoldAction::Kept => "kept (use --force to replace)",
            ScaffoldAction::Replaced => "replaced",
        };
        let name = f.path.file_name().unwrap_or_default().to_string_lossy();
        println!("  {name:<12} {what}");
    }
    println!("work repo: {}", paths.work_repo.display());
    println!("model:     {}", loaded.config.model.name);
    println!("next:      kafclaw doctor, then kafclaw agent -m \"hello\"");
    Ok(ExitCode::SUCCESS)
}

fn find_provider(id: &str) -> Result<&'static ProviderInfo, String> {
    provider_info(id.trim()).ok_or_else(|| {
        let known: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
        format!(
            "--provider {id:?} is not a known provider (known: {})",
            known.join(", ")
        )
    })
}

fn from_flags(args: &Args) -> Result<Choices, String> {
    let provider = args.provider.as_deref().map(find_provider).transpose()?;
    if provider.is_none() && (args.api_key.is_some() || args.api_base.is_some()) {
        return Err("--api-key and --api-base need --provider".into());
    }
    Ok(Choices {
        provider,
        api_key: args.api_key.clone(),
        model: args.model.clone(),
        api_base: args.api_base.clone(),
        mode: args.mode,
        group_name: args.group_name.clone(),
        brokers: args.brokers.clone(),
        auth_token: args.auth_token.clone(),
    })
}

/// Writes the choices into the file; every key is checked by `ConfigFile`, so an error
/// names the key and nothing is written.
fn apply(
    file: &mut ConfigFile,
    current: &Config,
    c: &Choices,
    generated_token: &mut Option<String>,
) -> Result<(), String> {
    let mut set = |key: &str, value: Value| {
        file.set_json(key, value)
            .map_err(|e| format!("cannot set {key}: {e}"))
    };
    if let Some(p) = c.provider {
        if let Some(k) = c
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            set(&format!("providers.{}.apiKey", p.config_key), json!(k))?;
        }
        if let Some(b) = c
            .api_base
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            if !(b.starts_with("http://") || b.starts_with("https://")) {
                return Err(format!(
                    "--api-base {b:?} must start with http:// or https://"
                ));
            }
            set(&format!("providers.{}.apiBase", p.config_key), json!(b))?;
        }
    }
    match (c.provider, c.model.as_deref().map(str::trim)) {
        (_, Some("")) => return Err("--model must not be empty".into()),
        (Some(p), Some(m)) if !m.contains('/') => {
            set("model.name", json!(format!("{}/{m}", p.id)))?
        }
        (_, Some(m)) => set("model.name", json!(m))?,
        (Some(p), None) => {
            let same = current
                .model
                .name
                .split_once('/')
                .and_then(|(prov, _)| provider_info(prov))
                .is_some_and(|i| i.id == p.id);
            if !same {
                return Err(format!(
                    "--model is needed: model.name is {:?}, which does not use provider {}",
                    current.model.name, p.id
                ));
            }
        }
        (None, None) => {}
    }
    let Some(mode) = c.mode else {
        return Ok(());
    };
    let group = mode != ModeArg::Standalone;
    set("group.enabled", json!(group))?;
    set(
        "orchestrator.enabled",
        json!(matches!(mode, ModeArg::Full | ModeArg::Headless)),
    )?;
    if group {
        let name = c
            .group_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| Some(current.group.group_name.clone()).filter(|n| !n.is_empty()))
            .ok_or("--group-name is needed for group, full and headless modes")?;
        set("group.groupName", json!(name.trim()))?;
        if let Some(b) = c
            .brokers
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            set("group.kafkaBrokers", json!(b))?;
        }
    }
    if mode == ModeArg::Headless {
        set("gateway.host", json!("0.0.0.0"))?;
        let token = match c.auth_token.as_deref().map(str::trim) {
            Some(t) if t.len() >= 16 => t.to_owned(),
            Some(_) => return Err("--auth-token must be at least 16 characters".into()),
            None if !current.gateway.auth_token.expose().trim().is_empty() => {
                current.gateway.auth_token.expose().trim().to_owned()
            }
            None => {
                let t = format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                );
                *generated_token = Some(t.clone());
                t
            }
        };
        set("gateway.authToken", json!(token))?;
    } else if matches!(mode, ModeArg::Standalone | ModeArg::Group | ModeArg::Full)
        && current.gateway.host == "0.0.0.0"
    {
        eprintln!(
            "kafclaw: note: gateway.host stays {:?}; set it to 127.0.0.1 to accept local connections only",
            current.gateway.host
        );
    }
    Ok(())
}

/// Reads one line; an empty answer takes `default`.
fn ask(question: &str, default: &str) -> std::io::Result<String> {
    let mut err = std::io::stderr();
    if default.is_empty() {
        write!(err, "{question}: ")?;
    } else {
        write!(err, "{question} [{default}]: ")?;
    }
    err.flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "stdin closed",
        ));
    }
    let line = line.trim();
    Ok(if line.is_empty() { default } else { line }.to_owned())
}

/// Reads a secret without echoing it.
fn ask_secret(question: &str) -> std::io::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let answer = ask(question, "");
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
        eprintln!();
    }
    answer
}

fn prompt(args: &Args, current: &Config) -> Result<Choices, String> {
    let io = |e: std::io::Error| format!("cannot read the answer: {e}");
    let known: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
    eprintln!("KafClaw set-up. Press Enter to keep the value in brackets.");
    let current_provider = current
        .model
        .name
        .split_once('/')
        .and_then(|(p, _)| provider_info(p))
        .map_or("openai", |i| i.id);
    let provider_id = match &args.provider {
        Some(p) => p.clone(),
        None => ask(
            &format!("LLM provider ({})", known.join(", ")),
            current_provider,
        )
        .map_err(io)?,
    };
    let provider = find_provider(&provider_id)?;
    let configured_key = current
        .providers
        .get(provider.config_key)
        .is_some_and(|p| !p.api_key.expose().trim().is_empty());
    let api_key = match &args.api_key {
        Some(k) => Some(k.clone()),
        None if provider.key_required || !configured_key => {
            let q = if configured_key {
                format!("API key for {} (Enter keeps the stored one)", provider.id)
            } else {
                format!("API key for {} (input hidden)", provider.id)
            };
            Some(ask_secret(&q).map_err(io)?).filter(|k| !k.is_empty())
        }
        None => None,
    };
    let default_model = current
        .model
        .name
        .split_once('/')
        .filter(|(p, _)| provider_info(p).is_some_and(|i| i.id == provider.id))
        .map_or(String::new(), |(_, m)| m.to_owned());
    let model = match &args.model {
        Some(m) => m.clone(),
        None => ask(&format!("Model of {}", provider.id), &default_model).map_err(io)?,
    };
    let api_base = match &args.api_base {
        Some(b) => Some(b.clone()),
        None => {
            let now = current
                .providers
                .get(provider.config_key)
                .map(|p| p.api_base.clone())
                .unwrap_or_default();
            let b = ask("API endpoint", &now).map_err(io)?;
            (b != now).then_some(b)
        }
    };
    let mode = match args.mode {
        Some(m) => m,
        None => {
            let now = if current.orchestrator.enabled {
                "full"
            } else if current.group.enabled {
                "group"
            } else {
                "standalone"
            };
            let m = ask("Mode (standalone, group, full, headless)", now).map_err(io)?;
            ModeArg::from_str(&m, true).map_err(|_| format!("unknown mode {m:?}"))?
        }
    };
    let (mut group_name, mut brokers) = (args.group_name.clone(), args.brokers.clone());
    if mode != ModeArg::Standalone {
        if group_name.is_none() {
            group_name = Some(ask("Group name", &current.group.group_name).map_err(io)?);
        }
        if brokers.is_none() {
            brokers = Some(ask("Kafka brokers", &current.group.kafka_brokers).map_err(io)?);
        }
    }
    Ok(Choices {
        provider: Some(provider),
        api_key,
        model: Some(model).filter(|m| !m.is_empty()),
        api_base,
        mode: Some(mode),
        group_name,
        brokers,
        auth_token: args.auth_token.clone(),
    })
}
