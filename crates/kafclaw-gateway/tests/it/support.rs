//! Fixtures: a real agent (SQLite timeline, built-in tools, policy engine, a model served
//! by the scripted LLM server) behind a real gateway on loopback, optionally with a real
//! group agent and/or a real orchestrator attached, and an HTTP client that speaks JSON
//! to it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kafclaw_agent::{Agent, AgentDeps, AgentOptions};
use kafclaw_config::{Config, Environment};
use kafclaw_gateway::{Gateway, GatewayOptions, GroupHandle, Mode, OrchestratorHandle};
use kafclaw_policy::PolicyEngine;
use kafclaw_providers::{ChatChain, RetryPolicy};
use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use kafclaw_timeline::{Timeline, TimelineOptions};
use kafclaw_tools::{Registry, ToolsConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Long enough for any step; tests never assert on time.
pub const WAIT: Duration = Duration::from_secs(30);

/// One agent with its home directory and its scripted model.
pub struct Node {
    _dir: tempfile::TempDir,
    _llm: ScriptedLlm,
    pub agent: Agent,
}

impl Node {
    pub async fn new(script: Vec<Reply>) -> Node {
        let llm = ScriptedLlm::start(Wire::OpenAi, script)
            .await
            .expect("start the scripted LLM server");
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("kc");
        std::fs::create_dir_all(home.join("work-repo")).unwrap();
        let config = json!({
            "model": {"name": "openai/test-model", "maxAttempts": 1},
            "providers": {"openai": {"apiKey": "test-key", "apiBase": llm.base_url()}},
        });
        std::fs::write(
            home.join("config.json"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let env: Environment = [("KAFCLAW_HOME", home.display().to_string())]
            .into_iter()
            .collect();
        let loaded = Config::load_from(&env).expect("load config");
        kafclaw_agent::scaffold_workspace(&loaded.paths.workspace, false).unwrap();
        let timeline = Timeline::open(TimelineOptions::new(&loaded.paths.timeline_db))
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
        let sessions_dir: PathBuf = loaded.paths.sessions_dir.clone();
        let deps = AgentDeps {
            sessions_dir,
            workspace: loaded.paths.workspace.clone(),
            config: loaded,
            timeline,
            chat: Arc::new(chat),
            tools: Arc::new(tools),
            policy: Arc::new(policy),
        };
        let agent = Agent::start_with(deps, AgentOptions::default())
            .await
            .expect("start the agent");
        Node {
            _dir: dir,
            _llm: llm,
            agent,
        }
    }

    pub fn timeline(&self) -> Timeline {
        self.agent.timeline().clone()
    }
}

/// A gateway serving one node's agent on free loopback ports.
pub struct Served {
    pub dash: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<kafclaw_gateway::Result<()>>>,
}

pub async fn serve(node: &Node, mode: Mode, group: Option<GroupHandle>) -> Served {
    serve_with(node, GatewayOptions::loopback(mode), group).await
}

pub async fn serve_with(
    node: &Node,
    options: GatewayOptions,
    group: Option<GroupHandle>,
) -> Served {
    serve_attached(node, options, group, None).await
}

/// A gateway with a group and/or an orchestrator attached.
pub async fn serve_attached(
    node: &Node,
    mut options: GatewayOptions,
    group: Option<GroupHandle>,
    orchestrator: Option<OrchestratorHandle>,
) -> Served {
    options.agent_id = "gateway-agent".into();
    options.version = "test".into();
    options.shutdown_grace = Duration::from_secs(2);
    let mut gateway = Gateway::bind(options, node.agent.clone())
        .await
        .expect("bind the gateway");
    if let Some(g) = group {
        gateway = gateway.with_group(g);
    }
    if let Some(o) = orchestrator {
        gateway = gateway.with_orchestrator(o);
    }
    let dash = format!("http://{}", gateway.dashboard_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(gateway.serve(async move {
        let _ = rx.await;
    }));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Served {
        dash,
        http,
        stop: Some(tx),
        task: Some(task),
    }
}

impl Served {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.dash))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} with non-JSON {text:?}: {e}"));
        (status, body)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.dash))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("POST {path} answered {status} with non-JSON {text:?}: {e}")
        });
        (status, body)
    }

    /// A POST with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.dash))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = res.status();
        (status, res.json().await.unwrap())
    }

    /// Polls `GET path` until `check` accepts the body; panics with the last body.
    pub async fn get_until(&self, what: &str, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let last = std::sync::Mutex::new(Value::Null);
        let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(50), || async {
            let (status, body) = self.get(path).await;
            let done = status == StatusCode::OK && check(&body);
            *last.lock().unwrap() = body;
            done
        })
        .await;
        let last = last.into_inner().unwrap();
        assert!(ok, "{what}: GET {path} never matched; last answer {last}");
        last
    }

    /// Stops the gateway (and with it the agent) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("gateway task")
                .expect("gateway stops cleanly");
        }
    }
}

/// The error text of an error answer.
pub fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {body}"))
}

/// Checks an answer against a component schema of `docs/openapi.json`.
pub fn assert_valid(name: &str, instance: &Value) {
    let doc: Value = serde_json::from_str(include_str!("../../../../docs/openapi.json"))
        .expect("docs/openapi.json is JSON");
    let schemas = doc["components"]["schemas"]
        .to_string()
        .replace("#/components/schemas/", "#/$defs/");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": serde_json::from_str::<Value>(&schemas).unwrap(),
        "$ref": format!("#/$defs/{name}"),
    });
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{instance}");
}
