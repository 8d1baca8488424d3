//! Model resolution: the seeds' order, fallbacks, and the right model name sent to the
//! right provider; wrong providers and missing credentials as clear errors.

use kafclaw_config::{AgentEntry, AgentModel};
use kafclaw_providers::{CallContext, ChatChain, Error, ModelRef, ModelSource, Resolver};
use kafclaw_testkit::{Reply, Wire};

use crate::support::{ask, chain, config, point, server};

fn agent(id: &str, primary: &str, fallbacks: &[&str]) -> AgentEntry {
    AgentEntry {
        id: id.into(),
        model: Some(AgentModel {
            primary: primary.into(),
            fallbacks: fallbacks.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ..AgentEntry::default()
    }
}

fn m(s: &str) -> ModelRef {
    ModelRef::parse(s).unwrap()
}

#[test]
fn agent_model_then_task_routing_then_global() {
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    c.model.fallbacks = vec!["deepseek/deepseek-chat".into(), "openai/gpt-4o".into()];
    c.model
        .task_routing
        .insert("security".into(), "anthropic/claude-opus-4".into());
    c.agents.list = vec![
        agent("ops", "groq/llama-ops", &["openai/gpt-4o-mini"]),
        agent("plain", "", &[]),
        agent("nofallback", "xai/grok-3", &[]),
    ];
    let r = Resolver::from_config(&c);
    r.validate().unwrap();

    let p = r.resolve(Some("ops"), Some("security")).unwrap();
    assert_eq!(p.primary, m("groq/llama-ops"));
    assert_eq!(p.fallbacks, [m("openai/gpt-4o-mini")]);
    assert_eq!(p.source.to_string(), "agents.list[ops].model.primary");

    let p = r.resolve(Some("nofallback"), None).unwrap();
    assert_eq!(p.primary, m("xai/grok-3"));
    assert_eq!(
        p.fallbacks,
        [m("deepseek/deepseek-chat"), m("openai/gpt-4o")],
        "the global fallbacks apply"
    );

    for agent_id in [Some("plain"), Some("not-listed"), None] {
        let p = r.resolve(agent_id, Some("security")).unwrap();
        assert_eq!(p.primary, m("claude/claude-opus-4"));
        assert_eq!(
            p.source,
            ModelSource::TaskRouting {
                category: "security".into()
            }
        );
        assert_eq!(p.source.to_string(), "model.taskRouting.security");
    }

    let p = r.resolve(None, Some("creative")).unwrap();
    assert_eq!(p.primary, m("openai/gpt-4o"));
    assert_eq!(p.source, ModelSource::Global);
    assert_eq!(
        p.fallbacks,
        [m("deepseek/deepseek-chat")],
        "a fallback equal to the primary is dropped"
    );

    let p = r.explicit("openrouter/meta-llama/llama-3-70b").unwrap();
    assert_eq!(p.primary.model, "meta-llama/llama-3-70b");
    assert_eq!(p.source, ModelSource::Explicit);
}

#[test]
fn the_classifier_task_routes_count_only_when_the_classifier_is_on() {
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    c.content_classification
        .task_type_routes
        .insert("coding".into(), "groq/coder".into());
    let p = Resolver::from_config(&c)
        .resolve(None, Some("coding"))
        .unwrap();
    assert_eq!(p.source, ModelSource::Global);
    c.content_classification.enabled = true;
    let p = Resolver::from_config(&c)
        .resolve(None, Some("coding"))
        .unwrap();
    assert_eq!(p.primary, m("groq/coder"));
}

#[test]
fn bad_model_strings_name_their_config_key() {
    let mut c = config();
    c.model.name = "acme/turbo".into();
    let err = ChatChain::builder(&c).build().err().unwrap();
    assert!(
        matches!(&err, Error::Config { key, .. } if key == "model.name"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "model.name: model \"acme/turbo\": unknown provider \"acme\" (known: claude, openai, openrouter, deepseek, groq, gemini, vllm, xai, scalytics-copilot)"
    );

    let mut c = config();
    c.agents.list = vec![agent("ops", "gemini-cli/gemini-2.5-pro", &[])];
    let err = ChatChain::builder(&c).build().err().unwrap();
    assert!(
        err.to_string().starts_with(
            "agents.list[ops].model.primary: provider \"gemini-cli\" is not supported: it logs in through the Gemini CLI"
        ),
        "{err}"
    );

    let mut c = config();
    c.model.fallbacks = vec!["openai/".into()];
    let err = ChatChain::builder(&c).build().err().unwrap();
    assert_eq!(
        err.to_string(),
        "model.fallbacks[0]: model \"openai/\": no model name after the provider id"
    );
}

#[tokio::test]
async fn a_provider_without_a_key_is_a_clear_error_before_anything_is_sent() {
    let srv = server(Wire::OpenAi, vec![Reply::text("unused")]).await;
    let mut c = config();
    c.model.name = "groq/llama-3.3-70b".into();
    c.providers.groq.api_base = srv.base_url();
    let err = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider \"groq\" has no API key: set providers.groq.apiKey (or the environment variable KAFCLAW_PROVIDERS_GROQ_API_KEY)"
    );
    assert!(srv.requests().is_empty());

    let mut c = config();
    c.model.name = "copilot/x".into();
    let err = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider \"scalytics-copilot\" has no endpoint: set providers.scalyticsCopilot.apiBase (or the environment variable KAFCLAW_PROVIDERS_SCALYTICS_COPILOT_API_BASE)"
    );
}

#[tokio::test]
async fn each_provider_receives_its_own_model_name() {
    let openrouter = server(Wire::OpenAi, vec![Reply::text("via openrouter")]).await;
    let deepseek = server(Wire::OpenAi, vec![Reply::text("via deepseek")]).await;
    let openai = server(Wire::OpenAi, vec![Reply::text("bare name")]).await;
    let mut c = config();
    c.model.name = "openrouter/meta-llama/llama-3-70b".into();
    c.agents.list = vec![agent("ops", "deepseek/deepseek-chat", &[])];
    point(&mut c, "openrouter", &openrouter);
    point(&mut c, "deepseek", &deepseek);
    point(&mut c, "openai", &openai);
    let ch = chain(&c);

    let r = ch.chat(&CallContext::default(), ask("hi")).await.unwrap();
    assert_eq!(r.response.content, "via openrouter");
    let req = &openrouter.requests()[0];
    assert_eq!(req.body["model"], "meta-llama/llama-3-70b");
    assert_eq!(
        req.header("authorization"),
        Some("Bearer test-key-openrouter")
    );
    assert!(req.body.get("max_completion_tokens").is_none());
    assert_eq!(req.body["max_tokens"], 8192);

    let ctx = CallContext {
        agent_id: Some("ops".into()),
        ..CallContext::default()
    };
    let r = ch.chat(&ctx, ask("hi")).await.unwrap();
    assert_eq!(r.response.content, "via deepseek");
    assert_eq!(deepseek.requests()[0].body["model"], "deepseek-chat");
    assert_eq!(
        deepseek.requests()[0].header("authorization"),
        Some("Bearer test-key-deepseek")
    );

    let ctx = CallContext {
        model: Some("gpt-4.1".into()),
        ..CallContext::default()
    };
    let r = ch.chat(&ctx, ask("hi")).await.unwrap();
    assert_eq!(
        r.model.to_string(),
        "openai/gpt-4.1",
        "a bare name goes to openai"
    );
    assert_eq!(openai.requests()[0].body["model"], "gpt-4.1");
    assert_eq!(openrouter.requests().len(), 1);
}
