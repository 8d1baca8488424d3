//! Both adapters against scripted servers: a conversation with a tool call, streamed and
//! not, and the request bodies and headers compared with each vendor's documented format.

use std::time::Duration;

use kafclaw_providers::{
    Anthropic, CallContext, ChatDelta, ChatMessage, EmbedRequest, OpenAiCompatible, Provider,
    StopReason,
};
use kafclaw_testkit::{Reply, Wire};
use serde_json::json;

use crate::support::{ask, chain, config, point, server, weather_tool};

/// Runs the two turns of a tool-using conversation and returns the final text.
async fn tool_conversation(chain: &kafclaw_providers::ChatChain, streaming: bool) -> String {
    let ctx = CallContext::default();
    let mut req = ask("Weather in Oslo?").with_tools(vec![weather_tool()]);
    let mut deltas = Vec::new();
    let first = if streaming {
        chain
            .chat_streaming(&ctx, req.clone(), &mut |d: &ChatDelta| {
                deltas.push(d.clone())
            })
            .await
    } else {
        chain.chat(&ctx, req.clone()).await
    }
    .expect("first turn");
    let r = &first.response;
    assert_eq!(r.stop_reason, StopReason::ToolUse);
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].id, "call_1");
    assert_eq!(r.tool_calls[0].name, "get_weather");
    assert_eq!(r.tool_calls[0].arguments, json!({"city": "Oslo"}));
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (30, 8));
    if streaming {
        assert!(
            deltas.iter().any(
                |d| matches!(d, ChatDelta::ToolCallStart { name, .. } if name == "get_weather")
            ),
            "{deltas:?}"
        );
        let fragments = deltas
            .iter()
            .filter(|d| matches!(d, ChatDelta::ToolCallArguments { .. }))
            .count();
        assert!(fragments >= 2, "arguments arrive in pieces: {deltas:?}");
    }

    req.messages.push(ChatMessage::assistant_tool_calls(
        r.content.clone(),
        r.tool_calls.clone(),
    ));
    req.messages
        .push(ChatMessage::tool_result(&r.tool_calls[0].id, "rain, 8°C"));
    deltas.clear();
    let second = if streaming {
        chain
            .chat_streaming(&ctx, req, &mut |d: &ChatDelta| deltas.push(d.clone()))
            .await
    } else {
        chain.chat(&ctx, req).await
    }
    .expect("second turn");
    assert_eq!(second.response.stop_reason, StopReason::EndTurn);
    assert_eq!(
        (
            second.response.usage.input_tokens,
            second.response.usage.output_tokens
        ),
        (45, 6)
    );
    if streaming {
        let texts: Vec<&str> = deltas
            .iter()
            .filter_map(|d| match d {
                ChatDelta::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(texts.len() > 1, "the text arrives in several deltas");
        assert_eq!(texts.concat(), second.response.content);
    }
    second.response.content
}

fn script() -> Vec<Reply> {
    vec![
        Reply::tool_call("get_weather", json!({"city": "Oslo"})).with_usage(30, 8),
        Reply::text("It rains in Oslo, 8°C.").with_usage(45, 6),
    ]
}

#[tokio::test]
async fn openai_tool_call_round_trip_in_the_documented_format() {
    for streaming in [false, true] {
        let srv = server(Wire::OpenAi, script()).await;
        let mut c = config();
        c.model.name = "openai/gpt-4o".into();
        point(&mut c, "openai", &srv);
        let text = tool_conversation(&chain(&c), streaming).await;
        assert_eq!(text, "It rains in Oslo, 8°C.");

        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/v1/chat/completions");
            assert_eq!(r.header("authorization"), Some("Bearer test-key-openai"));
            assert!(
                r.header("content-type")
                    .unwrap_or("")
                    .starts_with("application/json")
            );
            assert_eq!(r.body["model"], "gpt-4o");
            assert_eq!(r.body["max_completion_tokens"], 8192);
            assert_eq!(r.body["temperature"], 0.7);
            assert_eq!(r.body["tool_choice"], "auto");
            assert_eq!(
                r.body["tools"],
                json!([{"type": "function", "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                }}])
            );
            if streaming {
                assert_eq!(r.body["stream"], true);
                assert_eq!(r.body["stream_options"], json!({"include_usage": true}));
            } else {
                assert!(r.body.get("stream").is_none());
            }
        }
        assert_eq!(
            reqs[0].body["messages"],
            json!([
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Weather in Oslo?"},
            ])
        );
        assert_eq!(
            reqs[1].body["messages"][2],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
            ]})
        );
        assert_eq!(
            reqs[1].body["messages"][3],
            json!({"role": "tool", "tool_call_id": "call_1", "content": "rain, 8°C"})
        );
    }
}

#[tokio::test]
async fn anthropic_tool_call_round_trip_in_the_documented_format() {
    for streaming in [false, true] {
        let srv = server(Wire::Anthropic, script()).await;
        let mut c = config();
        c.model.name = "anthropic/claude-sonnet-4-5".into();
        point(&mut c, "anthropic", &srv);
        let text = tool_conversation(&chain(&c), streaming).await;
        assert_eq!(text, "It rains in Oslo, 8°C.");

        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!(r.path, "/v1/messages");
            assert_eq!(r.header("x-api-key"), Some("test-key-anthropic"));
            assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(r.header("authorization"), None);
            assert_eq!(r.body["model"], "claude-sonnet-4-5");
            assert_eq!(r.body["system"], "You are terse.");
            assert_eq!(r.body["max_tokens"], 8192);
            assert_eq!(r.body["temperature"], 0.7);
            assert_eq!(
                r.body["tools"],
                json!([{
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                }])
            );
            assert!(r.body.get("tool_choice").is_none());
            assert_eq!(
                r.body.get("stream").cloned(),
                streaming.then(|| json!(true))
            );
            let roles: Vec<&str> = r.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap())
                .collect();
            assert!(!roles.contains(&"system"), "system is top-level: {roles:?}");
        }
        assert_eq!(
            reqs[0].body["messages"],
            json!([{"role": "user", "content": "Weather in Oslo?"}])
        );
        assert_eq!(
            reqs[1].body["messages"],
            json!([
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "rain, 8°C"}
                ]},
            ])
        );
    }
}

#[tokio::test]
async fn streamed_text_with_tool_calls_assembles_like_the_plain_answer() {
    for wire in [Wire::OpenAi, Wire::Anthropic] {
        let reply = || {
            Reply::tool_calls(
                "Checking both cities…",
                vec![
                    ("get_weather", json!({"city": "Oslo"})),
                    ("get_weather", json!({"city": "Zürich", "units": "metric"})),
                ],
            )
            .with_usage(12, 34)
        };
        let srv = server(wire, vec![reply(), reply()]).await;
        let mut c = config();
        let (model, key) = match wire {
            Wire::OpenAi => ("openai/gpt-4o", "openai"),
            Wire::Anthropic => ("claude/claude-haiku-4-5", "anthropic"),
        };
        c.model.name = model.into();
        point(&mut c, key, &srv);
        let ch = chain(&c);
        let plain = ch
            .chat(&CallContext::default(), ask("both?"))
            .await
            .unwrap()
            .response;
        let streamed = ch
            .chat_streaming(&CallContext::default(), ask("both?"), &mut |_| {})
            .await
            .unwrap()
            .response;
        assert_eq!(plain, streamed, "{wire:?}");
        assert_eq!(streamed.content, "Checking both cities…");
        assert_eq!(streamed.tool_calls.len(), 2);
        assert_eq!(
            streamed.tool_calls[1].arguments,
            json!({"city": "Zürich", "units": "metric"})
        );
        assert_eq!(streamed.usage.input_tokens, 12);
        assert_eq!(streamed.usage.output_tokens, 34);
    }
}

#[tokio::test]
async fn stop_reasons_are_mapped() {
    let srv = server(
        Wire::OpenAi,
        vec![
            Reply::text("cut").with_stop("length"),
            Reply::text("filtered").with_stop("content_filter"),
        ],
    )
    .await;
    let p = OpenAiCompatible::new(
        "openai",
        srv.base_url(),
        Some("k".into()),
        Duration::from_secs(5),
    )
    .unwrap();
    let r = p.chat(&ask("x").with_model("m")).await.unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxTokens);
    let r = p.chat(&ask("x").with_model("m")).await.unwrap();
    assert_eq!(r.stop_reason, StopReason::ContentFilter);

    let srv = server(
        Wire::Anthropic,
        vec![
            Reply::text("cut").with_stop("max_tokens"),
            Reply::text("x").with_stop("pause_turn"),
        ],
    )
    .await;
    let p = Anthropic::new("claude", srv.base_url(), "k", Duration::from_secs(5)).unwrap();
    let r = p.chat(&ask("x").with_model("m")).await.unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxTokens);
    let r = p.chat(&ask("x").with_model("m")).await.unwrap();
    assert_eq!(r.stop_reason, StopReason::Other("pause_turn".into()));
}

#[tokio::test]
async fn embeddings_through_the_openai_format() {
    let srv = server(
        Wire::OpenAi,
        vec![Reply::Embeddings(vec![vec![0.1, 0.2], vec![0.3, 0.4]])],
    )
    .await;
    let p = OpenAiCompatible::new(
        "openai",
        srv.base_url(),
        Some("k".into()),
        Duration::from_secs(5),
    )
    .unwrap();
    let r = p
        .embed(&EmbedRequest {
            model: "text-embedding-3-small".into(),
            input: vec!["a".into(), "b".into()],
        })
        .await
        .unwrap();
    assert_eq!(r.vectors, vec![vec![0.1, 0.2], vec![0.3, 0.4]]);
    let reqs = srv.requests();
    assert_eq!(reqs[0].path, "/v1/embeddings");
    assert_eq!(
        reqs[0].body,
        json!({"model": "text-embedding-3-small", "input": ["a", "b"]})
    );

    let a = Anthropic::new("claude", srv.base_url(), "k", Duration::from_secs(5)).unwrap();
    let e = a
        .embed(&EmbedRequest {
            model: "x".into(),
            input: vec!["a".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "provider \"claude\" does not support embeddings"
    );
}
