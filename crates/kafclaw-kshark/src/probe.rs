//! The probe: what to check ([`ProbeBuilder`]), progress callbacks ([`Progress`]),
//! and [`Probe::run`], which runs every check and returns the [`Report`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kafclaw_envelope::GroupName;

use crate::report::{ConfigEcho, REPORT_SCHEMA_VERSION, Report, Summary};
use crate::run::Run;
use crate::settings::{Target, protocol_name};
use crate::{Check, Layer};

/// The default probe topic of the produce/consume round trip.
pub const DEFAULT_PROBE_TOPIC: &str = "kshark-probe";

/// Time limits of the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// DNS, TCP, TLS and topic checks.
    pub check: Duration,
    /// Kafka requests: ApiVersions, SASL, Metadata, and the Kafka client's requests.
    pub kafka: Duration,
    /// Producing the probe record.
    pub produce: Duration,
    /// Reading the probe record back.
    pub consume: Duration,
}

impl Timeouts {
    /// The same limit for every check.
    pub fn uniform(limit: Duration) -> Self {
        Self {
            check: limit,
            kafka: limit,
            produce: limit,
            consume: limit,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::uniform(Duration::from_secs(10))
    }
}

/// `--probe-topics`: which group to inspect and whose offsets give the lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupProbe {
    /// The group.
    pub group: GroupName,
    /// The agent whose stored offsets give the lag.
    pub agent_id: Option<String>,
    /// The agent's timeline database (read-only; never created).
    pub timeline_db: Option<PathBuf>,
}

/// Receives check events as they happen (for progress lines on a terminal).
pub trait Progress: Send {
    /// A check is about to run.
    fn check_started(&mut self, name: &str, layer: Layer, target: &str);
    /// A check finished (or was skipped).
    fn check_finished(&mut self, check: &Check);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn check_started(&mut self, _name: &str, _layer: Layer, _target: &str) {}
    fn check_finished(&mut self, _check: &Check) {}
}

/// A configured diagnosis run. Build it with [`Probe::builder`].
#[derive(Debug, Clone)]
pub struct Probe {
    pub(crate) target: Target,
    pub(crate) timeouts: Timeouts,
    pub(crate) probe_topic: Option<String>,
    pub(crate) group: Option<GroupProbe>,
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    pub(crate) sources: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// Builder of a [`Probe`].
#[derive(Debug, Clone)]
pub struct ProbeBuilder {
    probe: Probe,
}

impl Probe {
    /// A probe of `target` with the defaults: 10 s per check, a round trip on
    /// [`DEFAULT_PROBE_TOPIC`], no group topics.
    pub fn builder(target: Target) -> ProbeBuilder {
        ProbeBuilder {
            probe: Probe {
                target,
                timeouts: Timeouts::default(),
                probe_topic: Some(DEFAULT_PROBE_TOPIC.to_owned()),
                group: None,
                tool: "kshark".to_owned(),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                sources: Vec::new(),
                notes: Vec::new(),
            },
        }
    }

    /// The settings this probe connects with.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs every check, layer by layer, and returns the report. Never fails: a
    /// broker problem is a failed check with a hint.
    pub async fn run(&self, progress: &mut dyn Progress) -> Report {
        let started = chrono::Utc::now();
        let clock = Instant::now();
        let mut run = Run::new(self, progress);
        run.execute().await;
        let finished = chrono::Utc::now();
        let parts = run.finish();
        let mut notes = self.notes.clone();
        notes.extend(parts.notes);
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            tool: self.tool.clone(),
            tool_version: self.tool_version.clone(),
            started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: crate::run::millis(clock.elapsed()),
            config: self.echo(),
            summary: Summary::of(&parts.checks),
            checks: parts.checks,
            cluster: parts.cluster,
            certificates: parts.certificates,
            topics: parts.topics,
            notes,
        }
    }

    fn echo(&self) -> ConfigEcho {
        let t = &self.target;
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        ConfigEcho {
            brokers: t.brokers.clone(),
            security_protocol: protocol_name(t.security_protocol).to_owned(),
            sasl_mechanism: t.sasl.as_ref().map(|s| s.mechanism.as_str().to_owned()),
            sasl_username: t.sasl.as_ref().map(|s| s.username.clone()),
            sasl_password_set: t.sasl.as_ref().is_some_and(|s| !s.password.is_empty()),
            ca_file: path(&t.tls.ca_file),
            cert_file: path(&t.tls.cert_file),
            key_file: path(&t.tls.key_file),
            client_id: t.client_id.clone(),
            probe_topic: self.probe_topic.clone(),
            group: self.group.as_ref().map(|g| g.group.to_string()),
            agent_id: self.group.as_ref().and_then(|g| g.agent_id.clone()),
            timeline_db: self.group.as_ref().and_then(|g| path(&g.timeline_db)),
            timeout_ms: u64::try_from(self.timeouts.check.as_millis()).unwrap_or(u64::MAX),
            sources: self.sources.clone(),
        }
    }
}

impl ProbeBuilder {
    /// Time limits (default: 10 s each).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.probe.timeouts = timeouts;
        self
    }

    /// The topic of the produce/consume round trip, created with one partition if
    /// missing; `None` skips the round trip.
    pub fn probe_topic(mut self, topic: Option<String>) -> Self {
        self.probe.probe_topic = topic;
        self
    }

    /// Also inspect the group's topics.
    pub fn group(mut self, group: GroupProbe) -> Self {
        self.probe.group = Some(group);
        self
    }

    /// The program name and version written into the report.
    pub fn tool(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.probe.tool = name.into();
        self.probe.tool_version = version.into();
        self
    }

    /// Where the settings came from (echoed in the report).
    pub fn sources(mut self, sources: Vec<String>) -> Self {
        self.probe.sources = sources;
        self
    }

    /// Remarks about the input to carry into the report.
    pub fn notes(mut self, notes: Vec<String>) -> Self {
        self.probe.notes = notes;
        self
    }

    /// The probe.
    pub fn build(self) -> Probe {
        self.probe
    }
}
