//! Tests of `kafclaw config` through the real binary, each with its own HOME and
//! KAFCLAW_HOME in a fresh temporary directory and no other environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

/// A temporary directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kafclaw-config-it-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One isolated installation: a user home and a KAFCLAW_HOME that does not exist yet.
struct Setup {
    scratch: Scratch,
}

impl Setup {
    fn new() -> Self {
        let scratch = Scratch::new();
        std::fs::create_dir_all(scratch.0.join("user")).expect("create user home");
        Self { scratch }
    }

    fn user_home(&self) -> PathBuf {
        self.scratch.0.join("user")
    }

    fn kafclaw_home(&self) -> PathBuf {
        self.scratch.0.join("state").join("kafclaw")
    }

    fn config_file(&self) -> PathBuf {
        self.kafclaw_home().join("config.json")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kafclaw"))
            .arg("config")
            .args(args)
            .env_clear()
            .env("HOME", self.user_home())
            .env("KAFCLAW_HOME", self.kafclaw_home())
            .envs(env.iter().copied())
            .output()
            .expect("run kafclaw")
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(args, env);
        assert!(
            out.status.success(),
            "kafclaw config {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.kafclaw_home()).expect("create home");
        set_mode(&self.kafclaw_home(), 0o700);
        std::fs::write(self.config_file(), text).expect("write config");
        set_mode(&self.config_file(), 0o600);
    }

    fn file_json(&self) -> Value {
        let text = std::fs::read_to_string(self.config_file()).expect("read config");
        serde_json::from_str(&text).expect("config.json is JSON")
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn set_get_unset_round_trip() {
    let s = Setup::new();
    assert_eq!(s.ok(&["get", "gateway.port"], &[]), "18790\n");
    assert_eq!(s.ok(&["get", "gateway.host"], &[]), "127.0.0.1\n");
    assert_eq!(s.ok(&["get", "model.maxToolIterations"], &[]), "20\n");

    s.ok(&["set", "gateway.port", "19000"], &[]);
    assert_eq!(s.file_json(), json!({"gateway": {"port": 19000}}));
    assert_eq!(s.ok(&["get", "gateway.port"], &[]), "19000\n");

    s.ok(&["set", "group.skills", "review,triage"], &[]);
    let list: Value =
        serde_json::from_str(&s.ok(&["get", "group.skills"], &[])).expect("JSON list");
    assert_eq!(list, json!(["review", "triage"]));

    s.ok(&["unset", "gateway.port"], &[]);
    assert_eq!(
        s.file_json(),
        json!({"group": {"skills": ["review", "triage"]}})
    );
    assert_eq!(s.ok(&["get", "gateway.port"], &[]), "18790\n");
}

#[test]
fn set_keeps_the_other_keys_of_the_file() {
    let s = Setup::new();
    s.write_config(r#"{"model": {"name": "openai/gpt-4o"}, "group": {"groupName": "team"}}"#);
    s.ok(&["set", "group.enabled", "true"], &[]);
    s.ok(&["set", "agents.defaults.maxToolIterations", "30"], &[]);
    assert_eq!(
        s.file_json(),
        json!({
            "model": {"name": "openai/gpt-4o", "maxToolIterations": 30},
            "group": {"groupName": "team", "enabled": true}
        })
    );
}

#[test]
fn set_refuses_bad_values_and_leaves_the_file_alone() {
    let s = Setup::new();
    let out = s.run(&["set", "gateway.port", "abc"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("gateway.port: expected a port number, got \"abc\""),
        "{}",
        stderr(&out)
    );
    assert!(!s.config_file().exists(), "nothing was written");

    s.write_config("{\"gateway\": {\"port\": 19000}}\n");
    let before = std::fs::read(s.config_file()).expect("read");
    for (key, value, expect) in [
        (
            "group.kafkaBrokerz",
            "x",
            "unknown key \"group.kafkaBrokerz\"",
        ),
        (
            "group.onboardMode",
            "closed",
            "group.onboardMode: must be one of open, gated",
        ),
        (
            "gateway.dashboardPort",
            "19000",
            "must differ from gateway.port",
        ),
    ] {
        let out = s.run(&["set", key, value], &[]);
        assert_eq!(out.status.code(), Some(2), "{key}");
        assert!(stderr(&out).contains(expect), "{key}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read(s.config_file()).expect("read"), before);
}

#[cfg(unix)]
#[test]
fn directory_is_0700_and_file_0600_and_loose_files_are_tightened() {
    let s = Setup::new();
    s.ok(&["set", "gateway.authToken", "t0ken"], &[]);
    assert_eq!(mode(&s.kafclaw_home()), 0o700);
    assert_eq!(mode(&s.config_file()), 0o600);

    set_mode(&s.config_file(), 0o644);
    let out = s.run(&["get", "gateway.port"], &[]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("0644"),
        "warning expected: {}",
        stderr(&out)
    );

    s.ok(&["set", "gateway.port", "19001"], &[]);
    assert_eq!(mode(&s.config_file()), 0o600);
    let out = s.run(&["get", "gateway.port"], &[]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn bad_file_stops_with_exit_2_and_the_dotted_key() {
    let s = Setup::new();
    s.write_config(r#"{"group": {"kafkaBrokerz": "localhost:9092"}}"#);
    for cmd in [&["get"][..], &["validate"], &["paths"]] {
        let out = s.run(cmd, &[]);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        assert!(
            stderr(&out).contains("config.json: unknown key \"group.kafkaBrokerz\""),
            "{}",
            stderr(&out)
        );
    }

    s.write_config(r#"{"group": {"heartbeatIntervalSecs": "fast"}}"#);
    let out = s.run(&["validate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "config.json: group.heartbeatIntervalSecs: expected an integer, got \"fast\""
        ),
        "{}",
        stderr(&out)
    );

    s.write_config("{ not json");
    let out = s.run(&["get", "gateway.port"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));

    // unset repairs a misspelt key even though the file does not load.
    s.write_config(r#"{"group": {"kafkaBrokerz": "localhost:9092"}}"#);
    s.ok(&["unset", "group.kafkaBrokerz"], &[]);
    s.ok(&["validate"], &[]);
}

#[test]
fn bad_environment_stops_with_exit_2_naming_the_variable() {
    let s = Setup::new();
    let out = s.run(&["get", "gateway.port"], &[("KAFCLAW_GATEWAY_PORT", "abc")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("KAFCLAW_GATEWAY_PORT=abc: gateway.port: expected a port number"),
        "{}",
        stderr(&out)
    );

    let out = s.run(&["validate"], &[("MIKROBOT_ORCHESTRATOR_ROLE", "boss")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("MIKROBOT_ORCHESTRATOR_ROLE=boss"), "{err}");
    assert!(err.contains("orchestrator.role"), "{err}");
}

#[test]
fn environment_overrides_file_and_legacy_names_work() {
    let s = Setup::new();
    s.write_config(r#"{"gateway": {"port": 19000, "host": "10.1.2.3"}}"#);
    assert_eq!(
        s.ok(
            &["get", "gateway.port"],
            &[("KAFCLAW_GATEWAY_PORT", "19500")]
        ),
        "19500\n"
    );
    assert_eq!(s.ok(&["get", "gateway.host"], &[]), "10.1.2.3\n");
    assert_eq!(
        s.ok(
            &["get", "group.kafkaBrokers"],
            &[("MIKROBOT_KAFKA_BROKERS", "old:9092")]
        ),
        "old:9092\n"
    );
    assert_eq!(
        s.ok(
            &["get", "group.kafkaBrokers"],
            &[
                ("MIKROBOT_KAFKA_BROKERS", "old:9092"),
                ("KAFCLAW_GROUP_KAFKA_BROKERS", "new:9092")
            ]
        ),
        "new:9092\n"
    );
    assert_eq!(
        s.ok(
            &["get", "paths.workspace"],
            &[("KAFCLAW_AGENTS_WORKSPACE", "/srv/ws")]
        ),
        "/srv/ws\n"
    );

    // set says when a variable will hide the value it wrote.
    let out = s.run(
        &["set", "gateway.port", "19002"],
        &[("KAFCLAW_GATEWAY_PORT", "19500")],
    );
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("KAFCLAW_GATEWAY_PORT is set in the environment"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secrets_are_masked_unless_asked_for() {
    let s = Setup::new();
    s.ok(&["set", "providers.openai.apiKey", "sk-very-secret"], &[]);
    let all = s.ok(&["get"], &[]);
    let tree: Value = serde_json::from_str(&all).expect("whole config is JSON");
    assert_eq!(tree["providers"]["openai"]["apiKey"], json!("********"));
    assert_eq!(tree["gateway"]["port"], json!(18790));
    assert!(!all.contains("sk-very-secret"));
    assert_eq!(s.ok(&["get", "providers.openai.apiKey"], &[]), "********\n");
    let shown = s.ok(&["get", "--show-secrets"], &[]);
    assert!(shown.contains("sk-very-secret"));
    assert_eq!(
        s.ok(&["get", "providers.openai.apiKey", "--show-secrets"], &[]),
        "sk-very-secret\n"
    );
}

#[test]
fn get_of_an_unknown_key_is_a_usage_error() {
    let s = Setup::new();
    let out = s.run(&["get", "gateway.prot"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown key \"gateway.prot\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kafclaw_home_moves_all_state() {
    let s = Setup::new();
    let paths = s.ok(&["paths"], &[]);
    let home = s.kafclaw_home();
    for (name, path) in [
        ("home", home.clone()),
        ("config_file", home.join("config.json")),
        ("timeline_db", home.join("timeline.db")),
        ("sessions_dir", home.join("sessions")),
        ("workspace", home.join("workspace")),
        ("work_repo", home.join("work-repo")),
    ] {
        let line = format!("{name}: {}", path.display());
        assert!(
            paths.lines().any(|l| l == line),
            "{line} missing in:\n{paths}"
        );
    }

    // Without KAFCLAW_HOME everything lives in ~/.kafclaw.
    let out = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .args(["config", "paths"])
        .env_clear()
        .env("HOME", s.user_home())
        .output()
        .expect("run kafclaw");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "timeline_db: {}",
        s.user_home().join(".kafclaw/timeline.db").display()
    );
    assert!(
        text.lines().any(|l| l == line),
        "{line} missing in:\n{text}"
    );
}
