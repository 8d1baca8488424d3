//! What the tests need besides Python and the broker: the Debian tools the interop
//! test's shell agent uses (kcat, jq), Node.js for its Node agent, and Chromium with
//! ChromeDriver for the dashboard's browser test, installed with apt-get when missing
//! and we are root; and `npm ci` for examples/node-agent when its lock file changed.
//!
//! Nothing here fails the run: a piece that cannot be installed is reported, and
//! the test that needs it then fails in CI (or skips locally) naming it.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// Commands the tests need, with the Debian package that provides each: the example
/// agents of the interop test, then the browser and its WebDriver server for the
/// dashboard test (bins/kafclaw/tests/it/dashboard.rs).
const TOOLS: [(&str, &str); 6] = [
    ("kcat", "kcat"),
    ("jq", "jq"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
];

fn on_path(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs the missing tools with apt-get (quietly; nothing runs when all are there).
pub(crate) fn ensure_debian_tools() {
    let missing: Vec<&str> = TOOLS
        .iter()
        .filter(|(cmd, _)| !on_path(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return;
    }
    let list = missing.join(" ");
    if !is_root() || !on_path("apt-get") {
        eprintln!(
            "warning: missing for the interop and dashboard tests: {list}; install them (Debian: `apt-get install -y {list}`)"
        );
        return;
    }
    eprintln!("installing {list} with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    // Package lists may be missing or stale on a fresh machine: update once, then retry.
    let installed = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    if !installed {
        eprintln!(
            "warning: `apt-get install -y {list}` failed; the tests that need them will report it"
        );
    }
}

/// Runs `npm ci` in examples/node-agent when node_modules is missing or was
/// installed from another package-lock.json. Returns an error only when npm ran
/// and failed.
pub(crate) fn prepare_node_agent(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("examples").join("node-agent");
    let lock = dir.join("package-lock.json");
    if !lock.is_file() {
        return Ok(());
    }
    let wanted =
        std::fs::read_to_string(&lock).with_context(|| format!("read {}", lock.display()))?;
    let stamp = dir
        .join("node_modules")
        .join(".kafclaw-installed-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    if !on_path("npm") {
        eprintln!("warning: npm is missing; examples/node-agent is not installed");
        return Ok(());
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("run npm ci in {}", dir.display()))?;
    if !status.success() {
        bail!("`npm ci` in {} failed ({status})", dir.display());
    }
    std::fs::write(&stamp, wanted).with_context(|| format!("write {}", stamp.display()))?;
    Ok(())
}
