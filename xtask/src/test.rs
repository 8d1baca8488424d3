//! `cargo xtask test`: the README's test command and what CI runs.
//!
//! Starts a private Kafka broker on a free block of ports, prepares the Python
//! virtual environment, the tools and the Node packages the interop tests use,
//! validates the JSON Schemas and the wire-protocol tables,
//! runs `cargo test --workspace` with the `KAFCLAW_TEST_*` environment, and
//! always stops the broker again (also on test failure and Ctrl-C).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use kafclaw_testkit::{Broker, vars};

/// First PLAINTEXT port tried for the test broker: away from the dev broker's 9092, and
/// below Linux's ephemeral range (32768-60999), so while a test has the broker stopped,
/// no client's outgoing connection (nor a reconnect that connects to itself) can take
/// the broker's port and make its restart fail with "Address already in use".
const FIRST_TEST_PORT: u16 = 19092;
/// Port blocks tried: 19092, 19102, ... up to 19582 (each broker needs P..=P+4).
const PORT_STEP: u16 = 10;
const PORT_ATTEMPTS: u16 = 50;

#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// PLAINTEXT port of the test broker (default: the first free block from 19092 on).
    #[arg(long)]
    pub(crate) kafka_port: Option<u16>,
    /// Extra arguments for `cargo test`, after `--` (e.g. `-- -p kafclaw-testkit -- --nocapture`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) cargo_args: Vec<String>,
}

pub(crate) fn run(args: TestArgs) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted))
            .context("install the signal handler")?;
    }
    let root = crate::workspace_root();

    step("claiming ports for the test broker");
    let (broker, _claim) = claim_broker(&root, args.kafka_port)?;
    // From here on the broker is stopped when this guard goes away, whatever happens.
    let guard = StopOnDrop(&broker);

    let result = run_with_broker(&root, &broker, &args, &interrupted);

    step("stopping the test broker");
    drop(guard);
    step("done");
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    result
}

fn run_with_broker(
    root: &Path,
    broker: &Broker,
    args: &TestArgs,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let check = || -> anyhow::Result<()> {
        if interrupted.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        Ok(())
    };
    step(&format!(
        "starting the test broker on port {}",
        broker.port()
    ));
    crate::kafka::start(broker)?;
    check()?;

    step("preparing the Python test environment (target/venv)");
    let python = prepare_python(root)?;
    check()?;

    let mut failures = Vec::new();
    step("checking the interop test's tools (kcat, jq, node, npm) and examples/node-agent");
    crate::prereqs::ensure_debian_tools();
    if let Err(e) = crate::prereqs::prepare_node_agent(root) {
        eprintln!("error: {e:#}");
        failures.push("npm ci for examples/node-agent".to_owned());
    }
    check()?;

    let mut env: Vec<(String, String)> = broker
        .env_vars()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.push((vars::PYTHON.to_owned(), python.display().to_string()));
    if let Ok(exe) = std::env::current_exe() {
        env.push((vars::XTASK.to_owned(), exe.display().to_string()));
    }

    let validator = root.join("scripts").join("validate_schemas.py");
    if validator.is_file() {
        step("validating the JSON Schemas (scripts/validate_schemas.py schemas/)");
        let status = Command::new(&python)
            .current_dir(root)
            .arg(&validator)
            .arg("schemas/")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .status()
            .with_context(|| format!("run {}", python.display()))?;
        if !status.success() {
            failures.push(format!("schema validation ({status})"));
        }
        check()?;
    }

    let tables = root.join("scripts").join("wire_tables.py");
    if tables.is_file() {
        step("checking the field tables of docs/wire-protocol.md (scripts/wire_tables.py --check)");
        let status = Command::new(&python)
            .current_dir(root)
            .arg(&tables)
            .arg("--check")
            .status()
            .with_context(|| format!("run {}", python.display()))?;
        if !status.success() {
            failures.push(format!("docs/wire-protocol.md tables ({status})"));
        }
        check()?;
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let cargo_args = cargo_test_args(&args.cargo_args);
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(&cargo_args)
        .envs(env.iter().map(|(k, v)| (k, v)));
    without_package_env(&mut cmd);
    step(&format!("cargo {}", cargo_args.join(" ")));
    let status = cmd.status().context("run cargo test")?;
    if !status.success() {
        failures.push(format!("cargo test ({status})"));
    }
    check()?;

    if failures.is_empty() {
        Ok(())
    } else {
        bail!("failed: {}", failures.join(", "))
    }
}

/// `cargo test` arguments: the whole workspace unless packages are picked, and
/// every test binary even after one fails (CI should show all failures at once).
fn cargo_test_args(extra: &[String]) -> Vec<String> {
    // Only cargo's own options count, not those after a second `--` (for the test binaries).
    let own: Vec<&String> = extra.iter().take_while(|a| *a != "--").collect();
    let picks_packages = own
        .iter()
        .any(|a| a.starts_with("-p") || a.starts_with("--package") || *a == "--manifest-path");
    let mut args = vec!["test".to_owned()];
    if !picks_packages {
        args.push("--workspace".to_owned());
    }
    if !own.iter().any(|a| *a == "--no-fail-fast") {
        args.push("--no-fail-fast".to_owned());
    }
    args.extend(extra.iter().cloned());
    args
}

/// Finds a broker directory no other `cargo xtask test` uses and whose ports are free.
///
/// The returned file holds an advisory lock on `target/kafka/<P>/owner.lock`
/// for as long as this run lives, so concurrent runs pick different ports.
pub(crate) fn claim_broker(root: &Path, requested: Option<u16>) -> anyhow::Result<(Broker, File)> {
    let candidates: Vec<u16> = match requested {
        Some(p) => vec![p],
        None => (0..PORT_ATTEMPTS)
            .filter_map(|i| FIRST_TEST_PORT.checked_add(i * PORT_STEP))
            .collect(),
    };
    let mut skipped = Vec::new();
    for port in candidates {
        let broker = Broker::for_workspace(root, port)?;
        std::fs::create_dir_all(broker.dir())
            .with_context(|| format!("create {}", broker.dir().display()))?;
        let lock_path = broker.dir().join("owner.lock");
        let lock =
            File::create(&lock_path).with_context(|| format!("create {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            skipped.push(format!("{port}: used by another `cargo xtask test`"));
            continue;
        }
        // A broker left behind by an earlier run that died: nobody owns it any more.
        if broker.pid().is_some() {
            eprintln!("stopping a test broker left over on port {port}");
            broker.stop()?;
        }
        match busy_port(port) {
            None => return Ok((broker, lock)),
            Some(p) => skipped.push(format!("{port}: port {p} is in use")),
        }
    }
    bail!(
        "no free port block for the test broker ({})",
        skipped.join("; ")
    )
}

fn busy_port(port: u16) -> Option<u16> {
    (port..=port.saturating_add(4))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
}

/// Creates target/venv (once) and installs scripts/requirements-test.txt into it (when it changed).
fn prepare_python(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join("target").join("venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let python3 = std::env::var("PYTHON3").unwrap_or_else(|_| "python3".to_owned());
        let status = Command::new(&python3)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("run `{python3} -m venv` (is Python 3 installed?)"))?;
        if !status.success() {
            bail!("`{python3} -m venv {}` failed ({status})", venv.display());
        }
    }
    let requirements = root.join("scripts").join("requirements-test.txt");
    if requirements.is_file() {
        let wanted = std::fs::read_to_string(&requirements)
            .with_context(|| format!("read {}", requirements.display()))?;
        let stamp = venv.join("installed-requirements-test.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    "-r",
                ])
                .arg(&requirements)
                .status()
                .with_context(|| format!("run {} -m pip", python.display()))?;
            if !status.success() {
                bail!(
                    "pip install -r {} failed ({status})",
                    requirements.display()
                );
            }
            std::fs::write(&stamp, wanted).with_context(|| format!("write {}", stamp.display()))?;
        }
    }
    Ok(python)
}

/// Removes what `cargo run` sets for the xtask package itself. Build scripts
/// that watch such a variable (ring watches `CARGO_MANIFEST_DIR`) would
/// otherwise be rebuilt every time the nested cargo's environment differs from
/// a plain `cargo test`.
pub(crate) fn without_package_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(key);
        }
    }
}

/// Announces a phase, with the time since the run began (useful in CI logs).
fn step(what: &str) {
    static BEGAN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let began = BEGAN.get_or_init(std::time::Instant::now);
    eprintln!("==> [{:6.1}s] {what}", began.elapsed().as_secs_f64());
}

/// Stops the broker when dropped (normal return, `?` and panics alike).
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a Broker);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        match self.0.stop() {
            Ok(_) => {}
            Err(e) => eprintln!("error: could not stop the test broker: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        cargo_test_args(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn the_default_is_the_whole_workspace_without_fail_fast() {
        assert_eq!(args(&[]), ["test", "--workspace", "--no-fail-fast"]);
    }

    #[test]
    fn picking_packages_drops_workspace() {
        assert_eq!(
            args(&["-p", "kafclaw-testkit"]),
            ["test", "--no-fail-fast", "-p", "kafclaw-testkit"]
        );
        assert_eq!(
            args(&["--package=a", "--no-fail-fast"]),
            ["test", "--package=a", "--no-fail-fast"]
        );
    }

    #[test]
    fn arguments_for_the_test_binaries_do_not_count() {
        assert_eq!(
            args(&["--", "-p", "--no-fail-fast"]),
            [
                "test",
                "--workspace",
                "--no-fail-fast",
                "--",
                "-p",
                "--no-fail-fast"
            ]
        );
    }
}
