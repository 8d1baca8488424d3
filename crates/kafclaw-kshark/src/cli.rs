//! The command line shared by `kshark` and `kafclaw kshark`: flags ([`Args`]),
//! turning them into a [`Probe`], progress lines, report files and exit codes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use kafclaw_envelope::GroupName;

use crate::error::{Error, Result};
use crate::probe::{DEFAULT_PROBE_TOPIC, GroupProbe, Probe, Progress, Silent, Timeouts};
use crate::report::{Check, Layer, Report, Status};
use crate::settings::{
    Preset, SettingsLayer, Target, auto_layer, parse_brokers, parse_mechanism, parse_protocol,
};
use crate::{props, render};

/// Exit code: every check passed (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one check failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage, configuration or output error (nothing or not everything ran).
pub const EXIT_USAGE: u8 = 2;

const AFTER_HELP: &str = "\
Checks, layer by layer, each with its latency and a hint when it fails:
  dns, tcp, tls_handshake + tls_certificate (SSL/SASL_SSL), api_versions, sasl (SASL_*),
  metadata, advertised_broker, kafka_client, probe_topic + produce + consume (unless
  --no-produce), and with --probe-topics: manifest, group_metadata, group_topic per topic.
  A layer that fails marks the layers above it as skipped.

Settings precedence: flags > --preset > --props > --auto (the KafClaw group configuration).

Exit codes: 0 every check passed (warnings allowed), 1 a check failed,
            2 usage, configuration or output error.

Examples:
  kshark --broker localhost:9092
  kshark --props client.properties --json report.json --html report.html
  kshark --auto --probe-topics
  kshark --broker b1:9093 --security-protocol SASL_SSL --sasl-mechanism SCRAM-SHA-512 \\
         --sasl-username alice --ca-file ca.pem        # password from KSHARK_SASL_PASSWORD";

/// Flags of `kshark` and `kafclaw kshark`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Diagnose Kafka connectivity layer by layer: DNS, TCP, TLS, Kafka, SASL, metadata, produce/consume, group topics",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Bootstrap broker(s), comma-separated.
    #[arg(short = 'b', long, value_name = "HOST:PORT[,..]")]
    pub broker: Option<String>,

    /// Java client properties file (bootstrap.servers, security.protocol, sasl.*, ssl.*).
    #[arg(short = 'p', long, value_name = "FILE")]
    pub props: Option<PathBuf>,

    /// Take brokers, security, group and agent from the KafClaw configuration.
    #[arg(long)]
    pub auto: bool,

    /// Security preset: plaintext, cc-plain (SASL_SSL + PLAIN), self-scram (SASL_SSL + SCRAM-SHA-512).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,

    /// Probe topic of the produce/consume round trip (created with 1 partition if missing).
    #[arg(short = 't', long, value_name = "NAME", default_value = DEFAULT_PROBE_TOPIC)]
    pub topic: String,

    /// Skip the produce/consume round trip (read-only diagnosis).
    #[arg(long)]
    pub no_produce: bool,

    /// Inspect the group's topics (and the skill topics of its manifest), with this agent's lag.
    #[arg(long)]
    pub probe_topics: bool,

    /// Group for --probe-topics (default with --auto: group.groupName).
    #[arg(short = 'g', long, value_name = "NAME")]
    pub group: Option<String>,

    /// Time limit of each check: 10, 10s, 1500ms or 1m.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Time limit of each Kafka request check (default: --timeout).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub kafka_timeout: Option<Duration>,

    /// Time limit of the produce check (default: --timeout).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub produce_timeout: Option<Duration>,

    /// Time limit of the consume check (default: --timeout).
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub consume_timeout: Option<Duration>,

    /// Write the report as JSON to FILE, or to standard output with `-`.
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,

    /// Write the report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Print progress lines on standard error even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,

    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long, value_name = "PROTOCOL")]
    pub security_protocol: Option<String>,

    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISM")]
    pub sasl_mechanism: Option<String>,

    /// SASL user name.
    #[arg(long, value_name = "USER")]
    pub sasl_username: Option<String>,

    /// SASL password (prefer the environment variable: flags show up in process lists).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "KSHARK_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,

    /// PEM file of the CA that signed the broker certificate (default: the system roots).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// PEM client certificate for mutual TLS.
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,

    /// PEM private key of the client certificate.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Accepted for compatibility: the connection checks always run.
    #[arg(long, hide = true)]
    pub test_connection: bool,
}

/// Parses `10`, `10s`, `1500ms`, `2m` into a duration (more than zero).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10, 10s, 1500ms, 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!("{s:?}: must be more than 0 and at most 1 hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Turns the flags into a probe (reading `--props` and, with `--auto`, the KafClaw
/// configuration). Errors are usage or configuration errors (exit code 2).
pub fn build_probe(args: &Args, tool: &str, version: &str) -> Result<Probe> {
    let mut notes = Vec::new();
    let mut layers = Vec::new();

    let mut flags = SettingsLayer::new("flags");
    if let Some(b) = &args.broker {
        flags.brokers = Some(parse_brokers("--broker", b)?);
    }
    if let Some(p) = &args.security_protocol {
        flags.security_protocol = Some(parse_protocol("--security-protocol", p)?);
    }
    if let Some(m) = &args.sasl_mechanism {
        flags.sasl_mechanism = Some(parse_mechanism("--sasl-mechanism", m)?);
    }
    flags.sasl_username = args.sasl_username.clone();
    flags.sasl_password = args.sasl_password.clone();
    flags.ca_file = args.ca_file.clone();
    flags.cert_file = args.cert_file.clone();
    flags.key_file = args.key_file.clone();
    layers.push(flags);
    if let Some(preset) = args.preset {
        layers.push(preset.layer());
    }
    if let Some(path) = &args.props {
        layers.push(props::load_props(path, &mut notes)?);
    }

    // The KafClaw configuration: required with --auto, best effort for the lag.
    let loaded = if args.auto {
        Some(kafclaw_config::Config::load().map_err(Error::AutoConfig)?)
    } else if args.probe_topics {
        match kafclaw_config::Config::load() {
            Ok(l) => Some(l),
            Err(e) => {
                notes.push(format!(
                    "lag not computed: cannot load the KafClaw configuration: {e}"
                ));
                None
            }
        }
    } else {
        None
    };
    if args.auto
        && let Some(l) = &loaded
    {
        layers.push(auto_layer(
            &l.config.group,
            &l.paths.config_file,
            &mut notes,
        )?);
    }
    let sources: Vec<String> = layers
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.source.clone())
        .collect();
    let target = Target::resolve(&layers, &mut notes)?;

    let probe_topic = if args.no_produce {
        None
    } else {
        check_topic_name(&args.topic)?;
        Some(args.topic.clone())
    };

    let group = if args.probe_topics {
        let name = match (&args.group, &loaded) {
            (Some(g), _) => g.clone(),
            (None, Some(l)) if args.auto && !l.config.group.group_name.trim().is_empty() => {
                l.config.group.group_name.trim().to_owned()
            }
            _ => {
                return Err(Error::setting(
                    "--group",
                    "--probe-topics needs a group: --group NAME, or --auto with group.groupName set",
                ));
            }
        };
        let group = GroupName::new(name).map_err(|e| Error::setting("--group", e.to_string()))?;
        let (agent_id, timeline_db) = match &loaded {
            Some(l) => {
                let id = l.config.group.agent_id.trim();
                let id = if id.is_empty() {
                    default_agent_id()
                } else {
                    Some(id.to_owned())
                };
                (id, Some(l.paths.timeline_db.clone()))
            }
            None => (None, None),
        };
        Some(GroupProbe {
            group,
            agent_id,
            timeline_db,
        })
    } else {
        if args.group.is_some() {
            notes.push(
                "--group has no effect without --probe-topics (KafClaw agents read without Kafka consumer groups)".to_owned(),
            );
        }
        None
    };

    let timeouts = Timeouts {
        check: args.timeout,
        kafka: args.kafka_timeout.unwrap_or(args.timeout),
        produce: args.produce_timeout.unwrap_or(args.timeout),
        consume: args.consume_timeout.unwrap_or(args.timeout),
    };
    let mut builder = Probe::builder(target)
        .timeouts(timeouts)
        .probe_topic(probe_topic)
        .tool(tool, version)
        .sources(sources)
        .notes(notes);
    if let Some(g) = group {
        builder = builder.group(g);
    }
    Ok(builder.build())
}

fn check_topic_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= kafclaw_envelope::MAX_TOPIC_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::setting(
            "--topic",
            format!(
                "{name:?} is not a legal Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
            ),
        ))
    }
}

/// `kafclaw-<hostname>`, KafClaw's default agent id.
fn default_agent_id() -> Option<String> {
    #[cfg(unix)]
    {
        let uname = rustix::system::uname();
        let host = uname.nodename().to_string_lossy().trim().to_owned();
        (!host.is_empty()).then(|| format!("kafclaw-{host}"))
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME")
            .ok()
            .map(|h| format!("kafclaw-{h}"))
    }
}

/// Progress lines on standard error: one when a check starts, one when it ends.
struct StderrProgress;

impl Progress for StderrProgress {
    fn check_started(&mut self, name: &str, layer: Layer, target: &str) {
        let _ = writeln!(
            std::io::stderr(),
            "  ..   {:<10} {name} {target}",
            layer.as_str()
        );
    }

    fn check_finished(&mut self, check: &Check) {
        let latency = check
            .latency_ms
            .map(|ms| format!(" ({ms:.1} ms)"))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "  {:<4} {:<10} {} {}{latency}{}",
            check.status.label(),
            check.layer.as_str(),
            check.name,
            check.target,
            if check.status == Status::Ok {
                String::new()
            } else {
                format!(": {}", check.detail)
            }
        );
    }
}

/// Writes the reports the flags ask for.
pub fn write_reports(args: &Args, report: &Report) -> Result<()> {
    match args.json.as_deref() {
        Some("-") => {
            let mut out = std::io::stdout().lock();
            out.write_all(report.to_json_pretty().as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| Error::WriteReport {
                    kind: "json",
                    path: PathBuf::from("-"),
                    source,
                })?;
        }
        Some(path) => {
            std::fs::write(path, report.to_json_pretty()).map_err(|source| Error::WriteReport {
                kind: "json",
                path: PathBuf::from(path),
                source,
            })?;
        }
        None => {}
    }
    if let Some(path) = &args.html {
        std::fs::write(path, render::render_html(report)).map_err(|source| Error::WriteReport {
            kind: "html",
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Runs the whole command: builds the probe, runs it with progress lines (when
/// standard error is a terminal, or with `--progress`), prints the table (unless
/// `--json -` owns standard output), writes the report files, and returns the exit
/// code ([`EXIT_OK`], [`EXIT_FAILED`] or [`EXIT_USAGE`]).
pub fn run(args: Args, tool: &str, version: &str) -> u8 {
    let name = tool;
    let probe = match build_probe(&args, tool, version) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let report = runtime.block_on(async {
        if args.progress || std::io::stderr().is_terminal() {
            probe.run(&mut StderrProgress).await
        } else {
            probe.run(&mut Silent).await
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    if args.json.as_deref() != Some("-") {
        print!("{}", render::render_text(&report));
        let _ = std::io::stdout().flush();
    }
    if let Err(e) = write_reports(&args, &report) {
        eprintln!("{name}: error: {e}");
        return EXIT_USAGE;
    }
    if report.failed() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("kshark").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["", "0", "-1", "10h", "abc", "7200"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_become_a_probe() {
        let args = parse(&[
            "--broker",
            "h:1",
            "--security-protocol",
            "sasl_plaintext",
            "--sasl-mechanism",
            "SCRAM-SHA-256",
            "--sasl-username",
            "u",
            "--sasl-password",
            "p",
            "--topic",
            "my-probe",
            "--timeout",
            "3s",
            "--consume-timeout",
            "7",
        ]);
        let p = build_probe(&args, "kshark", "1.2.3").unwrap();
        assert_eq!(p.target.brokers, ["h:1"]);
        assert_eq!(p.probe_topic.as_deref(), Some("my-probe"));
        assert_eq!(p.timeouts.check, Duration::from_secs(3));
        assert_eq!(p.timeouts.consume, Duration::from_secs(7));
        assert_eq!(p.sources, ["flags"]);
        assert!(p.group.is_none());
        let sasl = p.target.sasl.as_ref().unwrap();
        assert_eq!(sasl.password, "p");
    }

    #[test]
    fn usage_errors_name_the_flag() {
        let cases: [(&[&str], &str); 5] = [
            (&["--broker", "nohost"], "--broker"),
            (
                &["--broker", "h:1", "--security-protocol", "TLS"],
                "--security-protocol",
            ),
            (&["--broker", "h:1", "--topic", "bad topic"], "--topic"),
            (&["--broker", "h:1", "--probe-topics"], "--group"),
            (
                &["--broker", "h:1", "--probe-topics", "--group", "a.b"],
                "--group",
            ),
        ];
        for (argv, key) in cases {
            let err = build_probe(&parse(argv), "kshark", "0").unwrap_err();
            assert!(err.to_string().contains(key), "{argv:?}: {err}");
        }
        let err = build_probe(&parse(&[]), "kshark", "0").unwrap_err();
        assert!(err.to_string().contains("--broker"), "{err}");
    }

    #[test]
    fn no_produce_and_group_note() {
        let p = build_probe(
            &parse(&["--broker", "h:1", "--no-produce", "--group", "g"]),
            "kshark",
            "0",
        )
        .unwrap();
        assert!(p.probe_topic.is_none());
        assert!(p.notes.iter().any(|n| n.contains("--group has no effect")));
    }

    #[test]
    fn preset_sits_between_flags_and_props() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("c.properties");
        std::fs::write(
            &props,
            "bootstrap.servers=p:1\nsecurity.protocol=SSL\nsasl.username=u\nsasl.password=pw\n",
        )
        .unwrap();
        let args = parse(&[
            "--props",
            props.to_str().unwrap(),
            "--preset",
            "self-scram",
            "--security-protocol",
            "SASL_PLAINTEXT",
        ]);
        let p = build_probe(&args, "kshark", "0").unwrap();
        assert_eq!(p.target.brokers, ["p:1"]);
        assert_eq!(
            p.target.security_protocol,
            kafclaw_group::SecurityProtocol::SaslPlaintext
        );
        assert_eq!(
            p.target.sasl.as_ref().unwrap().mechanism,
            kafclaw_group::SaslMechanism::ScramSha512
        );
        assert_eq!(p.sources.len(), 3, "{:?}", p.sources);
    }
}
