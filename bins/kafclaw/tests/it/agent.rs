//! `kafclaw agent`, `onboard`, `status`, `doctor` and `completion` through the real binary,
//! with KAFCLAW_HOME in a temp dir and the model served by scripted LLM servers on
//! loopback; the timeline the binary wrote is opened with kafclaw-timeline afterwards.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use kafclaw_timeline::{DecisionFilter, TaskFilter, TaskStatus, Timeline};
use serde_json::{Value, json};

/// Long enough for any step; no test asserts on time.
const WAIT: Duration = Duration::from_secs(60);

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self { dir }
    }

    /// A home whose model is served by `srv`.
    fn with_server(srv: &ScriptedLlm) -> Self {
        let home = Self::new();
        let (provider, model) = match srv.wire() {
            Wire::OpenAi => ("openai", "openai/test-model"),
            Wire::Anthropic => ("anthropic", "claude/test-model"),
        };
        home.write_config(&json!({
            "model": {"name": model, "maxAttempts": 1},
            "providers": {provider: {"apiKey": "test-key", "apiBase": srv.base_url()}},
        }));
        home
    }

    fn kafclaw_home(&self) -> PathBuf {
        self.dir.path().join("kc")
    }

    fn write_config(&self, config: &Value) {
        std::fs::create_dir_all(self.kafclaw_home()).unwrap();
        std::fs::write(
            self.kafclaw_home().join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KAFCLAW_HOME", self.kafclaw_home())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[]).await
    }

    async fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::time::timeout(WAIT, cmd.output())
            .await
            .expect("kafclaw finishes")
            .expect("run kafclaw")
    }

    async fn timeline(&self) -> Timeline {
        Timeline::open_path(self.kafclaw_home().join("timeline.db"))
            .await
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

async fn server(wire: Wire, script: Vec<Reply>) -> ScriptedLlm {
    ScriptedLlm::start(wire, script).await.unwrap()
}

async fn wait_requests(srv: &ScriptedLlm, n: usize) {
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(10), || async {
        srv.requests().len() >= n
    })
    .await;
    assert!(
        ok,
        "the server got {} requests, expected {n}",
        srv.requests().len()
    );
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn a_tool_call_through_the_binary(wire: Wire) {
    let srv = server(
        wire,
        vec![
            Reply::tool_call("read_file", json!({"path": "todo.txt"})),
            Reply::text("You still have to water the plants."),
        ],
    )
    .await;
    let home = Home::with_server(&srv);
    std::fs::create_dir_all(home.kafclaw_home().join("work-repo")).unwrap();
    std::fs::write(
        home.kafclaw_home().join("work-repo/todo.txt"),
        "water the plants\n",
    )
    .unwrap();

    let out = home.run(&["agent", "-m", "What is left on my list?"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "You still have to water the plants.\n");
    assert!(
        srv.requests()[1]
            .body
            .to_string()
            .contains("water the plants"),
        "the tool result went back to the model"
    );

    // The timeline the binary wrote: the task, the model calls, the tool call and the
    // policy decision, all under one trace id.
    let tl = home.timeline().await;
    let tasks = tl.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.channel, "cli");
    assert_eq!(task.session_key.as_deref(), Some("cli:default"));
    assert_eq!((task.tokens_in, task.tokens_out), (20, 10));
    let trace_id = task.trace_id.clone().unwrap();
    let events = tl.trace_events(&trace_id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message_in",
            "llm_call",
            "tool_call",
            "llm_call",
            "message_out"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.trace_id.as_deref() == Some(&*trace_id))
    );
    assert_eq!(events[2].metadata["tool"], "read_file");
    let decisions = tl
        .list_decisions(&DecisionFilter {
            trace_id: Some(trace_id.clone()),
            ..DecisionFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].tool, "read_file");
    assert_eq!(decisions[0].outcome.as_str(), "allow");
    assert_eq!(decisions[0].task_id.as_deref(), Some(task.task_id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_runs_a_tool_call_over_the_openai_wire() {
    a_tool_call_through_the_binary(Wire::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_runs_a_tool_call_over_the_anthropic_wire() {
    a_tool_call_through_the_binary(Wire::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_without_a_provider_says_how_to_configure_one() {
    let home = Home::new();
    let out = home.run(&["agent", "-m", "hello"]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no LLM provider is configured"), "{err}");
    assert!(err.contains("providers.anthropic.apiKey"), "{err}");
    assert!(
        err.contains("kafclaw config set providers.openai.apiKey"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_reply_fails_the_task_with_exit_1_and_the_reason() {
    let srv = server(Wire::OpenAi, vec![Reply::malformed(r#"{"choices": []}"#)]).await;
    let home = Home::with_server(&srv);
    let out = home.run(&["agent", "-m", "hello", "-s", "s1"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("malformed reply"), "{}", stderr(&out));
    let tl = home.timeline().await;
    let tasks = tl.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(tasks[0].status, TaskStatus::Failed);
    assert_eq!(tasks[0].content_in, "hello", "the message is kept");
    assert!(
        tasks[0]
            .error
            .as_deref()
            .unwrap()
            .contains("malformed reply")
    );

    // --json gives the same outcome as data.
    srv.push([Reply::text("fine now")]);
    let out = home
        .run(&["agent", "-m", "again", "-s", "s1", "--json"])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["state"], "completed");
    assert_eq!(v["reply"], "fine now");
    assert_eq!(v["session"], "s1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_killed_mid_turn_is_resumed_at_the_next_start() {
    let srv = server(
        Wire::OpenAi,
        vec![Reply::text("never delivered").delayed(Duration::from_secs(600))],
    )
    .await;
    let home = Home::with_server(&srv);
    let mut child = home
        .command(&["agent", "-m", "long job"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_requests(&srv, 1).await; // the task is inside its model call
    child.kill().await.unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    srv.push([
        Reply::text("long job done"),
        Reply::text("and the next one"),
    ]);
    let out = home.run(&["agent", "-m", "next question"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "and the next one\n");
    assert!(
        stderr(&out).contains("resuming 1 task(s) interrupted by a restart"),
        "{}",
        stderr(&out)
    );

    let reqs = srv.requests();
    assert_eq!(reqs.len(), 3);
    // The resumed turn starts over with the same message; the next one sees its answer.
    let last = |i: usize| {
        reqs[i].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(last(1).last().unwrap(), "long job");
    assert_eq!(last(2)[1..], ["long job", "long job done", "next question"]);

    let tl = home.timeline().await;
    let mut tasks = tl.list_tasks(&TaskFilter::default()).await.unwrap();
    tasks.sort_by_key(|t| t.id);
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].content_in, "long job");
    assert_eq!(tasks[0].status, TaskStatus::Completed);
    assert_eq!(tasks[0].content_out.as_deref(), Some("long job done"));
    assert_eq!(tasks[0].attempts, 2);
    let events = tl
        .trace_events(tasks[0].trace_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.event_type == "task_resumed"));
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "message_in" && e.content == "long job")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_killed_every_time_fails_with_the_reason() {
    let stall = || Reply::text("never").delayed(Duration::from_secs(600));
    let srv = server(Wire::OpenAi, vec![stall(), stall(), stall()]).await;
    let home = Home::with_server(&srv);
    // Started three times (once by -m, twice by --resume), killed inside the model call.
    for (run, args) in [
        (1, &["agent", "-m", "doomed"][..]),
        (2, &["agent", "--resume"][..]),
        (3, &["agent", "--resume"][..]),
    ] {
        let mut child = home
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_requests(&srv, run).await;
        child.kill().await.unwrap();
        child.wait().await.unwrap();
    }
    let out = home.run(&["agent", "--resume"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted by restart after 3 attempts"),
        "{}",
        stderr(&out)
    );
    let tl = home.timeline().await;
    let tasks = tl.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].status, TaskStatus::Failed);
    assert_eq!(tasks[0].content_in, "doomed", "the message is kept");
    assert_eq!(srv.requests().len(), 3, "not started a fourth time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_non_interactive_writes_private_files_and_keeps_edits() {
    let home = Home::new();
    let out = home
        .run(&[
            "onboard",
            "--non-interactive",
            "--provider",
            "openai",
            "--api-key",
            "sk-test-123",
            "--model",
            "gpt-4o-mini",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let kc = home.kafclaw_home();
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(kc.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["name"], "openai/gpt-4o-mini");
    assert_eq!(config["providers"]["openai"]["apiKey"], "sk-test-123");
    assert!(
        !stdout(&out).contains("sk-test-123"),
        "the key is never printed"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&kc), 0o700);
        assert_eq!(mode(&kc.join("config.json")), 0o600);
        assert_eq!(mode(&kc.join("workspace")), 0o700);
        for f in ["AGENTS.md", "SOUL.md", "USER.md", "TOOLS.md", "IDENTITY.md"] {
            assert_eq!(mode(&kc.join("workspace").join(f)), 0o600, "{f}");
        }
    }

    // Again, with a group: the config gains keys, an edited soul file is kept.
    std::fs::write(kc.join("workspace/USER.md"), "I am Ada.").unwrap();
    let out = home
        .run(&[
            "onboard",
            "--non-interactive",
            "--mode",
            "group",
            "--group-name",
            "team",
            "--brokers",
            "127.0.0.1:9092",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("USER.md      kept"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(kc.join("workspace/USER.md")).unwrap(),
        "I am Ada."
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(kc.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["group"]["enabled"], true);
    assert_eq!(config["group"]["groupName"], "team");
    assert_eq!(config["model"]["name"], "openai/gpt-4o-mini", "kept");

    // --force replaces the soul files.
    let out = home.run(&["onboard", "--non-interactive", "--force"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(
        std::fs::read_to_string(kc.join("workspace/USER.md")).unwrap(),
        "I am Ada."
    );

    // Mistakes are usage errors naming what is wrong, and change nothing.
    let before = std::fs::read_to_string(kc.join("config.json")).unwrap();
    for (args, says) in [
        (
            &["onboard", "--non-interactive", "--provider", "acme"][..],
            "not a known provider",
        ),
        (
            &[
                "onboard",
                "--non-interactive",
                "--provider",
                "groq",
                "--api-key",
                "k",
            ][..],
            "--model is needed",
        ),
        (
            &[
                "onboard",
                "--non-interactive",
                "--mode",
                "full",
                "--group-name",
                "bad name!",
            ][..],
            "group.groupName",
        ),
        (&["onboard"][..], "stdin is not a terminal"),
    ] {
        let out = home.run(args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        std::fs::read_to_string(kc.join("config.json")).unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_prints_a_script_for_each_shell() {
    let home = Home::new();
    for (shell, marker) in [
        ("bash", "_kafclaw()"),
        ("zsh", "#compdef kafclaw"),
        ("fish", "complete -c kafclaw"),
    ] {
        let out = home.run(&["completion", shell]).await;
        assert_eq!(code(&out), 0, "{shell}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("onboard"),
            "{shell} completes the subcommands"
        );
    }
    let out = home.run(&["completion", "tcsh"]).await;
    assert_eq!(code(&out), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_fails_a_broken_one() {
    let srv = server(Wire::Anthropic, vec![Reply::text("OK")]).await;
    let home = Home::with_server(&srv);
    let out = home.run(&["onboard", "--non-interactive"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = home.run(&["doctor", "--online"]).await;
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        text.contains("OK   provider: claude/test-model answered"),
        "{text}"
    );
    assert!(text.contains("OK   timeline"), "{text}");
    assert_eq!(srv.requests().len(), 1, "--online makes exactly one call");
    let out = home.run(&["doctor"]).await;
    assert_eq!(code(&out), 0);
    assert_eq!(srv.requests().len(), 1, "without --online nothing is sent");

    // Broken: exposed gateway without a token, a group broker that is not there, and a
    // soul file missing (a warning only).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    home.write_config(&json!({
        "model": {"name": "claude/test-model"},
        "providers": {"anthropic": {"apiKey": "k", "apiBase": srv.base_url()}},
        "gateway": {"host": "0.0.0.0"},
        "group": {"enabled": true, "groupName": "team", "kafkaBrokers": closed.to_string()},
    }));
    std::fs::remove_file(home.kafclaw_home().join("workspace/SOUL.md")).unwrap();
    let out = home.run(&["doctor", "--json"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let checks: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let status = |check: &str| {
        checks
            .iter()
            .filter(|c| c["check"] == check)
            .map(|c| c["status"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(status("gateway"), ["FAIL"]);
    assert_eq!(status("broker"), ["FAIL"]);
    assert_eq!(status("workspace"), ["WARN"]);
    assert_eq!(status("provider"), ["OK"]);

    // No provider at all.
    home.write_config(&json!({"model": {"name": "openai/gpt-4o-mini"}}));
    let out = home.run(&["doctor"]).await;
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("FAIL provider: model openai/gpt-4o-mini"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_model_and_the_task_counts() {
    let srv = server(Wire::OpenAi, vec![Reply::text("hi")]).await;
    let home = Home::with_server(&srv);
    let out = home.run(&["agent", "-m", "hello"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = home.run(&["status", "--json"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let st: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(st["mode"], "standalone");
    assert_eq!(st["model"]["primary"]["model"], "openai/test-model");
    assert_eq!(st["model"]["primary"]["ready"], true);
    assert_eq!(st["timeline"]["tasks"]["completed"], 1);
    assert_eq!(st["timeline"]["tasks"]["failed"], 0);
    assert_eq!(st["config"]["exists"], true);
    let text = home.run(&["status"]).await;
    assert!(stdout(&text).contains("tasks:      0 pending, 0 processing, 1 completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_go_to_stderr_as_json_when_asked() {
    let srv = server(Wire::OpenAi, vec![Reply::text("logged")]).await;
    let home = Home::with_server(&srv);
    let out = home
        .run_env(
            &["--log-format", "json", "agent", "-m", "hello"],
            &[("KAFCLAW_LOG", "debug")],
        )
        .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "logged\n", "logs never mix into stdout");
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "{}", stderr(&out));
    assert!(lines.iter().all(|l| l["level"].is_string()));

    let out = home
        .run_env(&["agent", "-m", "hello"], &[("KAFCLAW_LOG_FORMAT", "xml")])
        .await;
    assert_eq!(code(&out), 2, "a bad format is a usage error");
}
