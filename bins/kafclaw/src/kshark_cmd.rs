//! `kafclaw kshark`: Kafka diagnostics, the same checks and flags as the standalone
//! `kshark` binary (both are front ends of kafclaw-kshark).

use std::process::ExitCode;

pub(crate) use kafclaw_kshark::Args;

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(kafclaw_kshark::run_cli(
        args,
        "kafclaw kshark",
        env!("CARGO_PKG_VERSION"),
    )))
}
