//! `kafclaw envelope validate [--topic NAME] [--strict] [FILE...]`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`kafclaw envelope` is not implemented yet")
}
