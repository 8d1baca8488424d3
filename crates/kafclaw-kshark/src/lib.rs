//! kafclaw-kshark: Kafka diagnostics, layer by layer. A [`Probe`] checks each
//! bootstrap broker from the bottom up (DNS, TCP, TLS handshake and certificate
//! chain, Kafka ApiVersions, SASL, cluster metadata), then the advertised brokers,
//! a produce/consume round trip on a probe topic, and optionally every topic of a
//! KafClaw group with leaders, watermarks and the local agent's lag. Every check
//! records its latency, and a failing one records a hint naming the likely cause;
//! the layers above a failure are reported as skipped. The result is a [`Report`]
//! (JSON with a committed JSON Schema, a terminal table, a self-contained HTML page).
//!
//! It is not a Kafka client library, an admin tool or a monitor: it speaks only
//! the handful of raw requests the layer checks need, uses kafclaw-group's
//! transport for the round trip, never deletes anything, and opens an agent's
//! timeline read-only. Both `kshark` and `kafclaw kshark` are thin shells over
//! [`run_cli`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafclaw_kshark::Error> {
//! use kafclaw_kshark::{Probe, Silent, SettingsLayer, Target};
//!
//! let mut notes = Vec::new();
//! let flags = SettingsLayer {
//!     brokers: Some(vec!["localhost:9092".to_owned()]),
//!     ..SettingsLayer::new("flags")
//! };
//! let target = Target::resolve(&[flags], &mut notes)?;
//! let report = Probe::builder(target).build().run(&mut Silent).await;
//! println!("{}", kafclaw_kshark::render_text(&report));
//! assert!(!report.failed());
//! # Ok(()) }
//! ```

mod cli;
mod error;
mod group;
mod probe;
mod props;
mod render;
mod report;
mod run;
mod settings;
mod tls;
mod wire;

pub use cli::{
    Args, EXIT_FAILED, EXIT_OK, EXIT_USAGE, build_probe, parse_duration, run as run_cli,
    write_reports,
};
pub use error::{Error, Result};
pub use probe::{DEFAULT_PROBE_TOPIC, GroupProbe, Probe, ProbeBuilder, Progress, Silent, Timeouts};
pub use props::{JaasLogin, PropEntry, load_props, parse_jaas, parse_properties, props_layer};
pub use render::{render_html, render_text};
pub use report::{
    BrokerInfo, CertificateInfo, Check, ClusterInfo, ConfigEcho, Counts, Layer, LayerCounts,
    PartitionInfo, REPORT_SCHEMA_VERSION, Report, Status, Summary, TopicReport, report_schema,
    report_schema_text,
};
pub use settings::{
    Preset, SaslAuth, SettingsLayer, Target, auto_layer, parse_brokers, parse_mechanism,
    parse_protocol, protocol_name,
};

/// SASL mechanisms, security protocols and TLS files, as kafclaw-group defines them.
pub use kafclaw_group::{SaslMechanism, SecurityProtocol, TlsFiles};
