//! xtask: the project's automation entry point (`cargo xtask ...`).
//!
//! Code generation with a `--check` mode, the development Kafka broker, the
//! test runner that CI calls, and benchmarks. Not shipped to users.

mod bench;
mod kafka;
mod prereqs;
mod schemas;
mod test;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "KafClaw project automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Regenerate the JSON Schemas under schemas/ from the Rust wire types.
    Schemas {
        /// Fail (exit 1) when the committed schemas differ from the generated ones.
        #[arg(long)]
        check: bool,
    },
    /// Manage the local Apache Kafka broker (KRaft, 127.0.0.1) used by dev and tests.
    Kafka {
        #[command(subcommand)]
        cmd: kafka::KafkaCmd,
    },
    /// Run the whole test suite: starts its own broker, runs every test, stops the broker.
    Test(test::TestArgs),
    /// Run a benchmark (release build; with a broker of its own when it needs one); prints a table.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Schemas { check } => schemas::run(check),
        Cmd::Kafka { cmd } => kafka::run(cmd),
        Cmd::Test(args) => test::run(args),
        Cmd::Bench(args) => bench::run(args),
    }
}

/// The workspace root (the parent of the xtask crate).
pub(crate) fn workspace_root() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent().unwrap_or(dir).to_path_buf()
}
