//! Shared helpers: probes against the test broker's listeners, and the committed
//! report schema.

use std::path::PathBuf;
use std::time::Duration;

use kafclaw_kshark::{
    Check, Probe, Report, SaslMechanism, SecurityProtocol, SettingsLayer, Silent, Status, Target,
    Timeouts, TlsFiles,
};

/// The committed JSON Schema of the report.
pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("report.schema.json")
}

/// Validates a report (as JSON) against the committed schema; panics with every error.
pub fn assert_valid(report: &serde_json::Value) {
    let text = std::fs::read_to_string(schema_path()).expect("read the committed schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

/// Settings for PLAINTEXT to `brokers`.
pub fn plaintext(brokers: &str) -> Target {
    target(SettingsLayer {
        brokers: Some(vec![brokers.to_owned()]),
        ..SettingsLayer::new("test")
    })
}

/// Settings for SASL_PLAINTEXT.
pub fn sasl(brokers: &str, mechanism: SaslMechanism, user: &str, password: &str) -> Target {
    target(SettingsLayer {
        brokers: Some(vec![brokers.to_owned()]),
        security_protocol: Some(SecurityProtocol::SaslPlaintext),
        sasl_mechanism: Some(mechanism),
        sasl_username: Some(user.to_owned()),
        sasl_password: Some(password.to_owned()),
        ..SettingsLayer::new("test")
    })
}

/// Settings for SSL with these files.
pub fn ssl(brokers: &str, tls: TlsFiles) -> Target {
    target(SettingsLayer {
        brokers: Some(vec![brokers.to_owned()]),
        security_protocol: Some(SecurityProtocol::Ssl),
        ca_file: tls.ca_file,
        cert_file: tls.cert_file,
        key_file: tls.key_file,
        ..SettingsLayer::new("test")
    })
}

fn target(layer: SettingsLayer) -> Target {
    let mut notes = Vec::new();
    Target::resolve(&[layer], &mut notes).expect("valid test settings")
}

/// Runs a probe with short time limits (nothing in these tests should take long).
pub async fn run(target: Target, probe_topic: Option<String>) -> Report {
    Probe::builder(target)
        .timeouts(Timeouts::uniform(Duration::from_secs(20)))
        .probe_topic(probe_topic)
        .build()
        .run(&mut Silent)
        .await
}

/// The single check with this name (and target, when given).
pub fn check<'a>(report: &'a Report, name: &str) -> &'a Check {
    let found: Vec<&Check> = report.checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {name} check in {:#?}",
        report.checks
    );
    found[0]
}

/// Asserts every check passed and has a latency; returns the check names in order.
pub fn assert_all_ok(report: &Report) -> Vec<String> {
    for c in &report.checks {
        assert_eq!(c.status, Status::Ok, "{c:#?}\nall: {:#?}", report.checks);
        assert!(
            c.latency_ms.is_some_and(|ms| ms >= 0.0),
            "no latency on {c:#?}"
        );
        assert!(c.hint.is_none(), "{c:#?}");
    }
    assert!(!report.failed());
    report.checks.iter().map(|c| c.name.clone()).collect()
}

/// Asserts the checks after `name` are all skipped, and returns them.
pub fn assert_rest_skipped<'a>(report: &'a Report, name: &str) -> Vec<&'a Check> {
    let i = report
        .checks
        .iter()
        .position(|c| c.name == name)
        .expect("the failing check");
    let rest: Vec<&Check> = report.checks[i + 1..].iter().collect();
    assert!(!rest.is_empty(), "nothing after {name}");
    for c in &rest {
        assert_eq!(c.status, Status::Skipped, "{c:#?}");
        assert!(c.latency_ms.is_none(), "{c:#?}");
        assert!(!c.detail.is_empty(), "a skipped check says why: {c:#?}");
    }
    rest
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
