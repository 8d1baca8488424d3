//! `kafclaw tools list|run` through the real binary: refusals exit non-zero with the
//! reason on stderr, and every decision lands in the timeline.

use std::path::Path;
use std::process::{Command, Output};

use kafclaw_timeline::{DecisionFilter, Timeline, TimelineOptions};
use serde_json::Value;

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn kafclaw(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kafclaw"))
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .env("KAFCLAW_HOME", self.path().join("kc"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("run kafclaw")
    }

    async fn decisions(&self) -> Vec<(String, String, String, String)> {
        let tl = Timeline::open(TimelineOptions::new(
            self.path().join("kc").join("timeline.db"),
        ))
        .await
        .unwrap();
        let mut rows: Vec<_> = tl
            .list_decisions(&DecisionFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|d| {
                (
                    d.tool,
                    d.trust_class.to_string(),
                    d.outcome.to_string(),
                    d.reason,
                )
            })
            .collect();
        rows.reverse();
        rows
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn list_shows_every_tool_with_its_tier() {
    let home = Home::new();
    let out = home.kafclaw(&["tools", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "edit_file",
            "exec",
            "list_dir",
            "read_file",
            "resolve_path",
            "web_fetch",
            "write_file"
        ],
        "deterministic order"
    );
    let tier = |n: &str| {
        tools.iter().find(|t| t["name"] == n).unwrap()["tier"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (tier("read_file"), tier("write_file"), tier("exec")),
        (0, 1, 2)
    );
    assert!(tools.iter().all(|t| t["parameters"]["type"] == "object"));
    let table = stdout(&home.kafclaw(&["tools", "list"]));
    assert!(
        table.lines().count() == 8 && table.contains("read_file"),
        "{table}"
    );
}

#[tokio::test]
async fn run_refuses_escapes_exactly_as_the_agent_would_and_records_each_decision() {
    let home = Home::new();
    // A file inside the work repo is readable.
    std::fs::create_dir_all(home.path().join("kc/work-repo")).unwrap();
    std::fs::write(home.path().join("kc/work-repo/notes.txt"), "inside\n").unwrap();
    let out = home.kafclaw(&["tools", "run", "read_file", r#"{"path":"notes.txt"}"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("inside"));

    // A path escape: refused by the sandbox, exit 1, reason on stderr.
    let out = home.kafclaw(&[
        "tools",
        "run",
        "read_file",
        r#"{"path":"../../../etc/passwd"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("sandbox_path_escape"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("root:"), "nothing was read");

    // A shell bypass through exec.
    let out = home.kafclaw(&[
        "tools",
        "run",
        "exec",
        r#"{"command":"echo hi; cat /etc/passwd"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refused by the sandbox"),
        "{}",
        stderr(&out)
    );

    // An external sender may not use tier 2 at all: refused by policy.
    let out = home.kafclaw(&[
        "tools",
        "run",
        "exec",
        r#"{"command":"ls"}"#,
        "--as",
        "external",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("tier_above_class_max"),
        "{}",
        stderr(&out)
    );

    // A peer may write (tier 1) but not run programs (tier 2) by default.
    let out = home.kafclaw(&[
        "tools",
        "run",
        "write_file",
        r#"{"path":"peer.txt","content":"x"}"#,
        "--as",
        "peer",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = home.kafclaw(&[
        "tools",
        "run",
        "exec",
        r#"{"command":"ls"}"#,
        "--as",
        "peer",
    ]);
    assert_eq!(out.status.code(), Some(1));

    // An unknown tool is denied by policy, and recorded.
    let out = home.kafclaw(&["tools", "run", "rm_rf", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown_tool"), "{}", stderr(&out));

    let decisions = home.decisions().await;
    let summary: Vec<(String, String, String, String)> = decisions
        .iter()
        .map(|(tool, class, outcome, reason)| {
            (
                tool.clone(),
                class.clone(),
                outcome.clone(),
                reason.split(':').next().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |t: &str, c: &str, o: &str, r: &str| {
        (t.to_string(), c.to_string(), o.to_string(), r.to_string())
    };
    assert_eq!(
        summary,
        vec![
            expect("read_file", "owner", "allow", "allowed"),
            expect("read_file", "owner", "allow", "allowed"),
            expect("read_file", "owner", "deny", "sandbox_path_escape"),
            expect("exec", "owner", "allow", "allowed"),
            expect("exec", "owner", "deny", "sandbox_shell_syntax"),
            expect("exec", "external", "deny", "tier_above_class_max"),
            expect("write_file", "peer", "allow", "allowed"),
            expect("exec", "peer", "deny", "tier_above_class_max"),
            expect("rm_rf", "owner", "deny", "unknown_tool"),
        ]
    );
}

#[test]
fn malformed_arguments_are_usage_errors() {
    let home = Home::new();
    let out = home.kafclaw(&["tools", "run", "read_file", "{not json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    let out = home.kafclaw(&["tools", "run", "read_file", r#"{"pth":"x"}"#]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`path`"), "{}", stderr(&out));
    let out = home.kafclaw(&["tools", "run", "read_file", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
}
