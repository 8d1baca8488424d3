//! `cargo xtask kafka status` as a command: its exit code is what scripts rely on.

use std::net::TcpListener;
use std::process::Command;

use kafclaw_testkit::vars;

/// The xtask binary that runs these tests (`cargo xtask test` exports it), else `cargo xtask`.
fn xtask() -> Command {
    match std::env::var_os(vars::XTASK) {
        Some(exe) => Command::new(exe),
        None => {
            let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            // Not this test's package variables: they would make cargo rebuild
            // dependencies whose build scripts watch them (ring: CARGO_MANIFEST_DIR).
            for (key, _) in std::env::vars() {
                if key.starts_with("CARGO_PKG_")
                    || key.starts_with("CARGO_MANIFEST_")
                    || key == "CARGO_CRATE_NAME"
                {
                    cmd.env_remove(key);
                }
            }
            cmd.arg("xtask");
            cmd
        }
    }
}

#[test]
fn status_of_an_unused_port_exits_non_zero() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = xtask()
        .args(["kafka", "status", "--port", &port.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("no Kafka broker answers on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn status_of_the_test_broker_exits_zero() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let Some(control) = broker.control() else {
        eprintln!("skipping: the broker was not started by `cargo xtask test`");
        return;
    };
    let out = xtask()
        .args(["kafka", "status", "--port", &control.port().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("{}: cluster ", broker.brokers)),
        "{stdout}"
    );
}
