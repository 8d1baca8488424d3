//! kafclaw: the thin composition root. Parses flags, loads configuration, wires
//! concrete implementations and maps errors to documented exit codes.
//!
//! Exit codes (documented in the README and `kafclaw --help`):
//! - 0: success
//! - 1: the command ran and found a failure (an invalid message, a refused tool call, ...)
//! - 2: usage or configuration error (bad flag, bad config file or environment value)

mod agent_cmd;
mod completion_cmd;
mod config_cmd;
mod doctor_cmd;
mod envelope_cmd;
mod gateway_cmd;
mod group_cmd;
mod group_log_cmd;
mod kshark_cmd;
mod logging;
mod models_cmd;
mod onboard_cmd;
mod orchestrator_cmd;
mod setup;
mod status_cmd;
mod tools_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Exit code for a command that ran and found a failure.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or configuration error.
pub(crate) const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "kafclaw",
    version,
    about = "Autonomous AI agents that collaborate over Apache Kafka",
    after_help = "Exit codes: 0 success, 1 the command found a failure, 2 usage or configuration error."
)]
struct Cli {
    /// Log lines on stderr as human-readable text or JSON (filter: KAFCLAW_LOG or RUST_LOG).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "KAFCLAW_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    log_format: Option<logging::LogFormat>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version, mode, config file, paths, model and provider, task counts, gateway and group.
    Status(status_cmd::Args),
    /// First-time set-up: provider, model and mode in config.json, soul files in the workspace.
    Onboard(onboard_cmd::Args),
    /// Send one message to the agent (same policy and timeline as the gateway) and print the answer.
    Agent(agent_cmd::Args),
    /// Check the set-up: config, permissions, timeline, soul files, provider, gateway, brokers.
    Doctor(doctor_cmd::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(completion_cmd::Args),
    /// Read and change the configuration (~/.kafclaw/config.json, or $KAFCLAW_HOME/config.json).
    Config(config_cmd::Args),
    /// Work with KafClaw wire envelopes (validate messages against the protocol).
    Envelope(envelope_cmd::Args),
    /// List the tools, or run one through the policy engine and sandbox without a model.
    Tools(tools_cmd::Args),
    /// Diagnose Kafka connectivity layer by layer (DNS, TCP, TLS, SASL, metadata, round trip, group topics).
    Kshark(Box<kshark_cmd::Args>),
    /// Group collaboration over Kafka: members, status, submit a task, join, leave.
    Group(group_cmd::Args),
    /// The orchestrator's view: status, hierarchy, zones; create zones and add members.
    Orchestrator(orchestrator_cmd::Args),
    /// LLM providers and models: what is configured, and token usage and cost.
    Models(models_cmd::Args),
    /// Run the agent with its HTTP API (POST /chat) and dashboard until SIGINT/SIGTERM.
    Gateway(gateway_cmd::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_log = if matches!(cli.cmd, Cmd::Gateway(_)) {
        "info"
    } else {
        "warn"
    };
    logging::init(cli.log_format, default_log);
    let result = match cli.cmd {
        Cmd::Status(args) => status_cmd::run(args),
        Cmd::Onboard(args) => onboard_cmd::run(args),
        Cmd::Agent(args) => agent_cmd::run(args),
        Cmd::Doctor(args) => doctor_cmd::run(args),
        Cmd::Completion(args) => completion_cmd::run(args, &mut Cli::command()),
        Cmd::Config(args) => config_cmd::run(args),
        Cmd::Envelope(args) => envelope_cmd::run(args),
        Cmd::Tools(args) => tools_cmd::run(args),
        Cmd::Kshark(args) => kshark_cmd::run(*args),
        Cmd::Group(args) => group_cmd::run(args),
        Cmd::Orchestrator(args) => orchestrator_cmd::run(args),
        Cmd::Models(args) => models_cmd::run(args),
        Cmd::Gateway(args) => gateway_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("kafclaw: error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
