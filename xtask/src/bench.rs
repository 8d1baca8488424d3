//! `cargo xtask bench <what>`: release-built benchmarks. Each runs a bench target of its
//! crate. Targets that need a broker get `KAFCLAW_BENCH_BROKERS` pointing at a broker this
//! command starts on free ports (or at `--brokers`) and stops afterwards; the others
//! (`chat`) run without one.

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
    /// POST /chat latency through the real gateway vs the scripted LLM server alone
    /// (the framework's overhead per turn) and the gateway's RSS; no broker.
    Chat,
}

impl Target {
    fn cargo_args(self) -> &'static [&'static str] {
        match self {
            Target::Transport => &["bench", "-p", "kafclaw-group", "--bench", "transport"],
            Target::Group => &["bench", "-p", "kafclaw-group", "--bench", "group"],
            Target::Chat => &["bench", "-p", "kafclaw", "--bench", "chat"],
        }
    }

    fn needs_broker(self) -> bool {
        !matches!(self, Target::Chat)
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
    let run_bench = |brokers: Option<&str>| -> anyhow::Result<()> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root).args(args.target.cargo_args());
        if let Some(brokers) = brokers {
            cmd.env("KAFCLAW_BENCH_BROKERS", brokers);
        }
        crate::test::without_package_env(&mut cmd);
        let status = cmd.status().context("run cargo bench")?;
        if !status.success() {
            bail!("the benchmark failed ({status})");
        }
        Ok(())
    };
    if !args.target.needs_broker() {
        return run_bench(None);
    }
    if let Some(brokers) = &args.brokers {
        return run_bench(Some(brokers));
    }
    let (broker, _claim) = crate::test::claim_broker(&root, None)?;
    let _stop = crate::test::StopOnDrop(&broker);
    crate::kafka::start(&broker)?;
    run_bench(Some(&format!("127.0.0.1:{}", broker.port())))
}
