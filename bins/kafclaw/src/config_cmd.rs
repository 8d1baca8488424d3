//! `kafclaw config get|set|unset <dotted.path>`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`kafclaw config` is not implemented yet")
}
