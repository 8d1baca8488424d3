//! Agents collaborating over Kafka through the real binary: `kafclaw gateway --mode
//! group` processes on the real broker, each with its own scripted LLM server (OpenAI
//! wire for agent A, Anthropic wire for agent B) or none (a command-skill worker).
//! Covers delegation to a skill answered by the other agent's model with the trace
//! across both, the peer tool tier, command skills, the delegation depth limit and
//! deadlines, and a worker killed mid-task.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafclaw_testkit::{Reply, ScriptedLlm, TestBroker, Wire, maybe_skip_kafka, random_group_name};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long any condition may take on a loaded machine before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn provider(llm: &ScriptedLlm) -> Value {
    match llm.wire() {
        Wire::OpenAi => json!({
            "providers": {"openai": {"apiKey": "sk-test", "apiBase": llm.base_url()}},
            "model": {"name": "openai/gpt-test", "maxAttempts": 1},
        }),
        Wire::Anthropic => json!({
            "providers": {"anthropic": {"apiKey": "sk-ant-test", "apiBase": llm.base_url()}},
            "model": {"name": "claude/claude-test", "maxAttempts": 1},
        }),
    }
}

fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// One group on the test broker.
struct Net {
    brokers: String,
    group: String,
}

impl Net {
    fn new(broker: &TestBroker) -> Net {
        Net {
            brokers: broker.brokers.clone(),
            group: random_group_name(),
        }
    }

    /// The config of agent `id`: in the group, fast heartbeats, plus `extra`.
    fn config(&self, id: &str, llm: Option<&ScriptedLlm>, extra: Value) -> Value {
        let mut c = json!({
            "group": {
                "enabled": true,
                "groupName": self.group,
                "agentId": id,
                "kafkaBrokers": self.brokers,
                "heartbeatIntervalSecs": 1,
                "missedHeartbeats": 3,
                "onboardTimeoutSecs": 5,
            }
        });
        if let Some(llm) = llm {
            merge(&mut c, &provider(llm));
        }
        merge(&mut c, &extra);
        c
    }

    /// `kafclaw group ...` as a separate agent id of the group.
    fn cli(&self, args: &[&str]) -> Output {
        let (mut cmd, _home) = self.cli_command(args);
        cmd.output().expect("run kafclaw group")
    }

    /// `kafclaw group ...` that must exit 0 (its stderr in the failure); its stdout.
    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "kafclaw group {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The command of [`Net::cli`], to spawn, with the home it runs in (keep it until
    /// the command ends).
    fn cli_command(&self, args: &[&str]) -> (Command, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.arg("group")
            .args(args)
            .env_clear()
            .env("HOME", dir.path())
            .env("KAFCLAW_HOME", dir.path().join("kc"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFCLAW_GROUP_KAFKA_BROKERS", &self.brokers)
            .env("KAFCLAW_GROUP_GROUP_NAME", &self.group)
            .env("KAFCLAW_GROUP_AGENT_ID", "cli-requester");
        (cmd, dir)
    }
}

/// Spawns `kafclaw gateway --mode MODE` on `home` (HOME is its parent) with fresh ports
/// and waits for its first line; returns the child and its API and dashboard URLs.
pub(crate) fn spawn_gateway(
    home: &std::path::Path,
    mode: &str,
    env: &[(&str, &str)],
) -> (Child, String, String) {
    let api = free_port();
    let dash = std::iter::repeat_with(free_port)
        .find(|p| *p != api)
        .unwrap();
    let (api, dash) = (api.to_string(), dash.to_string());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .args(["gateway", "--mode", mode, "--chat-timeout", "170"])
        .env_clear()
        .env("HOME", home.parent().unwrap())
        .env("KAFCLAW_HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFCLAW_GATEWAY_PORT", &api)
        .env("KAFCLAW_GATEWAY_DASHBOARD_PORT", &dash)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn kafclaw gateway");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(line) => assert!(
            line.starts_with(&format!("kafclaw gateway: mode {mode};")),
            "{line}"
        ),
        Err(_) => {
            let _ = child.kill();
            panic!("the gateway did not start (its stderr is above)");
        }
    }
    (
        child,
        format!("http://127.0.0.1:{api}"),
        format!("http://127.0.0.1:{dash}"),
    )
}

/// A running `kafclaw gateway --mode group`; killed when dropped.
struct Agent {
    _dir: tempfile::TempDir,
    home: PathBuf,
    child: Child,
    api: String,
    dash: String,
    http: reqwest::Client,
    /// The gateway's bearer token (`KAFCLAW_GATEWAY_AUTH_TOKEN`), when it has one.
    token: Option<String>,
}

impl Agent {
    fn start(config: &Value) -> Agent {
        Agent::start_mode(config, "group", &[])
    }

    /// `kafclaw gateway --mode MODE` with `config` and the extra environment `env`.
    fn start_mode(config: &Value, mode: &str, env: &[(&str, &str)]) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("kc");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
        let (child, api, dash) = spawn_gateway(&home, mode, env);
        Agent {
            _dir: dir,
            home,
            child,
            api,
            dash,
            http: client(),
            token: env
                .iter()
                .find(|(k, _)| *k == "KAFCLAW_GATEWAY_AUTH_TOKEN")
                .map(|(_, v)| (*v).to_owned()),
        }
    }

    /// Starts the gateway again in group mode on the same home (config, timeline), after
    /// its process was killed.
    fn restart_group(&mut self) {
        let _ = self.child.wait();
        let (child, api, dash) = spawn_gateway(&self.home, "group", &[]);
        (self.child, self.api, self.dash) = (child, api, dash);
    }

    /// `kafclaw group ARGS` with this agent's home (its config and its timeline).
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_kafclaw"))
            .arg("group")
            .args(args)
            .env_clear()
            .env("HOME", self.home.parent().unwrap())
            .env("KAFCLAW_HOME", &self.home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("run kafclaw group")
    }

    /// `kafclaw group ARGS --json` with this agent's home, parsed; fails on a non-zero exit.
    fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(&[args, &["--json"]].concat());
        assert!(
            out.status.success(),
            "kafclaw group {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// `GET` on the dashboard, with the bearer token if the gateway has one.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}{path}", self.dash));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn chat(
        &self,
        message: &str,
    ) -> impl std::future::Future<Output = (StatusCode, Value)> + use<> {
        let req = self
            .http
            .post(format!("{}/chat", self.api))
            .json(&json!({"message": message, "session": "s1"}));
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.json().await.unwrap_or(Value::Null))
        }
    }

    /// The trace as this agent's dashboard shows it, once `ready` holds (polled).
    async fn trace_until(&self, trace_id: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(&format!("/api/v1/trace/{trace_id}")).await;
            if status == StatusCode::OK && ready(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} never became ready: {status} {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of every message the model server received in request `n` (0-based).
fn request_text(llm: &ScriptedLlm, n: usize) -> String {
    llm.requests()
        .get(n)
        .map(|r| r.body.to_string())
        .unwrap_or_default()
}

fn spans_of<'a>(trace: &'a Value, agent: &str) -> Vec<&'a Value> {
    trace["group_spans"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["source_agent_id"] == agent).collect())
        .unwrap_or_default()
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_only_b_provides_is_answered_by_b_model_and_traced_on_a() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    // B's model first tries a tool above the peer tier (exec is tier 2), then answers.
    let llm_b = ScriptedLlm::start(
        Wire::Anthropic,
        vec![
            Reply::tool_call("exec", json!({"command": "ls"})),
            Reply::text("SUMMARY-FROM-B: Kafka is a distributed log."),
        ],
    )
    .await
    .unwrap();
    let llm_a = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_calls(
                "",
                vec![
                    ("group_members", json!({})),
                    (
                        "share_memory",
                        json!({"title": "kafka-notes", "content": "partitions are ordered", "tags": ["kafka"]}),
                    ),
                ],
            ),
            Reply::tool_call(
                "delegate_task",
                json!({"content": "Summarise: Kafka stores records in partitions.", "skill": "summarise", "timeout_secs": 120}),
            ),
            Reply::text("Here is the summary B wrote for you."),
        ],
    )
    .await
    .unwrap();
    let b = Agent::start(&net.config(
        "agent-b",
        Some(&llm_b),
        json!({"group": {"skills": ["summarise"]}}),
    ));
    let a = Agent::start(&net.config("agent-a", Some(&llm_a), json!({})));

    let (status, body) = a.chat("Please get me a summary of Kafka.").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "Here is the summary B wrote for you.");
    let trace_id = body["trace_id"].as_str().unwrap().to_owned();

    // A's model saw the roster (B with its skill) and shared an item.
    assert_eq!(llm_a.requests().len(), 3);
    let tool_results = |n: usize| -> Vec<String> {
        llm_a.requests()[n].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let first = tool_results(1);
    assert_eq!(first.len(), 2, "{first:?}");
    let roster: Value = serde_json::from_str(&first[0]).expect("group_members answers JSON");
    let b_entry = roster["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["agent_id"] == "agent-b")
        .expect("agent-b in A's roster");
    assert_eq!(b_entry["skills"], json!(["summarise"]));
    assert!(
        first[1].starts_with("shared \"kafka-notes\""),
        "{}",
        first[1]
    );
    // A's model got B's answer as the result of its delegate_task call.
    let results = tool_results(2);
    let result = results.last().unwrap().as_str();
    assert!(result.contains("SUMMARY-FROM-B"), "{result}");
    assert!(result.contains("agent-b"), "{result}");
    // B's model saw the task as a peer's message, and the refusal of exec.
    assert_eq!(llm_b.requests().len(), 2);
    assert!(request_text(&llm_b, 0).contains("Kafka stores records in partitions"));
    assert!(request_text(&llm_b, 0).contains("peer"));
    assert!(
        request_text(&llm_b, 1).contains("tier_above_class_max"),
        "{}",
        request_text(&llm_b, 1)
    );

    // A's half: its task, model calls and the delegate_task call, in one trace.
    let trace = a
        .trace_until(&trace_id, |t| {
            let spans = spans_of(t, "agent-b");
            spans.iter().any(|s| s["span_type"] == "TASK")
                && spans.iter().filter(|s| s["span_type"] == "LLM").count() == 2
                && spans.iter().any(|s| s["span_type"] == "TOOL")
        })
        .await;
    let events = trace["events"].as_array().unwrap();
    let delegate = events
        .iter()
        .find(|e| e["event_type"] == "tool_call" && e["metadata"]["tool"] == "delegate_task")
        .expect("A's delegate_task call");
    assert_eq!(delegate["metadata"]["outcome"], "allow");
    // B's spans continue A's trace under A's tool call.
    let b_spans = spans_of(&trace, "agent-b");
    let task_span = b_spans.iter().find(|s| s["span_type"] == "TASK").unwrap();
    assert_eq!(task_span["parent_span_id"], delegate["span_id"]);
    assert!(
        task_span["content"]
            .as_str()
            .unwrap()
            .contains("SUMMARY-FROM-B")
    );
    for s in b_spans.iter().filter(|s| s["span_type"] != "TASK") {
        assert_eq!(s["parent_span_id"], task_span["span_id"], "{s}");
    }
    // The refusal of exec is recorded on A's side too (in B's tool span) ...
    let tool_span = b_spans.iter().find(|s| s["span_type"] == "TOOL").unwrap();
    assert!(
        tool_span["content"]
            .as_str()
            .unwrap()
            .contains("tier_above_class_max"),
        "{tool_span}"
    );

    // ... and in B's own timeline: B's half of the same trace, a peer task on the
    // group channel, and the denied decision for the peer.
    let b_trace = b
        .trace_until(&trace_id, |t| {
            t["tasks"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let b_task = &b_trace["tasks"][0];
    assert_eq!(b_task["channel"], "group");
    assert_eq!(b_task["sender"], "agent-a");
    assert_eq!(b_task["trust_class"], "peer");
    assert_eq!(b_task["status"], "completed");
    let decisions = b_trace["decisions"].as_array().unwrap();
    let denied = decisions
        .iter()
        .find(|d| d["tool"] == "exec")
        .expect("B's decision on exec");
    assert_eq!(denied["outcome"], "deny");
    assert!(
        denied["reason"]
            .as_str()
            .unwrap()
            .starts_with("tier_above_class_max"),
        "{denied}"
    );
    assert_eq!(denied["trust_class"], "peer");

    // The CLI reads the same records from A's timeline as A's group API serves:
    // B's spans in the trace, the skill delegation (request and B's answer), the
    // skill's topics in the manifest; B's CLI its skill registration in the audit.
    let cli_spans = a.cli_json(&["traces", "--trace-id", &trace_id]);
    let (_, api_spans) = a
        .get(&format!("/api/v1/group/traces?trace_id={trace_id}"))
        .await;
    assert_eq!(cli_spans, api_spans["spans"]);
    assert!(
        cli_spans
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source_agent_id"] == "agent-b" && s["span_type"] == "TASK"),
        "{cli_spans:#}"
    );
    let text = a.cli(&["traces", "--trace-id", &trace_id, "--agent", "agent-b"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("agent-b") && text.contains("TASK"), "{text}");
    let events = a.cli_json(&["tasks", "--limit", "1000"]);
    let (_, api_events) = a.get("/api/v1/group/tasks?limit=1000").await;
    assert_eq!(events, api_events["delegations"]);
    let events = events.as_array().unwrap();
    let request = events
        .iter()
        .find(|e| e["event_type"] == "request" && e["sender_id"] == "agent-a")
        .unwrap_or_else(|| panic!("A's skill request in its delegation events: {events:#?}"));
    assert!(
        request["summary"]
            .as_str()
            .unwrap()
            .contains("Kafka stores records"),
        "{request}"
    );
    let answer = a.cli_json(&[
        "tasks",
        "--task-id",
        request["task_id"].as_str().unwrap(),
        "--event-type",
        "completed",
    ]);
    assert_eq!(answer[0]["sender_id"], "agent-b", "{answer:#}");
    assert!(
        answer[0]["summary"]
            .as_str()
            .unwrap()
            .contains("SUMMARY-FROM-B")
    );
    // B read its own skill registration back from the audit topic.
    let audit = b.cli_json(&[
        "audit",
        "--agent",
        "agent-b",
        "--event-type",
        "skill_registered",
    ]);
    let (_, api_audit) = b
        .get("/api/v1/group/audit?agent_id=agent-b&event_type=skill_registered")
        .await;
    assert_eq!(audit, api_audit["events"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"] == "summarise"),
        "{audit:#}"
    );
    let manifest = a.cli_json(&["manifest"]);
    assert!(
        manifest["skill_topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"].as_str().unwrap().contains("summarise")),
        "{manifest:#}"
    );

    // The shared item reached the group.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = net.cli(&["memory", "list", "--json"]);
        if String::from_utf8_lossy(&out.stdout).contains("kafka-notes") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the shared item never appeared: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_skill_worker_answers_without_a_model() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    // No provider at all: only command skills.
    let mut w = Agent::start(&net.config(
        "worker",
        None,
        json!({
            "group": {"commandSkills": {
                "upper": {"argv": ["tr", "a-z", "A-Z"], "timeoutSecs": 20},
                "python": {"argv": ["python3", "-c", "print(1)"]},
            }},
            "tools": {"exec": {"allowList": ["tr", "cat"]}},
        }),
    ));
    let stdout = net.cli_ok(&[
        "submit",
        "--skill",
        "upper",
        "--timeout",
        "120",
        "hello group",
    ]);
    assert_eq!(stdout.trim(), "HELLO GROUP");

    // A program the exec sandbox does not allow is refused with the reason.
    let out = net.cli(&["submit", "--skill", "python", "--timeout", "120", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sandbox_program_not_allowed")
            && stderr.contains("`python3` is not on the exec allow-list"),
        "{stderr}"
    );
    let (status, body) = w
        .get("/api/v1/policy-decisions?tool=command_skill.python")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decisions"][0]["outcome"], "deny", "{body}");
    assert_eq!(body["decisions"][0]["sender"], "cli-requester", "{body}");

    // SIGTERM: the worker leaves the group and exits 0.
    let members = |net: &Net| {
        let out = net.cli(&["members", "--json"]);
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).contains("\"worker\"")
    };
    assert!(members(&net), "the worker is not listed");
    let ok = Command::new("kill")
        .args(["-TERM", &w.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = w.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    assert!(!members(&net), "the worker is still listed after it left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegation_loop_stops_at_the_maximum_depth() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    // A → B (depth 0) → A (depth 1) → B (depth 2): B accepts at most depth 1.
    let llm_a = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_call(
                "delegate_task",
                json!({"content": "loop one", "to": "agent-b", "timeout_secs": 120}),
            ),
            Reply::tool_call(
                "delegate_task",
                json!({"content": "loop three", "to": "agent-b", "timeout_secs": 100}),
            ),
            Reply::text("inner A: B refused the third hop"),
            Reply::text("outer A: done"),
        ],
    )
    .await
    .unwrap();
    let llm_b = ScriptedLlm::start(
        Wire::Anthropic,
        vec![
            Reply::tool_call(
                "delegate_task",
                json!({"content": "loop two", "to": "agent-a", "timeout_secs": 110}),
            ),
            Reply::text("B: done"),
        ],
    )
    .await
    .unwrap();
    let _b = Agent::start(&net.config(
        "agent-b",
        Some(&llm_b),
        json!({"group": {"maxDelegationDepth": 1}}),
    ));
    let a = Agent::start(&net.config("agent-a", Some(&llm_a), json!({})));
    let (status, body) = a.chat("start the loop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "outer A: done");
    // The third hop was rejected by B before its model saw it, with the reason.
    assert_eq!(llm_b.requests().len(), 2);
    assert_eq!(llm_a.requests().len(), 4);
    let rejected = request_text(&llm_a, 2);
    assert!(
        rejected.contains("rejected by agent-b")
            && rejected.contains("delegation depth 2 exceeds the maximum of 1"),
        "{rejected}"
    );
    // Each hop continued the one trace: B's spans are on A, one TASK span (its first
    // task; the third hop was rejected before it became a task, so it has no span).
    let trace_id = body["trace_id"].as_str().unwrap();
    a.trace_until(trace_id, |t| {
        spans_of(t, "agent-b")
            .iter()
            .filter(|s| s["span_type"] == "TASK")
            .count()
            == 1
            && spans_of(t, "agent-a")
                .iter()
                .any(|s| s["span_type"] == "TASK")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_past_its_deadline_is_not_worked_on() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    // B's model takes longer than the task may: the group cuts the task off at its
    // deadline and B's turn stops before its next step.
    let llm_b = ScriptedLlm::start(
        Wire::Anthropic,
        vec![
            Reply::tool_call("group_members", json!({})).delayed(Duration::from_secs(12)),
            Reply::text("too late"),
        ],
    )
    .await
    .unwrap();
    let llm_a = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_call(
                "delegate_task",
                json!({"content": "be quick", "to": "agent-b", "timeout_secs": 4}),
            ),
            Reply::text("A: B ran out of time"),
        ],
    )
    .await
    .unwrap();
    let b = Agent::start(&net.config("agent-b", Some(&llm_b), json!({})));
    let a = Agent::start(&net.config("agent-a", Some(&llm_a), json!({})));
    let (status, body) = a.chat("ask B, quickly").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "A: B ran out of time");
    let result = request_text(&llm_a, 1);
    if result.contains("rejected by agent-b") {
        // On a slow machine B may read the request after its deadline: then the
        // group layer rejects it before any work starts.
        assert!(result.contains("deadline"), "{result}");
        assert!(
            llm_b.requests().is_empty(),
            "B worked on a task past its deadline"
        );
        return;
    }
    assert!(
        result.contains("failed by agent-b") || result.contains("no response to task"),
        "{result}"
    );
    // B's task ends failed with the deadline as the reason, after its one model call.
    let deadline = Instant::now() + PATIENCE;
    let task = loop {
        let (_, tasks) = b.get("/api/v1/tasks?channel=group").await;
        if let Some(t) = tasks["tasks"]
            .as_array()
            .and_then(|a| a.first())
            .filter(|t| t["status"] == "failed")
        {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "B's task never failed: {tasks}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("deadline"), "{task}");
    // Normally B's one model call ends after the deadline and the turn stops before the
    // tool call; on a slow machine the turn may not even have reached the model.
    let calls = llm_b.requests().len();
    if error.contains("before the call of tool group_members") {
        assert_eq!(calls, 1, "B worked on past its deadline");
    } else {
        assert!(
            error.contains("not worked on") || error.contains("before model call 1"),
            "{error}"
        );
        assert_eq!(calls, 0, "B worked on past its deadline");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_fails_the_delegation_instead_of_hanging() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    let llm_b = ScriptedLlm::start(
        Wire::Anthropic,
        vec![Reply::text("never sent").delayed(Duration::from_secs(600))],
    )
    .await
    .unwrap();
    let llm_a = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_call(
                "delegate_task",
                json!({"content": "slow work", "skill": "slow", "timeout_secs": 150}),
            ),
            Reply::text("A: the worker died; reporting the failure"),
        ],
    )
    .await
    .unwrap();
    let mut b = Agent::start(&net.config(
        "agent-b",
        Some(&llm_b),
        json!({"group": {"skills": ["slow"]}}),
    ));
    let a = Agent::start(&net.config("agent-a", Some(&llm_a), json!({})));
    let chat = tokio::spawn(a.chat("get the slow work done"));
    // B is working on it (its model call is in flight): kill it.
    wait_for("B's model call", || !llm_b.requests().is_empty()).await;
    b.child.kill().unwrap();
    let _ = b.child.wait();
    let (status, body) = chat.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "A: the worker died; reporting the failure");
    let result = request_text(&llm_a, 1);
    assert!(
        result.contains("agent-b, which was working on it, left the group"),
        "{result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_answers_it_after_its_restart() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    // B's first model call never returns (B is killed during it); the rerun gets the answer.
    let llm_b = ScriptedLlm::start(
        Wire::Anthropic,
        vec![
            Reply::text("never sent").delayed(Duration::from_secs(600)),
            Reply::text("ANSWER-AFTER-RESTART"),
        ],
    )
    .await
    .unwrap();
    let mut b = Agent::start(&net.config("agent-b", Some(&llm_b), json!({})));
    let (mut submit, _home) = net.cli_command(&[
        "submit",
        "--to",
        "agent-b",
        "--timeout",
        "150",
        "work that survives a crash",
    ]);
    let requester = submit
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kafclaw group submit");
    wait_for("B's model call", || !llm_b.requests().is_empty()).await;
    b.child.kill().unwrap();
    b.restart_group();
    // The requester, still waiting, gets the answer of the rerun: the same agent task,
    // resumed once (two model calls in all).
    let out = tokio::task::spawn_blocking(move || requester.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ANSWER-AFTER-RESTART"
    );
    assert_eq!(llm_b.requests().len(), 2);
    assert!(request_text(&llm_b, 1).contains("work that survives a crash"));
    let (_, tasks) = b.get("/api/v1/tasks?channel=group").await;
    let list = tasks["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        list.len(),
        1,
        "one agent task for the group task: {tasks:#}"
    );
    assert_eq!(list[0]["status"], "completed", "{tasks:#}");
}

/// This agent's delegation events (`/api/v1/group/tasks`), polled until `pick` finds one.
async fn delegation_until(agent: &Agent, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = agent.get("/api/v1/group/tasks?limit=1000").await;
        if let Some(e) = body["delegations"]
            .as_array()
            .and_then(|a| a.iter().find(|e| pick(e)))
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {status} {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_task_is_claimed_by_one_agent_and_answered_by_its_model() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    let llm_b = ScriptedLlm::start(Wire::Anthropic, vec![Reply::text("OPEN-ANSWER-FROM-B")])
        .await
        .unwrap();
    let llm_c = ScriptedLlm::start(Wire::OpenAi, vec![Reply::text("OPEN-ANSWER-FROM-C")])
        .await
        .unwrap();
    let b = Agent::start(&net.config("agent-b", Some(&llm_b), json!({})));
    let c = Agent::start(&net.config("agent-c", Some(&llm_c), json!({})));

    // An open task: no target, no skill; any member may claim it.
    let answer = net.cli_ok(&["submit", "--timeout", "90", "an open question"]);
    let (winner, llm_w, llm_l, w, l) = match answer.trim_end_matches('\n') {
        "OPEN-ANSWER-FROM-B" => ("agent-b", &llm_b, &llm_c, &b, &c),
        "OPEN-ANSWER-FROM-C" => ("agent-c", &llm_c, &llm_b, &c, &b),
        other => panic!("stdout is not exactly one of the two answers: {other:?}"),
    };

    // Both agents read the request and the one winning claim.
    let request = delegation_until(&b, "the open request on B", |e| {
        e["event_type"] == "request"
            && e["sender_id"] == "cli-requester"
            && e["summary"]
                .as_str()
                .is_some_and(|s| s.contains("an open question"))
    })
    .await;
    let task_id = request["task_id"].as_str().unwrap().to_owned();
    for agent in [&b, &c] {
        let accepted = delegation_until(agent, "the accepted claim", |e| {
            e["event_type"] == "accepted" && e["task_id"] == task_id.as_str()
        })
        .await;
        assert_eq!(accepted["sender_id"], winner, "{accepted:#}");
        assert_eq!(accepted["receiver_id"], winner, "{accepted:#}");
    }

    // Only the winner's model was asked, once, with the task.
    assert_eq!(llm_w.requests().len(), 1);
    assert!(request_text(llm_w, 0).contains("an open question"));
    assert!(
        llm_l.requests().is_empty(),
        "the loser's model was asked too: {}",
        request_text(llm_l, 0)
    );
    let (_, lost) = l.get("/api/v1/tasks?channel=group").await;
    assert_eq!(lost["tasks"], json!([]), "the loser ran the task: {lost:#}");

    // The winner ran it as a peer's task on the group channel, in its own trace.
    let session = format!("group:{task_id}");
    let deadline = Instant::now() + PATIENCE;
    let task = loop {
        let (_, tasks) = w.get("/api/v1/tasks?channel=group").await;
        if let Some(t) = tasks["tasks"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["session_key"] == session.as_str()))
            .filter(|t| t["status"] == "completed")
        {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the winner's task never completed: {tasks:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let trace_id = task["trace_id"].as_str().expect("the task's trace id");
    let trace = w
        .trace_until(trace_id, |t| {
            t["tasks"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let traced = &trace["tasks"][0];
    assert_eq!(traced["task_id"], task["task_id"], "{trace:#}");
    assert_eq!(traced["channel"], "group");
    assert_eq!(traced["trust_class"], "peer");
    assert_eq!(traced["sender"], "cli-requester");
    assert!(
        traced["content_out"]
            .as_str()
            .is_some_and(|s| s.contains(answer.trim_end())),
        "{traced:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_agent_joins_its_group_and_answers() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    let token = "headless-test-token-0123456789";
    let b = Agent::start_mode(
        &net.config(
            "agent-b",
            None,
            json!({
                "group": {"commandSkills": {
                    "upper": {"argv": ["tr", "a-z", "A-Z"], "timeoutSecs": 20},
                }},
                "tools": {"exec": {"allowList": ["tr"]}},
            }),
        ),
        "headless",
        &[("KAFCLAW_GATEWAY_AUTH_TOKEN", token)],
    );

    // B is a member of the group ...
    let members: Value =
        serde_json::from_str(&net.cli_ok(&["members", "--json"])).expect("JSON on stdout");
    let listed = members
        .as_array()
        .unwrap_or_else(|| panic!("no member list: {members:#}"));
    assert!(
        listed.iter().any(|m| m["agent_id"] == "agent-b"),
        "agent-b is not listed: {members:#}"
    );
    // The table names its skill too.
    let out = net.cli(&["members"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().next().unwrap_or_default().ends_with("SKILLS"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("agent-b ") && l.trim_end().ends_with("upper")),
        "{table}"
    );
    // ... and answers a task for its skill.
    let stdout = net.cli_ok(&[
        "submit",
        "--skill",
        "upper",
        "--timeout",
        "120",
        "hello from headless",
    ]);
    assert_eq!(stdout, "HELLO FROM HEADLESS\n");

    // It runs headless (status is a public route) and its dashboard API wants the token:
    // with it, the worker's decision on the command skill.
    let (status, body) = b.get("/api/v1/status").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mode"], "headless", "{body:#}");
    let path = "/api/v1/policy-decisions?tool=command_skill.upper";
    let res = b
        .http
        .get(format!("{}{path}", b.dash))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = b.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decisions"][0]["outcome"], "allow", "{body}");
    assert_eq!(body["decisions"][0]["sender"], "cli-requester", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_already_past_its_deadline_is_rejected_before_the_model() {
    let broker = maybe_skip_kafka!();
    let net = Net::new(&broker);
    let llm_b = ScriptedLlm::start(Wire::Anthropic, vec![Reply::text("B worked on it")])
        .await
        .unwrap();
    let b = Agent::start(&net.config("agent-b", Some(&llm_b), json!({})));
    let requester = kafclaw_group::GroupAgent::builder(
        kafclaw_group::KafkaSettings::plaintext(&net.brokers),
        &net.group,
        "late-requester",
    )
    .heartbeat_interval(Duration::from_secs(1))
    .build()
    .await
    .unwrap();
    requester.join().await.unwrap();
    // The sender does not refuse a past deadline; the receiver must.
    let resp = requester
        .submit(
            kafclaw_group::TaskSpec::to("agent-b", "already too late")
                .deadline(chrono::Utc::now() - chrono::Duration::seconds(5))
                .timeout(Duration::from_secs(30)),
        )
        .await
        .expect("B's response to the late task");
    requester.shutdown().await;
    assert_eq!(resp.status, "rejected", "{resp:?}");
    assert_eq!(resp.responder_id, "agent-b", "{resp:?}");
    assert!(
        resp.content.contains("deadline") && resp.content.contains("passed"),
        "{resp:?}"
    );
    // B recorded its rejection (so it is done with the task) and never asked its model
    // nor started an agent task.
    delegation_until(&b, "B's rejection", |e| {
        e["event_type"] == "rejected" && e["task_id"] == resp.task_id.as_str()
    })
    .await;
    assert!(
        llm_b.requests().is_empty(),
        "B's model saw a task past its deadline: {}",
        request_text(&llm_b, 0)
    );
    let (_, tasks) = b.get("/api/v1/tasks?channel=group").await;
    assert_eq!(tasks["tasks"], json!([]), "{tasks:#}");
}

/// The example configurations in examples/group-demo parse and validate.
#[test]
fn the_group_demo_configs_are_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/group-demo");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !path.is_dir() || !path.join("config.json").is_file() {
            continue;
        }
        seen += 1;
        let out = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
            .args(["config", "validate"])
            .env_clear()
            .env("HOME", &path)
            .env("KAFCLAW_HOME", &path)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        seen >= 2,
        "no agent configurations found in {}",
        dir.display()
    );
}

/// Runs `kafclaw gateway --mode group` with `config` to its exit.
fn gateway_exit(config: &Value) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("kc");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("config.json"), config.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .args(["gateway", "--mode", "group"])
        .env_clear()
        .env("HOME", dir.path())
        .env("KAFCLAW_HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFCLAW_LOG", "error")
        .env("KAFCLAW_GATEWAY_PORT", free_port().to_string())
        .env("KAFCLAW_GATEWAY_DASHBOARD_PORT", free_port().to_string())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn group_startup_errors_are_clear() {
    // A worker with only command skills needs no model; what it lacks here is the group.
    let worker = json!({"group": {"enabled": true, "commandSkills": {"u": {"argv": ["cat"]}}}});
    let (code, stderr) = gateway_exit(&worker);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("group.groupName is not set"), "{stderr}");

    let mut bad = worker.clone();
    merge(
        &mut bad,
        &json!({"group": {"groupName": "g", "commandSkills": {"u": {"argv": ["cat"]}}},
                "tools": {"exec": {"denyPatterns": ["("]}}}),
    );
    let (code, stderr) = gateway_exit(&bad);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("denyPatterns"), "{stderr}");

    // Nothing listens on the port: exit 1 naming the group, the brokers and the key.
    let port = free_port();
    let mut unreachable = worker;
    merge(
        &mut unreachable,
        &json!({"group": {"groupName": "g", "kafkaBrokers": format!("127.0.0.1:{port}")}}),
    );
    let (code, stderr) = gateway_exit(&unreachable);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the group g at 127.0.0.1:{port} (group.kafkaBrokers)"
        )),
        "{stderr}"
    );
}
