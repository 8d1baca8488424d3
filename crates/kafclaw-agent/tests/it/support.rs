//! Fixtures: a KAFCLAW_HOME in a temp dir with a real config file, a real timeline, the
//! built-in tools and the policy engine, the chat chain pointed at a scripted LLM server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kafclaw_agent::{Agent, AgentDeps, AgentOptions, InboundMessage, TaskOutcome, TaskState};
use kafclaw_config::{Config, Environment, LoadedConfig};
use kafclaw_policy::{PolicyEngine, TrustClass};
use kafclaw_providers::{ChatChain, RetryPolicy};
use kafclaw_testkit::{RecordedRequest, Reply, ScriptedLlm, Wire};
use kafclaw_timeline::{Event, Timeline, TimelineOptions};
use kafclaw_tools::{Registry, ToolsConfig};
use serde_json::{Value, json};

/// Long enough for any test step; tests never assert on time.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Home {
    pub dir: tempfile::TempDir,
    pub srv: ScriptedLlm,
    /// How many times a task may be started (the timeline's recovery limit).
    pub max_attempts: u32,
}

impl Home {
    /// A home whose model is served by a scripted server speaking `wire`, plus `extra`
    /// config keys merged in.
    pub async fn new(wire: Wire, script: Vec<Reply>, extra: Value) -> Home {
        let srv = ScriptedLlm::start(wire, script)
            .await
            .expect("start scripted server");
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            dir,
            srv,
            max_attempts: 3,
        };
        let (provider, model) = match wire {
            Wire::OpenAi => ("openai", "openai/test-model"),
            Wire::Anthropic => ("anthropic", "claude/test-model"),
        };
        let mut config = json!({
            "model": {"name": model, "maxAttempts": 1},
            "providers": {provider: {"apiKey": "test-key", "apiBase": home.srv.base_url()}},
        });
        merge(&mut config, extra);
        home.write_config(&config);
        std::fs::create_dir_all(home.work_repo()).unwrap();
        kafclaw_agent::scaffold_workspace(&home.workspace(), false).unwrap();
        home
    }

    pub fn kafclaw_home(&self) -> PathBuf {
        self.dir.path().join("kc")
    }

    pub fn work_repo(&self) -> PathBuf {
        self.kafclaw_home().join("work-repo")
    }

    pub fn workspace(&self) -> PathBuf {
        self.kafclaw_home().join("workspace")
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.kafclaw_home().join("sessions")
    }

    pub fn write_config(&self, config: &Value) {
        std::fs::create_dir_all(self.kafclaw_home()).unwrap();
        std::fs::write(
            self.kafclaw_home().join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
    }

    pub fn loaded(&self) -> LoadedConfig {
        let env: Environment = [("KAFCLAW_HOME", self.kafclaw_home().display().to_string())]
            .into_iter()
            .collect();
        Config::load_from(&env).expect("load config")
    }

    /// Everything the agent needs, built the way the binary builds it.
    pub async fn deps(&self) -> AgentDeps {
        let loaded = self.loaded();
        let timeline = Timeline::open(
            TimelineOptions::new(&loaded.paths.timeline_db).max_task_attempts(self.max_attempts),
        )
        .await
        .expect("open timeline");
        let tools = Registry::with_builtin_tools(&ToolsConfig::new(
            &loaded.paths.work_repo,
            &loaded.paths.workspace,
        ))
        .expect("tools");
        let policy = PolicyEngine::new(
            loaded.config.policy.to_engine_config(),
            Arc::new(timeline.clone()),
        )
        .expect("policy");
        let chat = ChatChain::builder(&loaded.config)
            .ledger(Arc::new(timeline.clone()))
            .retry(RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(5),
                max_retry_after: Duration::from_secs(1),
            })
            .build()
            .expect("chat chain");
        AgentDeps {
            sessions_dir: loaded.paths.sessions_dir.clone(),
            workspace: loaded.paths.workspace.clone(),
            config: loaded,
            timeline,
            chat: Arc::new(chat),
            tools: Arc::new(tools),
            policy: Arc::new(policy),
        }
    }

    pub async fn agent(&self) -> Agent {
        self.agent_with(options()).await
    }

    pub async fn agent_with(&self, opts: AgentOptions) -> Agent {
        Agent::start_with(self.deps().await, opts)
            .await
            .expect("start agent")
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.srv.requests()
    }

    /// Polls until the server has received `n` requests.
    pub async fn wait_requests(&self, n: usize) {
        let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(10), || async {
            self.srv.requests().len() >= n
        })
        .await;
        assert!(
            ok,
            "the server got {} requests, expected {n}",
            self.requests().len()
        );
    }

    pub fn transcript(&self, session: &str) -> Vec<Value> {
        let name = session.replace(':', "%3A");
        let path = self.sessions_dir().join(format!("{name}.jsonl"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }
}

pub fn options() -> AgentOptions {
    let mut o = AgentOptions::default();
    o.approval_poll = Duration::from_millis(50);
    o
}

fn merge(into: &mut Value, extra: Value) {
    match (into, extra) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

pub fn msg(session: &str, text: &str) -> InboundMessage {
    InboundMessage {
        channel: "cli".into(),
        sender: "operator".into(),
        trust: TrustClass::Owner,
        session: Some(session.into()),
        content: text.into(),
        idempotency_key: None,
        traceparent: None,
    }
}

pub fn external(session: &str, text: &str) -> InboundMessage {
    InboundMessage {
        channel: "webchat".into(),
        sender: "visitor-7".into(),
        trust: TrustClass::External,
        ..msg(session, text)
    }
}

pub async fn done(agent: &Agent, task_id: &str) -> TaskOutcome {
    agent.wait(task_id, WAIT).await.expect("task finishes")
}

pub async fn wait_state(agent: &Agent, task_id: &str, state: TaskState) {
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(10), || async {
        agent.outcome(task_id).await.map(|o| o.state).ok() == Some(state)
    })
    .await;
    assert!(ok, "task {task_id} never reached {state:?}");
}

/// The events of a trace, in time order.
pub async fn trace(tl: &Timeline, trace_id: &str) -> Vec<Event> {
    tl.trace_events(trace_id).await.unwrap()
}

pub fn of_type<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.event_type == kind).collect()
}

/// The last message of a recorded chat request (either wire) as text.
pub fn last_message_text(req: &RecordedRequest) -> String {
    let msgs = req.body["messages"].as_array().expect("messages");
    text_of(msgs.last().expect("a message"))
}

/// All text of one wire message (string content or content blocks, tool results included).
pub fn text_of(m: &Value) -> String {
    match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match (&b["text"], &b["content"]) {
                (Value::String(t), _) => t.clone(),
                (_, Value::String(c)) => c.clone(),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The system prompt of a recorded request (either wire).
pub fn system_of(req: &RecordedRequest) -> String {
    if let Some(s) = req.body["system"].as_str() {
        return s.to_owned();
    }
    let msgs = req.body["messages"].as_array().expect("messages");
    msgs.iter()
        .find(|m| m["role"] == "system")
        .map(text_of)
        .unwrap_or_default()
}

/// Names of the tools offered in a recorded request (either wire).
pub fn tools_offered(req: &RecordedRequest) -> Vec<String> {
    req.body["tools"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    t["function"]["name"]
                        .as_str()
                        .or(t["name"].as_str())
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
