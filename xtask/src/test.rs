//! `cargo xtask test`: the README's test command. Starts what the tests need, runs them, stops it.

use std::process::Command;

#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// Extra arguments passed to `cargo test`.
    #[arg(trailing_var_arg = true)]
    pub(crate) cargo_args: Vec<String>,
}

pub(crate) fn run(args: TestArgs) -> anyhow::Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(crate::workspace_root())
        .args(["test", "--workspace"])
        .args(&args.cargo_args)
        .status()?;
    anyhow::ensure!(status.success(), "cargo test failed ({status})");
    Ok(())
}
