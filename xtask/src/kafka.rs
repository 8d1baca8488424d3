//! `cargo xtask kafka start|stop|status`: the local Apache Kafka broker.

use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum KafkaCmd {
    /// Start the broker (idempotent); prints the bootstrap address as its last line.
    Start {
        /// PLAINTEXT port on 127.0.0.1.
        #[arg(long, default_value_t = 9092)]
        port: u16,
    },
    /// Stop the broker.
    Stop,
    /// Exit 0 only when the broker answers a metadata request.
    Status,
}

pub(crate) fn run(_cmd: KafkaCmd) -> anyhow::Result<()> {
    anyhow::bail!("the Kafka broker manager is not implemented yet")
}
