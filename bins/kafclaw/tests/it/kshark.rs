//! `kafclaw kshark` runs the same diagnostics as the standalone binary.

use std::process::{Command, Output};

use kafclaw_testkit::{maybe_skip_kafka, random_topic_name};

fn kafclaw_kshark(args: &[&str], home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .arg("kshark")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KAFCLAW_HOME", home.join("kafclaw"))
        .output()
        .expect("run kafclaw kshark")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_the_flags_and_exit_codes() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = kafclaw_kshark(&["--help"], home.path());
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "--broker",
        "--props",
        "--auto",
        "--probe-topics",
        "--json",
        "--html",
        "--timeout",
        "Exit codes: 0",
    ] {
        assert!(help.contains(needle), "{needle} missing:\n{help}");
    }
    let top = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .arg("--help")
        .output()
        .expect("kafclaw --help");
    assert!(text(&top.stdout).contains("kshark"));
}

#[test]
fn a_live_broker_passes_and_a_wrong_port_fails_with_exit_1() {
    let broker = maybe_skip_kafka!();
    let home = tempfile::tempdir().expect("tempdir");
    let topic = random_topic_name("kafclaw-kshark");
    let out = kafclaw_kshark(
        &[
            "--broker",
            &broker.brokers,
            "--topic",
            &topic,
            "--json",
            "-",
        ],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["tool"], "kafclaw kshark");
    assert_eq!(report["summary"]["status"], "ok");
    assert_eq!(report["summary"]["fail"], 0);
    let checks = report["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "consume" && c["status"] == "ok")
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = kafclaw_kshark(&["--broker", &format!("127.0.0.1:{port}")], home.path());
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    assert!(table.contains("FAIL") && table.contains("hint:"), "{table}");

    let out = kafclaw_kshark(&["--broker", "no-port"], home.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("kafclaw kshark: error"),
        "{}",
        text(&out.stderr)
    );
}
