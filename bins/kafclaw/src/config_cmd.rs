//! `kafclaw config get|set|unset|validate|paths`: read the effective configuration and
//! change `config.json` one key at a time.

use std::process::ExitCode;

use kafclaw_config::{Config, ConfigFile, Environment, env_bindings, lookup_key, mask_secrets};
use serde_json::Value;

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Print the effective value of a dotted key (environment, then config.json, then
    /// defaults), or the whole configuration as JSON when no key is given.
    Get {
        /// Dotted key, e.g. `gateway.port` or `group.kafkaBrokers`.
        key: Option<String>,
        /// Print credentials (API keys, passwords, tokens) instead of masking them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Write one key to config.json. The value is read as the key's type: numbers,
    /// true/false, text; JSON (or a comma-separated list) for list and object keys.
    Set {
        /// Dotted key.
        key: String,
        /// New value (may start with '-', e.g. a negative number).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Remove one key from config.json (it falls back to its default).
    Unset {
        /// Dotted key.
        key: String,
    },
    /// Check config.json and the environment as the agent would at start-up.
    Validate,
    /// Print where KafClaw keeps its state (KAFCLAW_HOME and the paths under it).
    Paths,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process();
    match run_with(args.cmd, &env) {
        Ok(code) => Ok(code),
        Err(err) => {
            eprintln!("kafclaw: error: {err}");
            Ok(ExitCode::from(crate::EXIT_USAGE))
        }
    }
}

fn warn(msg: impl std::fmt::Display) {
    eprintln!("kafclaw: warning: {msg}");
}

fn run_with(cmd: Cmd, env: &Environment) -> Result<ExitCode, kafclaw_config::Error> {
    match cmd {
        Cmd::Get { key, show_secrets } => {
            let loaded = Config::load_from(env)?;
            loaded.warnings.iter().for_each(warn);
            let mut tree = loaded.config.to_json();
            if !show_secrets {
                mask_secrets(&mut tree);
            }
            let value = match &key {
                None => &tree,
                Some(k) => {
                    lookup_key(&tree, k).ok_or_else(|| kafclaw_config::Error::UnknownKey {
                        origin: kafclaw_config::Origin::Direct,
                        key: k.clone(),
                    })?
                }
            };
            println!("{}", render(value));
        }
        Cmd::Set { key, value } => {
            let mut file = ConfigFile::open_from(env)?;
            file.permission_warnings().iter().for_each(warn);
            file.set(&key, &value)?;
            file.save()?;
            let canonical = kafclaw_config::canonical_key(&key);
            eprintln!("kafclaw: set {canonical} in {}", file.path().display());
            warn_if_overridden(env, &canonical);
        }
        Cmd::Unset { key } => {
            let mut file = ConfigFile::open_from(env)?;
            file.permission_warnings().iter().for_each(warn);
            if file.unset(&key)? {
                file.save()?;
                eprintln!("kafclaw: removed {key} from {}", file.path().display());
                if let Err(err) = file.check() {
                    warn(format!("the file still has a problem: {err}"));
                }
            } else {
                eprintln!("kafclaw: {key} is not set in {}", file.path().display());
            }
        }
        Cmd::Validate => {
            let loaded = Config::load_from(env)?;
            loaded.warnings.iter().for_each(warn);
            println!(
                "configuration is valid ({})",
                loaded.paths.config_file.display()
            );
        }
        Cmd::Paths => {
            let p = Config::load_from(env)?.paths;
            println!("home: {}", p.home.display());
            println!("config_file: {}", p.config_file.display());
            println!("timeline_db: {}", p.timeline_db.display());
            println!("sessions_dir: {}", p.sessions_dir.display());
            println!("subagents_dir: {}", p.subagents_dir.display());
            println!("skills_dir: {}", p.skills_dir.display());
            println!("models_dir: {}", p.models_dir.display());
            println!("workspace: {}", p.workspace.display());
            println!("work_repo: {}", p.work_repo.display());
            if let Some(s) = &p.system_repo {
                println!("system_repo: {}", s.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Scalars print plainly (strings without quotes); lists and objects as JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => {
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        }
        other => other.to_string(),
    }
}

/// Tells the user when an environment variable will hide the value just written.
fn warn_if_overridden(env: &Environment, key: &str) {
    for binding in env_bindings()
        .iter()
        .filter(|b| kafclaw_config::canonical_key(b.key) == key)
    {
        if let Some(var) = binding
            .candidates()
            .into_iter()
            .find(|n| env.get(n).is_some())
        {
            warn(format!(
                "{var} is set in the environment and overrides {key} from the file"
            ));
        }
    }
}
