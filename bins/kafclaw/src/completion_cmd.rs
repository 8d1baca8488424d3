//! `kafclaw completion SHELL`: prints a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the command definitions (so it never drifts from them).

use std::process::ExitCode;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  kafclaw completion bash > ~/.local/share/bash-completion/completions/kafclaw\n  \
    kafclaw completion zsh > \"${fpath[1]}/_kafclaw\"\n  \
    kafclaw completion fish > ~/.config/fish/completions/kafclaw.fish\n\n\
    Exit codes: 0 script printed; 2 unknown shell."
)]
pub(crate) struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: Args, cmd: &mut clap::Command) -> anyhow::Result<ExitCode> {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(args.shell, cmd, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
