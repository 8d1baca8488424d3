//! Shared fixtures: configurations pointing providers at scripted servers, a real timeline
//! in a temp dir, and a fast retry policy.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_config::{Config, Secret};
use kafclaw_policy::TrustClass;
use kafclaw_providers::{ChatChain, ChatMessage, ChatRequest, RetryPolicy, ToolSpec};
use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use kafclaw_timeline::{NewTask, Timeline};
use serde_json::json;

/// A configuration with no model keys set and every provider unconfigured.
pub fn config() -> Config {
    let mut c = Config::default();
    c.model.fallbacks.clear();
    c
}

/// Points a provider (by config key) at a scripted server.
pub fn point(c: &mut Config, provider: &str, server: &ScriptedLlm) {
    let p = match provider {
        "openai" => &mut c.providers.openai,
        "anthropic" => &mut c.providers.anthropic,
        "groq" => &mut c.providers.groq,
        "openrouter" => &mut c.providers.openrouter,
        "vllm" => &mut c.providers.vllm,
        "deepseek" => &mut c.providers.deepseek,
        other => panic!("no fixture for {other}"),
    };
    p.api_base = server.base_url();
    p.api_key = Secret::new(format!("test-key-{provider}"));
}

/// Retries without long waits (Retry-After is still honoured).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

pub async fn server(wire: Wire, script: Vec<Reply>) -> ScriptedLlm {
    ScriptedLlm::start(wire, script)
        .await
        .expect("start scripted server")
}

/// A chain over `config` with the fast retry policy and no ledger.
pub fn chain(config: &Config) -> ChatChain {
    ChatChain::builder(config)
        .retry(fast_retry())
        .build()
        .expect("build chain")
}

/// A real timeline file in a temp dir.
pub struct Ledger {
    pub timeline: Arc<Timeline>,
    _dir: tempfile::TempDir,
}

impl Ledger {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let timeline = Timeline::open_path(dir.path().join("timeline.db"))
            .await
            .expect("open timeline");
        Self {
            timeline: Arc::new(timeline),
            _dir: dir,
        }
    }

    pub async fn task(&self, text: &str) -> String {
        self.timeline
            .create_task(NewTask::new("cli", "tester", TrustClass::Owner, text))
            .await
            .expect("create task")
            .task
            .task_id
    }

    pub fn chain(&self, config: &Config) -> ChatChain {
        ChatChain::builder(config)
            .retry(fast_retry())
            .ledger(self.timeline.clone())
            .build()
            .expect("build chain")
    }
}

pub fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Current weather for a city".into(),
        parameters: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }),
    }
}

pub fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("You are terse."),
        ChatMessage::user(text),
    ])
}
