//! The report: stable, serializable types (the JSON output and its JSON Schema).
//!
//! Field names and enum spellings are part of the `--json` contract: add optional
//! fields freely, and bump [`REPORT_SCHEMA_VERSION`] for anything else.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the report format, written as `schema_version`.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The check passed.
    Ok,
    /// The check passed with a caveat (a certificate about to expire, a partition without a leader).
    Warn,
    /// The check failed; `hint` names the likely cause.
    Fail,
    /// The check did not run because an earlier layer failed (or it was not asked for); `detail` says why.
    Skipped,
}

impl Status {
    /// Upper-case label for tables: `OK`, `WARN`, `FAIL`, `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skipped => "SKIP",
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// The network or protocol layer a check belongs to, from the bottom up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Name resolution.
    Dns,
    /// TCP connection.
    Tcp,
    /// TLS handshake and certificates.
    Tls,
    /// The Kafka protocol itself (ApiVersions).
    Kafka,
    /// SASL authentication.
    Sasl,
    /// Cluster metadata (brokers, controller, advertised addresses).
    Metadata,
    /// Produce and consume on the probe topic.
    RoundTrip,
    /// The group's topics (`--probe-topics`).
    Topics,
}

impl Layer {
    /// Every layer, bottom up.
    pub const ALL: [Layer; 8] = [
        Layer::Dns,
        Layer::Tcp,
        Layer::Tls,
        Layer::Kafka,
        Layer::Sasl,
        Layer::Metadata,
        Layer::RoundTrip,
        Layer::Topics,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Dns => "dns",
            Layer::Tcp => "tcp",
            Layer::Tls => "tls",
            Layer::Kafka => "kafka",
            Layer::Sasl => "sasl",
            Layer::Metadata => "metadata",
            Layer::RoundTrip => "round_trip",
            Layer::Topics => "topics",
        }
    }
}

/// One check: what was tried, against what, how it went and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// Stable check name, e.g. `dns`, `tcp`, `tls_handshake`, `sasl`, `produce`, `group_topic`.
    pub name: String,
    /// The layer it belongs to.
    pub layer: Layer,
    /// What was checked: a broker address, a topic name.
    pub target: String,
    /// The outcome.
    pub status: Status,
    /// How long the check took, in milliseconds (absent when it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// What was found, or what went wrong, in words.
    pub detail: String,
    /// The likely cause and what to do, for checks that are not OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Counts of check outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// Checks that passed.
    pub ok: u32,
    /// Checks that passed with a warning.
    pub warn: u32,
    /// Checks that failed.
    pub fail: u32,
    /// Checks that did not run.
    pub skipped: u32,
}

impl Counts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Ok => self.ok += 1,
            Status::Warn => self.warn += 1,
            Status::Fail => self.fail += 1,
            Status::Skipped => self.skipped += 1,
        }
    }
}

/// Counts for one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LayerCounts {
    /// The layer.
    pub layer: Layer,
    /// Its counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The overall result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// `fail` if any check failed, else `warn` if any warned, else `ok`.
    pub status: Status,
    /// Counts over all checks.
    #[serde(flatten)]
    pub counts: Counts,
    /// Counts per layer that has checks, bottom up.
    pub layers: Vec<LayerCounts>,
}

impl Summary {
    /// Summarises a list of checks.
    pub fn of(checks: &[Check]) -> Self {
        let mut counts = Counts::default();
        let mut layers: Vec<LayerCounts> = Vec::new();
        for layer in Layer::ALL {
            let mut lc = Counts::default();
            for c in checks.iter().filter(|c| c.layer == layer) {
                lc.add(c.status);
                counts.add(c.status);
            }
            if lc != Counts::default() {
                layers.push(LayerCounts { layer, counts: lc });
            }
        }
        let status = if counts.fail > 0 {
            Status::Fail
        } else if counts.warn > 0 {
            Status::Warn
        } else {
            Status::Ok
        };
        Summary {
            status,
            counts,
            layers,
        }
    }
}

/// The settings the run used (never the password).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigEcho {
    /// Bootstrap addresses.
    pub brokers: Vec<String>,
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    /// SASL mechanism, when SASL is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    /// SASL user, when SASL is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// Whether a SASL password was given (the password itself is never reported).
    pub sasl_password_set: bool,
    /// CA file for TLS (`None`: the system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Client certificate for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// Client key for mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Kafka client id.
    pub client_id: String,
    /// Probe topic of the round trip (absent with `--no-produce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_topic: Option<String>,
    /// Group whose topics were probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Agent id whose stored offsets gave the lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Timeline database the offsets were read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_db: Option<String>,
    /// Time limit of one check, in milliseconds.
    pub timeout_ms: u64,
    /// Where the settings came from, highest precedence first (`flags`, `preset:…`, `props:…`, `auto:…`).
    pub sources: Vec<String>,
}

/// One broker of the cluster, as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
}

/// The cluster as the first broker that answered Metadata described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterInfo {
    /// Cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Node id of the active controller (-1: none reported).
    pub controller_id: i32,
    /// The brokers.
    pub brokers: Vec<BrokerInfo>,
    /// Number of topics visible to this client (internal ones included).
    pub topic_count: u32,
}

/// A certificate a broker presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateInfo {
    /// The broker address.
    pub broker: String,
    /// Position in the chain, 0 = the broker's own certificate.
    pub position: u32,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after` (negative: expired).
    pub days_left: i64,
    /// Whether the chain passed verification against the configured roots.
    pub verified: bool,
}

/// One partition of a probed topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartitionInfo {
    /// Partition id.
    pub partition: i32,
    /// Leader node id (-1: no leader).
    pub leader: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Earliest retained offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_watermark: Option<i64>,
    /// Offset of the next record to be written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_watermark: Option<i64>,
    /// The agent's stored next offset for this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<i64>,
    /// `high_watermark - committed`: records the agent has not handled yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
}

/// One probed topic of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TopicReport {
    /// Topic name.
    pub topic: String,
    /// `group` (one of the 11 group topics) or `skill` (from the roster manifest).
    pub kind: String,
    /// Whether the topic exists.
    pub exists: bool,
    /// Its partitions.
    pub partitions: Vec<PartitionInfo>,
    /// Sum of the partitions' lag, when the agent's offsets were available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_lag: Option<i64>,
}

/// A complete kshark report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Version of the report format (1 today); it changes only when a field changes meaning or goes away.
    pub schema_version: u32,
    /// The program that wrote it (`kshark` or `kafclaw kshark`).
    pub tool: String,
    /// Its version.
    pub tool_version: String,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, RFC 3339 UTC.
    pub finished_at: String,
    /// Wall time of the whole run, in milliseconds.
    pub duration_ms: f64,
    /// The settings used.
    pub config: ConfigEcho,
    /// Overall result and counts.
    pub summary: Summary,
    /// Every check, in the order it ran.
    pub checks: Vec<Check>,
    /// Cluster metadata, when a broker answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// Certificates the brokers presented (TLS only).
    #[serde(default)]
    pub certificates: Vec<CertificateInfo>,
    /// The group's topics (`--probe-topics`).
    #[serde(default)]
    pub topics: Vec<TopicReport>,
    /// Remarks about the input (ignored properties keys, flags without effect).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Report {
    /// True when any check failed (the exit code is then 1).
    pub fn failed(&self) -> bool {
        self.summary.counts.fail > 0
    }

    /// The report as pretty-printed JSON with a trailing newline.
    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_owned());
        s.push('\n');
        s
    }
}

/// The JSON Schema (draft 2020-12) of [`Report`], as committed in
/// `crates/kafclaw-kshark/report.schema.json`.
pub fn report_schema() -> serde_json::Value {
    let generated = schemars::schema_for!(Report).to_value();
    // `$schema` and the title first, then what schemars generated.
    let mut out = serde_json::Map::new();
    if let serde_json::Value::Object(map) = generated {
        if let Some(v) = map.get("$schema") {
            out.insert("$schema".to_owned(), v.clone());
        }
        out.insert(
            "title".to_owned(),
            serde_json::Value::String("kshark report".to_owned()),
        );
        for (k, v) in map {
            if k != "$schema" && k != "title" {
                out.insert(k, v);
            }
        }
    }
    serde_json::Value::Object(out)
}

/// [`report_schema`] as the text of the committed file (pretty JSON, trailing newline).
pub fn report_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&report_schema()).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(layer: Layer, status: Status) -> Check {
        Check {
            name: "x".into(),
            layer,
            target: "t".into(),
            status,
            latency_ms: None,
            detail: String::new(),
            hint: None,
        }
    }

    #[test]
    fn summary_counts_per_layer_and_overall() {
        let checks = [
            check(Layer::Dns, Status::Ok),
            check(Layer::Tcp, Status::Fail),
            check(Layer::Kafka, Status::Skipped),
            check(Layer::Metadata, Status::Skipped),
        ];
        let s = Summary::of(&checks);
        assert_eq!(s.status, Status::Fail);
        assert_eq!((s.counts.ok, s.counts.fail, s.counts.skipped), (1, 1, 2));
        let layers: Vec<Layer> = s.layers.iter().map(|l| l.layer).collect();
        assert_eq!(
            layers,
            [Layer::Dns, Layer::Tcp, Layer::Kafka, Layer::Metadata]
        );
        let warn = Summary::of(&[
            check(Layer::Tls, Status::Warn),
            check(Layer::Dns, Status::Ok),
        ]);
        assert_eq!(warn.status, Status::Warn);
        assert_eq!(Summary::of(&[]).status, Status::Ok);
    }

    #[test]
    fn enums_serialize_as_documented() {
        for s in [Status::Ok, Status::Warn, Status::Fail, Status::Skipped] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for l in Layer::ALL {
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
    }
}
