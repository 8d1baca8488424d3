//! `kafclaw group` through the real binary against the real broker, with an agent
//! that speaks only the Go wire format (Python, kafka-python) as a real process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use kafclaw_testkit::{TestBroker, maybe_skip_kafka, random_group_name, wait_until};
use serde_json::Value;

struct Group {
    dir: tempfile::TempDir,
    brokers: String,
    group: String,
}

impl Group {
    fn new(broker: &TestBroker) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            brokers: broker.brokers.clone(),
            group: random_group_name(),
        }
    }

    fn kafclaw_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KAFCLAW_HOME", self.dir.path().join("kc"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFCLAW_GROUP_KAFKA_BROKERS", &self.brokers)
            .env("KAFCLAW_GROUP_GROUP_NAME", &self.group)
            .env("KAFCLAW_GROUP_AGENT_ID", "cli-agent")
            .env("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS", "1")
            .env("KAFCLAW_GROUP_MISSED_HEARTBEATS", "3");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run kafclaw")
    }

    fn kafclaw(&self, args: &[&str]) -> Output {
        self.kafclaw_with(args, &[])
    }

    fn members(&self) -> Vec<Value> {
        let out = self.kafclaw(&["group", "members", "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        match serde_json::from_slice(&out.stdout) {
            Ok(Value::Array(list)) => list,
            other => panic!("not a JSON array: {other:?}: {}", text(&out.stdout)),
        }
    }

    fn member_ids(&self) -> Vec<String> {
        self.members()
            .iter()
            .map(|m| m["agent_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Go-format agent as a child process; killed when dropped.
struct GoAgent {
    child: Child,
}

impl GoAgent {
    fn start(python: &Path, g: &Group, id: &str) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/kafclaw-group/tests/go_format_agent.py");
        let mut child = Command::new(python)
            .arg(script)
            .args([
                "--brokers",
                &g.brokers,
                "--group",
                &g.group,
                "--agent-id",
                id,
            ])
            .args(["--heartbeat", "0.5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Go-format agent");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(60));
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "the Go-format agent did not start"
        );
        Self { child }
    }

    /// SIGTERM: the agent announces leave and exits.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let exited = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "the Go-format agent did not stop");
    }
}

impl Drop for GoAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_go_format_agent_is_listed_and_answers_submit() {
    let broker = maybe_skip_kafka!();
    let Some(python) = kafclaw_testkit::python() else {
        return;
    };
    let g = Group::new(&broker);

    // No topics yet: nobody is there.
    let out = g.kafclaw(&["group", "members"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no live members"),
        "{}",
        text(&out.stdout)
    );

    // join creates the topics, onboards (nobody to ask) and announces.
    let out = g.kafclaw(&["group", "join"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("joined group"),
        "{}",
        text(&out.stdout)
    );

    let agent = GoAgent::start(&python, &g, "py-agent");
    let listed = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        g.member_ids().contains(&"py-agent".to_owned())
    });
    assert!(listed, "py-agent never appeared in `kafclaw group members`");
    let members = g.members();
    let py = members
        .iter()
        .find(|m| m["agent_id"] == "py-agent")
        .unwrap();
    assert_eq!(py["agent_name"], "Go-format agent");
    assert_eq!(py["capabilities"], serde_json::json!(["read_file", "exec"]));
    let table = g.kafclaw(&["group", "members"]);
    assert!(
        text(&table.stdout).contains("py-agent"),
        "{}",
        text(&table.stdout)
    );

    // submit --to: the Go agent's task_status on `responses` is not the answer; its
    // response with our task id is.
    let out = g.kafclaw(&[
        "group",
        "submit",
        "--to",
        "py-agent",
        "--timeout",
        "30",
        "hello there",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "echo: hello there\n");

    // A rejection exits 1 with the reason.
    let out = g.kafclaw(&["group", "submit", "--to", "py-agent", "reject this one"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("rejected by py-agent"), "{err}");
    assert!(
        err.contains("the Go-format agent refuses: reject this one"),
        "{err}"
    );

    let out = g.kafclaw(&["group", "status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["group"], g.group.as_str());
    assert_eq!(status["onboarding"], "open");
    assert!(status["members"].as_u64().unwrap() >= 1, "{status}");
    let topics = status["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 11);
    assert!(topics.iter().all(|t| t["partitions"] == 3), "{status}");

    // It leaves on SIGTERM and drops out of the roster.
    agent.stop();
    let gone = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        !g.member_ids().contains(&"py-agent".to_owned())
    });
    assert!(gone, "py-agent is still listed after leaving");

    // Nobody answers now: a timeout exits 1 with the reason.
    let out = g.kafclaw(&[
        "group",
        "submit",
        "--to",
        "py-agent",
        "--timeout",
        "2",
        "anyone?",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no response to task"),
        "{}",
        text(&out.stderr)
    );

    let out = g.kafclaw(&["group", "leave"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn gated_join_needs_the_secret_and_config_errors_exit_2() {
    let broker = maybe_skip_kafka!();
    let g = Group::new(&broker);
    let gated = [
        ("KAFCLAW_GROUP_ONBOARD_MODE", "gated"),
        ("KAFCLAW_GROUP_ONBOARD_TIMEOUT_SECS", "2"),
    ];

    // Without a secret: a configuration error.
    let out = g.kafclaw_with(&["group", "join", "--found"], &gated);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("group.onboardSecret"),
        "{}",
        text(&out.stderr)
    );

    // The founder, then a member with the secret, then one with a wrong secret.
    let with = |secret: &'static str, id: &'static str| {
        [
            gated[0],
            gated[1],
            ("KAFCLAW_GROUP_ONBOARD_SECRET", secret),
            ("KAFCLAW_GROUP_AGENT_ID", id),
        ]
    };
    // Nobody to sponsor and not founding: the join times out.
    let out = g.kafclaw_with(&["group", "join"], &with("s3cret", "early"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );

    let mut founder = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
    founder
        .args(["group", "join", "--found", "--stay"])
        .env_clear()
        .env("HOME", g.dir.path())
        .env("KAFCLAW_HOME", g.dir.path().join("kc"))
        .env("KAFCLAW_GROUP_KAFKA_BROKERS", &g.brokers)
        .env("KAFCLAW_GROUP_GROUP_NAME", &g.group)
        .env("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS", "1")
        .stdout(Stdio::piped());
    for (k, v) in with("s3cret", "founder") {
        founder.env(k, v);
    }
    let mut founder = founder.spawn().unwrap();
    let stdout = founder.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(line.contains("joined group"), "{line}");

    let out = g.kafclaw_with(&["group", "join"], &with("s3cret", "member"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = g.kafclaw_with(&["group", "join"], &with("guess", "intruder"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("does not match the group secret"),
        "{}",
        text(&out.stderr)
    );
    let out = g.kafclaw_with(&["group", "status", "--json"], &with("s3cret", "member"));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["admitted"], serde_json::json!(["founder", "member"]));
    let _ = Command::new("kill")
        .args(["-TERM", &founder.id().to_string()])
        .status();
    let status = founder.wait().unwrap();
    assert!(
        status.success(),
        "the founder exits cleanly on SIGTERM: {status}"
    );
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(line.contains("left group"), "{line}");

    // Configuration errors name the key and exit 2.
    let out = g.kafclaw_with(&["group", "members"], &[("KAFCLAW_GROUP_GROUP_NAME", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("group.groupName"),
        "{}",
        text(&out.stderr)
    );
    let out = g.kafclaw_with(
        &["group", "members"],
        &[("KAFCLAW_GROUP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("group.kafkaSaslMechanism"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn skills_submit_by_skill_and_shared_memory_from_the_command_line() {
    let broker = maybe_skip_kafka!();
    let g = Group::new(&broker);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let provider = rt.block_on(async {
        let a = kafclaw_group::GroupAgent::builder(
            kafclaw_group::KafkaSettings::plaintext(&g.brokers),
            &g.group,
            "provider",
        )
        .heartbeat_interval(Duration::from_secs(1))
        .missed_heartbeats(3)
        .task_handler(|task: kafclaw_group::IncomingTask| async move {
            Ok(format!("summary of {}", task.content()))
        })
        .build()
        .await
        .unwrap();
        a.join().await.unwrap();
        a.register_skill("summarise").await.unwrap();
        a
    });
    let out = g.kafclaw(&["group", "skills", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let skills: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(skills[0]["name"], "summarise", "{skills}");
    assert_eq!(skills[0]["live_providers"][0], "provider", "{skills}");

    let out = g.kafclaw(&["group", "submit", "--skill", "summarise", "the report"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("summary of the report"),
        "{}",
        text(&out.stdout)
    );
    let out = g.kafclaw(&["group", "submit", "--skill", "web.search", "x"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let file = g.dir.path().join("note.txt");
    std::fs::write(&file, "remember the milk").unwrap();
    let out = g.kafclaw(&[
        "group",
        "memory",
        "share",
        "--title",
        "groceries",
        "--tags",
        "home,todo",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("inline"),
        "{}",
        text(&out.stdout)
    );
    let out = g.kafclaw(&["group", "memory", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let items: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items[0]["title"], "groceries", "{items}");
    assert_eq!(items[0]["content"], "remember the milk");
    assert_eq!(items[0]["tags"], serde_json::json!(["home", "todo"]));
    rt.block_on(provider.shutdown());
}
