//! The middleware units through the whole chain: what reaches the scripted server and
//! what comes back.

use kafclaw_config::{Config, NamedPattern, SensitivityLevel};
use kafclaw_providers::{
    Action, CallContext, ChatDelta, ChatMessage, ChatRequest, Error, ModelSource, Stage, TRUNCATED,
    WITHHELD,
};
use kafclaw_testkit::{Reply, ScriptedLlm, Wire};

use crate::support::{ask, chain, config, point, server};

const GH_TOKEN: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";

async fn openai_setup(script: Vec<Reply>) -> (ScriptedLlm, Config) {
    let srv = server(Wire::OpenAi, script).await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "openai", &srv);
    (srv, c)
}

fn sent_user_text(srv: &ScriptedLlm, request: usize, message: usize) -> String {
    srv.requests()[request].body["messages"][message]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn everything_is_off_by_default() {
    let (srv, c) = openai_setup(vec![Reply::text(&format!("your token {GH_TOKEN}"))]).await;
    let text = format!("my token is {GH_TOKEN}, mail jane@example.com");
    let reply = chain(&c)
        .chat(&CallContext::default(), ask(&text))
        .await
        .unwrap();
    assert_eq!(sent_user_text(&srv, 0, 1), text);
    assert!(reply.response.content.contains(GH_TOKEN));
    assert!(
        reply
            .events
            .iter()
            .all(|e| e.stage == Stage::Router && e.action == Action::Tag),
        "{:?}",
        reply.events
    );
}

#[tokio::test]
async fn prompt_guard_redacts_secrets_and_pii_in_user_messages_and_tool_results() {
    let (srv, mut c) = openai_setup(vec![Reply::text("ok")]).await;
    c.prompt_guard.enabled = true;
    c.prompt_guard.mode = "redact".into();
    let mut req = ask(&format!("my token is {GH_TOKEN}, mail jane@example.com"));
    req.messages.push(ChatMessage::assistant_tool_calls(
        "",
        vec![kafclaw_providers::ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: serde_json::json!({"path": ".env"}),
        }],
    ));
    req.messages.push(ChatMessage::tool_result(
        "c1",
        "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx",
    ));
    let reply = chain(&c).chat(&CallContext::default(), req).await.unwrap();
    assert_eq!(
        sent_user_text(&srv, 0, 1),
        "my token is [REDACTED:github_token], mail [REDACTED:email]"
    );
    assert_eq!(
        sent_user_text(&srv, 0, 3),
        "OPENAI_API_KEY=[REDACTED:api_key]"
    );
    let details: Vec<&str> = reply
        .events
        .iter()
        .filter(|e| e.stage == Stage::PromptGuard && e.action == Action::Redact)
        .map(|e| e.detail.as_str())
        .collect();
    assert_eq!(
        details,
        [
            "redacted 2 secrets match(es) (github_token ×1, api_key ×1) in message 1, 3",
            "redacted 1 PII match(es) (email ×1) in message 1",
        ]
    );
    assert!(
        reply.events.iter().all(|e| !e.detail.contains(GH_TOKEN)),
        "events never carry the secret"
    );
}

#[tokio::test]
async fn prompt_guard_blocks_a_secret_without_sending_anything() {
    let (srv, mut c) = openai_setup(vec![Reply::text("unused")]).await;
    c.prompt_guard.enabled = true;
    c.prompt_guard.secrets.action = "block".into();
    let err = chain(&c)
        .chat(
            &CallContext::default(),
            ask(&format!("deploy with {AWS_KEY} please")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Blocked {
                stage: "promptGuard",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "blocked by promptGuard: secrets found (aws_access_key) in message 1; promptGuard.secrets.action is block"
    );
    assert!(!err.to_string().contains(AWS_KEY));
    assert!(srv.requests().is_empty());
}

#[tokio::test]
async fn prompt_guard_block_looks_only_at_the_new_turn() {
    let (srv, mut c) = openai_setup(vec![Reply::text("fine")]).await;
    c.prompt_guard.enabled = true;
    c.prompt_guard.mode = "block".into();
    c.prompt_guard.pii.detect = vec!["email".into()];
    let req = ChatRequest::new(vec![
        ChatMessage::user("write to jane@example.com"),
        ChatMessage::assistant("done"),
        ChatMessage::user("thanks, what next?"),
    ]);
    chain(&c).chat(&CallContext::default(), req).await.unwrap();
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn prompt_guard_warns_and_sends_unchanged() {
    let (srv, mut c) = openai_setup(vec![Reply::text("ok")]).await;
    c.prompt_guard.enabled = true;
    let text = "call me at +1 555-123-4567";
    let reply = chain(&c)
        .chat(&CallContext::default(), ask(text))
        .await
        .unwrap();
    assert_eq!(sent_user_text(&srv, 0, 1), text);
    let warn = reply
        .events
        .iter()
        .find(|e| e.stage == Stage::PromptGuard)
        .unwrap();
    assert_eq!(warn.action, Action::Warn);
    assert_eq!(
        warn.detail,
        "PII found (phone ×1) in message 1; sent unchanged"
    );
}

#[tokio::test]
async fn prompt_guard_deny_keywords_and_custom_patterns() {
    let (srv, mut c) = openai_setup(vec![Reply::text("ok")]).await;
    c.prompt_guard.enabled = true;
    c.prompt_guard.mode = "redact".into();
    c.prompt_guard.deny_keywords = vec!["Project Nightingale".into()];
    c.prompt_guard.custom_patterns = vec![NamedPattern {
        name: "employee_id".into(),
        pattern: r"\bEMP-\d{6}\b".into(),
    }];
    let ch = chain(&c);
    let err = ch
        .chat(
            &CallContext::default(),
            ask("status of project nightingale?"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "blocked by promptGuard: message 1 contains a denied keyword (promptGuard.denyKeywords entry 0)"
    );
    ch.chat(&CallContext::default(), ask("who is EMP-123456?"))
        .await
        .unwrap();
    assert_eq!(sent_user_text(&srv, 0, 1), "who is [REDACTED:employee_id]?");
}

#[tokio::test]
async fn bad_guard_configuration_names_the_key() {
    let mut c = config();
    c.prompt_guard.enabled = true;
    c.prompt_guard.pii.detect = vec!["dna".into()];
    let err = kafclaw_providers::ChatChain::builder(&c)
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("promptGuard.pii.detect: unknown detector \"dna\""),
        "{err}"
    );
    let mut c = config();
    c.output_sanitization.enabled = true;
    c.output_sanitization.deny_patterns = vec!["([".into()];
    let err = kafclaw_providers::ChatChain::builder(&c)
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("outputSanitization.denyPatterns[0]: invalid regular expression"),
        "{err}"
    );
}

#[tokio::test]
async fn output_sanitizer_redacts_an_answer() {
    let (_srv, mut c) = openai_setup(vec![Reply::text(&format!(
        "Use {GH_TOKEN} or ask admin@corp.example"
    ))])
    .await;
    c.output_sanitization.enabled = true;
    c.output_sanitization.redact_secrets = true;
    c.output_sanitization.redact_pii = true;
    let reply = chain(&c)
        .chat(&CallContext::default(), ask("how do I log in?"))
        .await
        .unwrap();
    assert_eq!(
        reply.response.content,
        "Use [REDACTED:github_token] or ask [REDACTED:email]"
    );
    let e = reply
        .events
        .iter()
        .find(|e| e.stage == Stage::OutputSanitizer)
        .unwrap();
    assert_eq!(e.action, Action::Redact);
    assert_eq!(
        e.detail,
        "redacted 2 match(es) in the answer (github_token ×1, email ×1)"
    );
}

#[tokio::test]
async fn output_sanitizer_deny_patterns_and_max_length() {
    let (_srv, mut c) = openai_setup(vec![
        Reply::text("This is INTERNAL ONLY material"),
        Reply::text("0123456789abcdef"),
        Reply::text("short"),
    ])
    .await;
    c.output_sanitization.enabled = true;
    c.output_sanitization.deny_patterns = vec!["(?i)internal only".into()];
    c.output_sanitization.max_output_length = 10;
    let ch = chain(&c);
    let r = ch.chat(&CallContext::default(), ask("a")).await.unwrap();
    assert_eq!(r.response.content, WITHHELD);
    assert!(r.events.iter().any(|e| e.action == Action::Deny
        && e.detail == "the answer matched outputSanitization.denyPatterns[0] and was withheld"));
    let r = ch.chat(&CallContext::default(), ask("b")).await.unwrap();
    assert_eq!(r.response.content, format!("0123456789{TRUNCATED}"));
    assert!(r.events.iter().any(|e| e.action == Action::Truncate));
    let r = ch.chat(&CallContext::default(), ask("c")).await.unwrap();
    assert_eq!(r.response.content, "short");
    assert!(r.events.iter().all(|e| e.stage != Stage::OutputSanitizer));
}

#[tokio::test]
async fn streaming_with_the_sanitizer_delivers_only_the_sanitized_text() {
    let srv = server(
        Wire::Anthropic,
        vec![Reply::text(&format!("the key is {AWS_KEY}, keep it"))],
    )
    .await;
    let mut c = config();
    c.model.name = "claude/claude-haiku".into();
    point(&mut c, "anthropic", &srv);
    c.output_sanitization.enabled = true;
    c.output_sanitization.redact_secrets = true;
    let mut deltas = Vec::new();
    let reply = chain(&c)
        .chat_streaming(
            &CallContext::default(),
            ask("key?"),
            &mut |d: &ChatDelta| deltas.push(d.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        deltas,
        [ChatDelta::Text(
            "the key is [REDACTED:aws_access_key], keep it".into()
        )]
    );
    assert_eq!(
        reply.response.content,
        "the key is [REDACTED:aws_access_key], keep it"
    );
}

fn sensitive_config(c: &mut Config) {
    c.content_classification.enabled = true;
    c.content_classification.sensitivity_levels.insert(
        "confidential".into(),
        SensitivityLevel {
            patterns: vec![r"\bSSN\b".into()],
            keywords: vec!["salary".into()],
            route_to: "vllm/local-llama".into(),
        },
    );
}

#[tokio::test]
async fn classifier_reroutes_sensitive_content_to_its_model_without_fallbacks() {
    let cloud = server(Wire::OpenAi, vec![Reply::text("cloud")]).await;
    let local = server(Wire::OpenAi, vec![Reply::text("local"), Reply::status(500)]).await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    c.model.fallbacks = vec!["openai/gpt-4o-mini".into()];
    point(&mut c, "openai", &cloud);
    point(&mut c, "vllm", &local);
    sensitive_config(&mut c);
    let ch = chain(&c);

    let reply = ch
        .chat(&CallContext::default(), ask("What is Bob's Salary?"))
        .await
        .unwrap();
    assert_eq!(reply.response.content, "local");
    assert_eq!(reply.model.to_string(), "vllm/local-llama");
    assert_eq!(
        reply.source,
        ModelSource::Sensitivity {
            level: "confidential".into()
        }
    );
    assert_eq!(local.requests()[0].body["model"], "local-llama");
    assert_eq!(
        local.requests()[0].header("authorization"),
        Some("Bearer test-key-vllm")
    );
    let classifier: Vec<(Action, &str)> = reply
        .events
        .iter()
        .filter(|e| e.stage == Stage::Classifier)
        .map(|e| (e.action, e.detail.as_str()))
        .collect();
    assert_eq!(
        classifier,
        [
            (Action::Tag, "sensitivity=confidential"),
            (
                Action::Reroute,
                "sensitivity confidential: routed to vllm/local-llama, without fallbacks"
            ),
        ]
    );

    // the local model fails: no fallback to the cloud model
    let err = ch
        .chat(&CallContext::default(), ask("salary table please"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
    assert!(cloud.requests().is_empty(), "sensitive content never left");

    // ordinary content goes to the configured model
    let reply = ch
        .chat(&CallContext::default(), ask("hello"))
        .await
        .unwrap();
    assert_eq!(reply.response.content, "cloud");
}

#[tokio::test]
async fn classifier_task_types_select_the_task_route() {
    let groq = server(
        Wire::OpenAi,
        vec![Reply::text("coder"), Reply::text("coder 2")],
    )
    .await;
    let openai = server(
        Wire::OpenAi,
        vec![Reply::text("poet"), Reply::text("general")],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    point(&mut c, "groq", &groq);
    point(&mut c, "openai", &openai);
    c.content_classification.enabled = true;
    c.content_classification
        .task_type_routes
        .insert("coding".into(), "groq/llama-coder".into());
    c.model
        .task_routing
        .insert("creative".into(), "openai/gpt-4o-creative".into());
    let ch = chain(&c);

    let r = ch
        .chat(
            &CallContext::default(),
            ask("fix the bug in this Rust function"),
        )
        .await
        .unwrap();
    assert_eq!(r.model.to_string(), "groq/llama-coder");
    assert_eq!(
        r.source,
        ModelSource::ClassifierRoute {
            category: "coding".into()
        }
    );
    assert!(r.events.iter().any(|e| e.detail == "task=coding"));

    let r = ch
        .chat(&CallContext::default(), ask("write a haiku about Kafka"))
        .await
        .unwrap();
    assert_eq!(r.model.to_string(), "openai/gpt-4o-creative");
    assert_eq!(openai.requests()[0].body["model"], "gpt-4o-creative");

    // a task type given by the caller wins over the classifier's guess
    let ctx = CallContext {
        task_type: Some("coding".into()),
        ..CallContext::default()
    };
    let r = ch.chat(&ctx, ask("write a poem")).await.unwrap();
    assert_eq!(r.model.to_string(), "groq/llama-coder");

    let r = ch
        .chat(&CallContext::default(), ask("good morning"))
        .await
        .unwrap();
    assert_eq!(r.model.to_string(), "openai/gpt-4o");
    assert_eq!(r.source, ModelSource::Global);
}
