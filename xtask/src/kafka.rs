//! `cargo xtask kafka start|stop|status`: the local Apache Kafka broker (a thin CLI over `kafclaw_testkit::Broker`).

use std::time::Instant;

use anyhow::Context as _;
use clap::Subcommand;
use kafclaw_testkit::{Broker, StartOutcome, StopOutcome};

/// The default PLAINTEXT port of the development broker.
pub(crate) const DEFAULT_PORT: u16 = 9092;

#[derive(Subcommand)]
pub(crate) enum KafkaCmd {
    /// Start the broker (idempotent); prints the bootstrap address as its last line.
    ///
    /// Listeners on 127.0.0.1: PLAINTEXT P, CONTROLLER P+1, SASL_PLAINTEXT P+2,
    /// SSL P+3, SSL with client certificates P+4. Files under target/kafka/P/.
    Start {
        /// PLAINTEXT port P on 127.0.0.1 (the broker uses P..=P+4).
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
    /// Stop the broker (SIGTERM, then SIGKILL) and wait until its ports are closed.
    Stop {
        /// PLAINTEXT port P of the broker to stop.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
    /// Exit 0 only when the broker answers a metadata request.
    Status {
        /// PLAINTEXT port P to probe.
        #[arg(long, default_value_t = DEFAULT_PORT)]
        port: u16,
    },
}

pub(crate) fn run(cmd: KafkaCmd) -> anyhow::Result<()> {
    match cmd {
        KafkaCmd::Start { port } => {
            let broker = Broker::for_workspace(&crate::workspace_root(), port)?;
            start(&broker)?;
            println!("{}", broker.bootstrap());
            Ok(())
        }
        KafkaCmd::Stop { port } => {
            let broker = Broker::for_workspace(&crate::workspace_root(), port)?;
            match broker.stop()? {
                StopOutcome::Stopped { pid } => {
                    eprintln!("stopped the Kafka broker on port {port} (pid {pid})")
                }
                StopOutcome::NotRunning => eprintln!("no Kafka broker was running on port {port}"),
            }
            Ok(())
        }
        KafkaCmd::Status { port } => {
            let broker = Broker::for_workspace(&crate::workspace_root(), port)?;
            let md = match broker.status() {
                Ok(md) => md,
                Err(e) => {
                    // An expected outcome, not a crash: one line and exit code 1.
                    eprintln!("no Kafka broker answers on {}: {e}", broker.bootstrap());
                    std::process::exit(1);
                }
            };
            let pid = broker.pid().map_or_else(
                || "not started from this workspace".to_owned(),
                |p| format!("pid {p}"),
            );
            println!("{}: {md} ({pid})", broker.bootstrap());
            Ok(())
        }
    }
}

/// Starts `broker` (or finds it running) and describes it on stderr.
pub(crate) fn start(broker: &Broker) -> anyhow::Result<()> {
    let began = Instant::now();
    eprintln!(
        "starting Apache Kafka {} on {} (files in {}; the first start fetches it with Maven)",
        kafclaw_testkit::KAFKA_VERSION,
        broker.bootstrap(),
        broker.dir().display()
    );
    let outcome = broker
        .start()
        .with_context(|| format!("start the Kafka broker on port {}", broker.port()))?;
    let l = broker.listeners();
    match outcome {
        StartOutcome::Started { pid } => eprintln!(
            "Kafka broker started (pid {pid}) in {:.1}s",
            began.elapsed().as_secs_f64()
        ),
        StartOutcome::AlreadyRunning { pid } => {
            eprintln!("Kafka broker already running (pid {pid})")
        }
    }
    eprintln!("  PLAINTEXT       {}", l.plaintext);
    eprintln!(
        "  SASL_PLAINTEXT  {} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)",
        l.sasl_plaintext
    );
    eprintln!("  SSL             {}", l.ssl);
    eprintln!("  SSL + mTLS      {}", l.mtls);
    eprintln!("  state           {}", broker.state_json_path().display());
    eprintln!("  env             {}", broker.env_file_path().display());
    eprintln!("  log             {}", broker.log_path().display());
    Ok(())
}
