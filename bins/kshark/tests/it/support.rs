//! Running the binary in an empty environment and reading its reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `kshark` with `args`, only `env` (plus PATH) in its environment and
/// `home` as HOME and KAFCLAW_HOME, so no configuration of this machine leaks in.
pub fn kshark(args: &[&str], env: &[(&str, &str)], home: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kshark"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KAFCLAW_HOME", home.join("kafclaw"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kshark")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The committed report schema of kafclaw-kshark.
pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crates/kafclaw-kshark/report.schema.json")
}

/// Validates a JSON report against the committed schema.
pub fn assert_valid(report: &serde_json::Value) {
    let text = std::fs::read_to_string(schema_path()).expect("read the schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

/// Check statuses by name, in order.
pub fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A TCP port on 127.0.0.1 that nothing listens on.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
