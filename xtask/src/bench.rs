//! `cargo xtask bench <what>`: benchmarks that need a broker. Each runs a release-built
//! bench target of its crate with `KAFCLAW_BENCH_BROKERS` pointing at a broker this
//! command starts on free ports (or at `--brokers`), and stops that broker afterwards.

use std::process::Command;

use anyhow::{Context as _, bail};
use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Target {
    /// Produce→consume latency and saturation throughput: KafkaTransport vs bare rskafka.
    Transport,
    /// Agent request→response round trip vs the raw transport round trip; roster
    /// convergence of 50 agents.
    Group,
}

impl Target {
    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Target::Transport => &["bench", "-p", "kafclaw-group", "--bench", "transport"],
            Target::Group => &["bench", "-p", "kafclaw-group", "--bench", "group"],
        }
    }
}

#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Which benchmark.
    #[arg(value_enum)]
    target: Target,
    /// Use this broker instead of starting one (`host:port`).
    #[arg(long, env = "KAFCLAW_BENCH_BROKERS")]
    brokers: Option<String>,
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let run_bench = |brokers: &str| -> anyhow::Result<()> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(args.target.cargo_args())
            .env("KAFCLAW_BENCH_BROKERS", brokers);
        crate::test::without_package_env(&mut cmd);
        let status = cmd.status().context("run cargo bench")?;
        if !status.success() {
            bail!("the benchmark failed ({status})");
        }
        Ok(())
    };
    if let Some(brokers) = &args.brokers {
        return run_bench(brokers);
    }
    let (broker, _claim) = crate::test::claim_broker(&root, None)?;
    let _stop = crate::test::StopOnDrop(&broker);
    crate::kafka::start(&broker)?;
    run_bench(&format!("127.0.0.1:{}", broker.port()))
}
