//! kafclaw-testkit: test support for KafClaw, used only as a dev-dependency.
//!
//! It manages the real Apache Kafka broker the tests run against (a single
//! KRaft node on 127.0.0.1 with PLAINTEXT, SASL, TLS and mutual-TLS listeners,
//! fetched from Maven Central and started as a Java process), finds that broker
//! from the `KAFCLAW_TEST_*` environment that `cargo xtask test` exports, and
//! offers small helpers for broker tests: fresh topic and group names and
//! polling with a deadline. `cargo xtask kafka` is a thin command line over
//! [`Broker`].
//!
//! [`llm`] holds the scripted LLM server of the provider tests ([`ScriptedLlm`]): a
//! loopback HTTP server speaking the OpenAI or Anthropic wire format that plays a
//! script of replies and records the requests it received.
//!
//! It is NOT a Kafka client: the few raw protocol requests in [`probe`] exist to
//! tell whether a broker is up and whether its listeners authenticate, nothing
//! more. It never becomes a dependency of a product crate, and it holds no
//! mocks of KafClaw components.

mod broker;
mod env;
mod error;
pub mod llm;
pub mod probe;
mod runtime;
mod tls;
mod util;

pub use broker::{Broker, ListenerAddrs, SASL_USERS, SaslUser, StartOutcome, StopOutcome};
pub use env::{
    SaslEndpoint, TestBroker, TlsEndpoint, broker, broker_from_env, is_ci, python, python_from_env,
    vars,
};
pub use error::{Error, Result};
pub use llm::{RecordedRequest, Reply, ScriptedLlm, Wire};
pub use probe::ClusterMetadata;
pub use runtime::{KAFKA_VERSION, KafkaRuntime, default_cache_dir};
pub use tls::TlsFiles;
pub use util::{random_group_name, random_suffix, random_topic_name, wait_until, wait_until_async};

/// Returns the broker for this test, or returns from the test when there is
/// none (printing why) — except in CI, where a missing broker panics.
///
/// ```no_run
/// # fn t() {
/// let broker = kafclaw_testkit::maybe_skip_kafka!();
/// println!("bootstrap: {}", broker.brokers);
/// # }
/// ```
#[macro_export]
macro_rules! maybe_skip_kafka {
    () => {
        match $crate::broker() {
            Some(broker) => broker,
            None => return,
        }
    };
}
