//! `exec` with real processes: output, exit codes, caps, scrubbed environment, git
//! hardening, and the process-group kill on timeout.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafclaw_tools::{Error, ExecConfig, ExecTool, Roots, Tool, ToolOutput};
use serde_json::json;

use crate::support::{Fixture, ctx};

fn exec_with(fx: &Fixture, cfg: ExecConfig) -> ExecTool {
    let roots = Arc::new(Roots::open(&fx.config().roots).expect("roots"));
    ExecTool::new(roots, cfg).expect("exec tool")
}

async fn run(tool: &ExecTool, command: &str) -> ToolOutput {
    tool.execute(json!({ "command": command }), &ctx())
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

#[tokio::test]
async fn runs_allowed_programs_without_a_shell() {
    let fx = Fixture::new();
    let tool = exec_with(&fx, ExecConfig::default());
    let out = run(&tool, "echo hello 'quoted words' \"a|b;c\"").await;
    assert_eq!(out.content, "hello quoted words a|b;c\n[exit code 0]");
    assert!(!out.is_error);
    let out = run(&tool, "ls").await;
    assert!(
        out.content.contains("file.txt\n") && out.content.contains("sub\n"),
        "{}",
        out.content
    );
    let out = tool
        .execute(json!({"command": "ls", "working_dir": "sub"}), &ctx())
        .await
        .expect("ls in sub");
    assert!(out.content.contains("\nnested.txt\n"), "{}", out.content);
    let out = run(&tool, "pwd").await;
    assert_eq!(out.content, format!("{}\n[exit code 0]", fx.root.display()));
    let out = run(&tool, "cat in_link/nested.txt").await;
    assert_eq!(out.content, "nested\n[exit code 0]");
    let out = run(&tool, "grep -n two file.txt").await;
    assert_eq!(out.content, "2:line two\n[exit code 0]");
    let out = run(&tool, "sed -n 's/line/LINE/p' file.txt").await;
    assert_eq!(out.content, "LINE two\n[exit code 0]");
    let out = run(&tool, "wc -l file.txt").await;
    assert_eq!(out.content, "2 file.txt\n[exit code 0]");
    let out = run(&tool, "head -n 1 file.txt").await;
    assert_eq!(out.content, "inside file\n[exit code 0]");
    let out = run(&tool, "ls no-such-file").await;
    assert!(out.is_error);
    assert!(
        out.content.contains("[stderr]") && out.content.ends_with("[exit code 2]"),
        "{}",
        out.content
    );
}

#[tokio::test]
async fn sed_in_place_edits_inside_the_root() {
    let fx = Fixture::new();
    let tool = exec_with(&fx, ExecConfig::default());
    let out = run(&tool, "sed -i s/inside/INSIDE/ file.txt").await;
    assert!(!out.is_error, "{}", out.content);
    assert_eq!(
        std::fs::read_to_string(fx.root.join("file.txt")).expect("read"),
        "INSIDE file\nline two\n"
    );
}

#[tokio::test]
async fn output_is_capped_with_a_marker() {
    let fx = Fixture::new();
    std::fs::write(fx.root.join("big.txt"), "x".repeat(100_000)).expect("write");
    let tool = exec_with(
        &fx,
        ExecConfig {
            max_output_bytes: 1000,
            ..ExecConfig::default()
        },
    );
    let out = run(&tool, "cat big.txt").await;
    assert!(out.truncated);
    assert!(
        out.content
            .contains("[output truncated: 99000 bytes omitted]"),
        "{}",
        &out.content[900..]
    );
    assert!(out.content.len() < 1200);
}

#[tokio::test]
async fn the_environment_is_scrubbed() {
    let fx = Fixture::new();
    let tool = exec_with(
        &fx,
        ExecConfig {
            allowed_programs: vec!["env".into()],
            ..ExecConfig::default()
        },
    );
    // Cargo sets these for the test process; the child must not see them.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let out = run(&tool, "env").await;
    let names: Vec<&str> = out
        .content
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for name in &names {
        assert!(
            ["PATH", "HOME", "LANG", "LC_ALL", "PAGER"].contains(name) || name.starts_with("GIT_"),
            "unexpected variable {name} in {}",
            out.content
        );
    }
    assert!(out.content.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"));
    assert!(out.content.contains(&format!("HOME={}\n", fx.ws.display())));
    assert!(out.content.contains("LANG=C\n"));
    assert!(!out.content.contains("CARGO"));
}

#[tokio::test]
async fn git_does_not_run_repository_hooks_fsmonitor_or_pagers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().canonicalize().expect("canon").join("repo");
    let ws = tmp.path().canonicalize().expect("canon").join("ws");
    std::fs::create_dir_all(&repo).expect("mkdir");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let roots =
        Arc::new(Roots::open(&kafclaw_tools::ToolsConfig::new(&repo, &ws).roots).expect("roots"));
    let tool = ExecTool::new(roots, ExecConfig::default()).expect("exec");
    let out = run(&tool, "git init -q").await;
    assert!(!out.is_error, "{}", out.content);
    // The operator's (or an attacker's earlier) repository config: hooks, fsmonitor, pager.
    let marker = tmp.path().join("pwned");
    let script = repo.join(".git/evil.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::create_dir_all(repo.join(".git/hooks")).expect("hooks");
    std::fs::copy(&script, repo.join(".git/hooks/pre-commit")).expect("hook");
    std::fs::set_permissions(
        repo.join(".git/hooks/pre-commit"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let mut config = std::fs::read_to_string(repo.join(".git/config")).expect("config");
    config.push_str(&format!(
        "[user]\n\tname = Test\n\temail = test@example.com\n[core]\n\tfsmonitor = {s}\n\tpager = {s}\n\thooksPath = .git/hooks\n",
        s = script.display()
    ));
    std::fs::write(repo.join(".git/config"), config).expect("write config");
    std::fs::write(repo.join("a.txt"), "a\n").expect("file");

    for cmd in [
        "git add a.txt",
        "git commit -q -m first",
        "git status",
        "git log --oneline",
        "git diff HEAD",
    ] {
        let out = run(&tool, cmd).await;
        assert!(!out.is_error, "{cmd}: {}", out.content);
    }
    let out = run(&tool, "git log --format=%s").await;
    assert_eq!(out.content, "first\n[exit code 0]");
    assert!(
        !marker.exists(),
        "a repository hook, fsmonitor or pager ran"
    );
}

/// True when the process is gone or a zombie (dead, waiting to be reaped by init).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_dead(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dead(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still alive"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group_including_grandchildren() {
    let fx = Fixture::new();
    let tool = exec_with(
        &fx,
        ExecConfig {
            allowed_programs: vec!["sh".into(), "sleep".into()],
            timeout_secs: 1,
            ..ExecConfig::default()
        },
    );
    let out = run(
        &tool,
        "sh -c 'echo $$ > sh.pid; sleep 300 & echo $! > grandchild.pid; echo started; wait'",
    )
    .await;
    assert!(out.is_error);
    assert!(out.content.starts_with("started\n"), "{}", out.content);
    assert!(
        out.content
            .ends_with("[timed out after 1 s; the process group was killed]"),
        "{}",
        out.content
    );
    let sh = read_pid(&fx.root.join("sh.pid"));
    let grandchild = read_pid(&fx.root.join("grandchild.pid"));
    wait_dead(sh, "the shell");
    wait_dead(grandchild, "the background grandchild");
}

#[tokio::test]
async fn background_leftovers_are_killed_after_a_normal_exit() {
    let fx = Fixture::new();
    let tool = exec_with(
        &fx,
        ExecConfig {
            allowed_programs: vec!["sh".into(), "sleep".into()],
            ..ExecConfig::default()
        },
    );
    let out = run(&tool, "sh -c 'sleep 300 & echo $! > bg.pid'").await;
    assert_eq!(out.content, "[exit code 0]");
    wait_dead(read_pid(&fx.root.join("bg.pid")), "the background process");
}

#[tokio::test]
async fn missing_program_and_bad_config_are_clear_errors() {
    let fx = Fixture::new();
    let tool = exec_with(
        &fx,
        ExecConfig {
            allowed_programs: vec!["kafclaw-no-such-program".into()],
            ..ExecConfig::default()
        },
    );
    match tool
        .execute(json!({"command": "kafclaw-no-such-program"}), &ctx())
        .await
    {
        Err(Error::Spawn {
            program, problem, ..
        }) => {
            assert_eq!(program, "kafclaw-no-such-program");
            assert!(problem.contains("not found"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    let roots = Arc::new(Roots::open(&fx.config().roots).expect("roots"));
    match ExecTool::new(
        roots,
        ExecConfig {
            allowed_programs: vec!["/bin/sh".into()],
            ..ExecConfig::default()
        },
    ) {
        Err(Error::Config { key, .. }) => assert_eq!(key, "exec.allowedPrograms[0]"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn configured_deny_patterns_refuse_matching_commands() {
    let fx = Fixture::new();
    let tool = exec_with(
        &fx,
        ExecConfig {
            deny_patterns: vec![r"\bgit\s+push\b".into(), "SECRET-WORD".into()],
            ..ExecConfig::default()
        },
    );
    for command in ["git push origin main", "echo secret-word"] {
        match tool.execute(json!({ "command": command }), &ctx()).await {
            Err(Error::Refused { refusal, .. }) => {
                assert_eq!(refusal.rule.as_str(), "denied_pattern", "{command}");
                assert!(
                    refusal.reason.contains("configured deny pattern"),
                    "{}",
                    refusal.reason
                );
            }
            other => panic!("{command}: {other:?}"),
        }
    }
    // A command the patterns do not match still runs.
    assert!(run(&tool, "echo fine").await.content.contains("fine"));
    let roots = Arc::new(Roots::open(&fx.config().roots).expect("roots"));
    match ExecTool::new(
        roots,
        ExecConfig {
            deny_patterns: vec!["(unclosed".into()],
            ..ExecConfig::default()
        },
    ) {
        Err(Error::Config { key, problem }) => {
            assert_eq!(key, "exec.denyPatterns[0]");
            assert!(problem.contains("(unclosed"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}
