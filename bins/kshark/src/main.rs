//! kshark: Kafka connectivity diagnostics, layer by layer. A thin front end over
//! kafclaw-kshark (the same checks run as `kafclaw kshark`).
//!
//! Exit codes: 0 every check passed (warnings allowed), 1 a check failed,
//! 2 usage, configuration or output error.

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "kshark", version)]
struct Cli {
    #[command(flatten)]
    args: kafclaw_kshark::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(kafclaw_kshark::run_cli(
        cli.args,
        "kshark",
        env!("CARGO_PKG_VERSION"),
    ))
}
