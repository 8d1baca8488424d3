//! Retries, Retry-After, fallbacks, time-outs and malformed or truncated replies.

use std::time::Duration;

use kafclaw_config::HumanDuration;
use kafclaw_providers::{Action, CallContext, ChatChain, Error, RetryPolicy, Stage};
use kafclaw_testkit::{Reply, Wire};

use crate::support::{ask, chain, config, fast_retry, point, server};

fn models_requested(srv: &kafclaw_testkit::ScriptedLlm) -> Vec<String> {
    srv.requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_then_succeeds() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let srv = server(wire, vec![Reply::rate_limited("1"), Reply::text("finally")]).await;
        let mut c = config();
        let key = if wire == Wire::OpenAi {
            "openai"
        } else {
            "anthropic"
        };
        c.model.name = format!("{key}/m1");
        point(&mut c, key, &srv);
        let reply = chain(&c)
            .chat(&CallContext::default(), ask("hi"))
            .await
            .unwrap();
        assert_eq!(reply.response.content, "finally");
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        let waited = reqs[1].received_at - reqs[0].received_at;
        assert!(
            waited >= Duration::from_secs(1),
            "Retry-After: 1 was honoured, waited {waited:?}"
        );
        let retry = reply
            .events
            .iter()
            .find(|e| e.stage == Stage::Router && e.action == Action::Retry)
            .expect("a retry event");
        assert!(retry.detail.contains("HTTP 429"), "{}", retry.detail);
        assert!(
            retry.detail.contains("retrying in 1000 ms"),
            "{}",
            retry.detail
        );
    }
}

#[tokio::test]
async fn a_retry_after_longer_than_the_limit_is_not_waited_for() {
    let srv = server(
        Wire::OpenAi,
        vec![Reply::rate_limited("3600"), Reply::text("never")],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/m".into();
    point(&mut c, "openai", &srv);
    let err = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    match &err {
        Error::Http {
            status: 429,
            retry_after: Some(d),
            ..
        } => assert_eq!(*d, Duration::from_secs(3600)),
        other => panic!("expected a 429, got {other:?}"),
    }
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_the_next_model_answers() {
    let openai = server(
        Wire::OpenAi,
        vec![
            Reply::status(500),
            Reply::status(502),
            Reply::status(503),
            Reply::text("from the fallback"),
        ],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    c.model.fallbacks = vec!["openai/gpt-4o-mini".into(), "anthropic/claude-haiku".into()];
    point(&mut c, "openai", &openai);
    let claude = server(Wire::Anthropic, vec![]).await;
    point(&mut c, "anthropic", &claude);

    let reply = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap();
    assert_eq!(reply.response.content, "from the fallback");
    assert_eq!(reply.model.to_string(), "openai/gpt-4o-mini");
    assert_eq!(
        models_requested(&openai),
        ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"]
    );
    assert!(claude.requests().is_empty());
    let actions: Vec<Action> = reply
        .events
        .iter()
        .filter(|e| e.stage == Stage::Router)
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [Action::Tag, Action::Retry, Action::Retry, Action::Fallback]
    );
}

#[tokio::test]
async fn fallback_crosses_providers_with_each_providers_model_name() {
    let openai = server(Wire::OpenAi, vec![Reply::status(500)]).await;
    let claude = server(Wire::Anthropic, vec![Reply::text("claude here")]).await;
    let mut c = config();
    c.model.name = "openai/gpt-4o".into();
    c.model.fallbacks = vec!["anthropic/claude-haiku-4-5".into()];
    point(&mut c, "openai", &openai);
    point(&mut c, "anthropic", &claude);
    let ch = ChatChain::builder(&c)
        .retry(RetryPolicy {
            max_attempts: 1,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let reply = ch.chat(&CallContext::default(), ask("hi")).await.unwrap();
    assert_eq!(reply.model.to_string(), "claude/claude-haiku-4-5");
    assert_eq!(reply.response.provider, "claude");
    assert_eq!(models_requested(&openai), ["gpt-4o"]);
    assert_eq!(models_requested(&claude), ["claude-haiku-4-5"]);
}

#[tokio::test]
async fn when_every_model_fails_the_error_lists_them() {
    let openai = server(Wire::OpenAi, vec![Reply::status(500), Reply::status(500)]).await;
    let mut c = config();
    c.model.name = "openai/a".into();
    c.model.fallbacks = vec!["openai/b".into()];
    point(&mut c, "openai", &openai);
    let ch = ChatChain::builder(&c)
        .retry(RetryPolicy {
            max_attempts: 1,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = ch
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    let Error::AllModelsFailed { tried, last } = &err else {
        panic!("expected AllModelsFailed, got {err:?}");
    };
    assert_eq!(tried, &["openai/a", "openai/b"]);
    assert!(matches!(**last, Error::Http { status: 500, .. }));
    assert!(
        err.to_string()
            .contains("openai/b: HTTP 500: scripted_error: scripted error 500"),
        "{err}"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let srv = server(
        Wire::OpenAi,
        vec![Reply::status(400), Reply::text("unused")],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/m".into();
    point(&mut c, "openai", &srv);
    let err = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 400, .. }), "{err:?}");
    assert_eq!(srv.requests().len(), 1);
    assert_eq!(srv.remaining(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let srv = server(
        Wire::Anthropic,
        vec![Reply::Disconnect, Reply::text("back")],
    )
    .await;
    let mut c = config();
    c.model.name = "claude/m".into();
    point(&mut c, "anthropic", &srv);
    let reply = chain(&c)
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap();
    assert_eq!(reply.response.content, "back");
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let srv = server(
        Wire::OpenAi,
        vec![Reply::text("too late").delayed(Duration::from_secs(5))],
    )
    .await;
    let mut c = config();
    c.model.name = "openai/m".into();
    c.model.request_timeout = HumanDuration(Duration::from_millis(300));
    point(&mut c, "openai", &srv);
    let ch = ChatChain::builder(&c)
        .retry(RetryPolicy {
            max_attempts: 1,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = ch
        .chat(&CallContext::default(), ask("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
}

/// Calls once (no streaming) and returns the malformed-reply reason.
async fn malformed_reason(wire: Wire, reply: Reply, streaming: bool) -> String {
    let srv = server(wire, vec![reply, Reply::text("a retry would get this")]).await;
    let mut c = config();
    let key = if wire == Wire::OpenAi {
        "openai"
    } else {
        "anthropic"
    };
    c.model.name = format!("{key}/m");
    point(&mut c, key, &srv);
    let ch = chain(&c);
    let result = if streaming {
        ch.chat_streaming(&CallContext::default(), ask("hi"), &mut |_| {})
            .await
    } else {
        ch.chat(&CallContext::default(), ask("hi")).await
    };
    let err = result.unwrap_err();
    assert_eq!(srv.requests().len(), 1, "a malformed reply is not retried");
    match err {
        Error::MalformedReply {
            provider, reason, ..
        } => {
            assert_eq!(
                provider,
                if wire == Wire::OpenAi {
                    "openai"
                } else {
                    "claude"
                }
            );
            reason
        }
        other => panic!("expected MalformedReply, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors_that_say_what_was_wrong() {
    let r = malformed_reason(
        Wire::OpenAi,
        Reply::malformed(r#"{"id": "x", "choices": [{"#),
        false,
    )
    .await;
    assert!(r.starts_with("invalid JSON at line 1 column 25"), "{r}");
    assert!(r.ends_with("(the body looks truncated)"), "{r}");

    let r = malformed_reason(
        Wire::OpenAi,
        Reply::malformed(r#"{"choices": [{"index": 0}]}"#),
        false,
    )
    .await;
    assert_eq!(r, "missing choices[0].message");

    let r = malformed_reason(
        Wire::OpenAi,
        Reply::malformed(r#"{"object": "error"}"#),
        false,
    )
    .await;
    assert_eq!(r, "missing choices");

    let r = malformed_reason(
        Wire::OpenAi,
        Reply::malformed(
            r#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
        ),
        false,
    )
    .await;
    assert!(
        r.starts_with("arguments of tool call \"f\" are not valid JSON"),
        "{r}"
    );

    let r = malformed_reason(
        Wire::Anthropic,
        Reply::malformed(
            r#"{"content": [{"type": "text"}], "stop_reason": "end_turn", "usage": {}}"#,
        ),
        false,
    )
    .await;
    assert_eq!(r, "missing content[0].text");

    let r = malformed_reason(
        Wire::Anthropic,
        Reply::malformed("<html>bad gateway</html>"),
        false,
    )
    .await;
    assert!(r.starts_with("invalid JSON at line 1 column 1"), "{r}");

    let r = malformed_reason(Wire::Anthropic, Reply::malformed(""), false).await;
    assert_eq!(r, "the body is empty");
}

#[tokio::test]
async fn truncated_bodies_and_streams_are_typed_errors() {
    let r = malformed_reason(
        Wire::OpenAi,
        Reply::text("a long enough answer").truncated(),
        false,
    )
    .await;
    assert!(r.ends_with("(the body looks truncated)"), "{r}");
    let r = malformed_reason(
        Wire::Anthropic,
        Reply::text("a long enough answer").truncated(),
        false,
    )
    .await;
    assert!(r.ends_with("(the body looks truncated)"), "{r}");

    let r = malformed_reason(
        Wire::OpenAi,
        Reply::text("a long enough answer").truncated(),
        true,
    )
    .await;
    assert_eq!(
        r,
        "the stream ended before `data: [DONE]` (the last event is cut off)"
    );
    let r = malformed_reason(
        Wire::Anthropic,
        Reply::text("a long enough answer").truncated(),
        true,
    )
    .await;
    assert_eq!(
        r,
        "the stream ended before message_stop (the last event is cut off)"
    );
}

#[tokio::test]
async fn a_streamed_event_that_does_not_fit_names_the_event() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n";
    let srv = server(
        Wire::Anthropic,
        vec![Reply::Status {
            code: 200,
            retry_after: None,
            body: sse.into(),
        }],
    )
    .await;
    let mut c = config();
    c.model.name = "claude/m".into();
    point(&mut c, "anthropic", &srv);
    let err = chain(&c)
        .chat_streaming(&CallContext::default(), ask("hi"), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "claude/m: malformed reply: stream event \"content_block_delta\": input_json_delta for block 0, which is not a tool_use block"
    );
}
