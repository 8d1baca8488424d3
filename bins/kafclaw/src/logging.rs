//! Logging of every subcommand: `tracing` events go to stderr (stdout stays for the
//! command's output), filtered by `KAFCLAW_LOG` or else `RUST_LOG` in the usual directive
//! syntax (`info`, `kafclaw_agent=debug,warn`), as human-readable lines or as JSON
//! (`--log-format json` or `KAFCLAW_LOG_FORMAT=json`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event (timestamp, level, target, fields).
    Json,
}

/// The filter directives: `KAFCLAW_LOG`, else `RUST_LOG`, else `default`. A filter that
/// does not parse is reported and the default is used instead.
fn filter(default: &str) -> EnvFilter {
    let from_env = ["KAFCLAW_LOG", "RUST_LOG"].into_iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (var, v))
    });
    if let Some((var, value)) = from_env {
        match EnvFilter::try_new(&value) {
            Ok(f) => return f,
            Err(e) => eprintln!(
                "kafclaw: warning: {var}={value:?} is not a valid log filter ({e}); using {default:?}"
            ),
        }
    }
    EnvFilter::new(default)
}

/// Installs the process-wide subscriber. `default` is the filter when no variable sets
/// one (`warn` for commands, `info` for long-running services).
pub(crate) fn init(format: Option<LogFormat>, default: &str) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter(default));
    let result = match format.unwrap_or(LogFormat::Human) {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(true)
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    if let Err(e) = result {
        eprintln!("kafclaw: warning: logging is not available: {e}");
    }
}
