//! The native Anthropic Messages adapter (`POST {apiBase}/messages`): the system prompt
//! as a top-level field, tool calls as `tool_use` blocks, tool results as user-role
//! `tool_result` blocks, and the Messages streaming events.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::http::{HttpClient, Target, error_message};
use crate::json::{self, At};
use crate::provider::{ChatStream, Provider};
use crate::sse::SseEvent;
use crate::streaming::{SseDecoder, event_error, event_json, sse_stream};
use crate::types::{ChatDelta, ChatRequest, ChatResponse, Role, StopReason, ToolCall, Usage};
use crate::{Error, Result};

/// The API version header value this adapter is written against.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` is required by the Messages API; used when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A provider that speaks Anthropic's Messages API.
pub struct Anthropic {
    id: String,
    base: String,
    api_key: String,
    http: HttpClient,
}

impl Anthropic {
    /// An adapter at `api_base` (including the version segment, e.g.
    /// `https://api.anthropic.com/v1`).
    pub fn new(
        id: impl Into<String>,
        api_base: impl Into<String>,
        api_key: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self> {
        Ok(Self::with_client(
            id.into(),
            api_base.into(),
            api_key.into(),
            HttpClient::new(timeout)?,
        ))
    }

    pub(crate) fn with_client(
        id: String,
        api_base: String,
        api_key: String,
        http: HttpClient,
    ) -> Self {
        Self {
            id,
            base: api_base.trim_end_matches('/').to_owned(),
            api_key,
            http,
        }
    }

    fn target<'a>(&'a self, model: &'a str) -> Target<'a> {
        Target {
            provider: &self.id,
            model,
        }
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-api-key", self.api_key.clone()),
            ("anthropic-version", ANTHROPIC_VERSION.to_owned()),
        ]
    }

    pub(crate) fn request_body(req: &ChatRequest, stream: bool) -> Result<Value> {
        if req.model.is_empty() {
            return Err(Error::InvalidRequest {
                reason: "no model name".into(),
            });
        }
        let mut system = Vec::new();
        // (role, blocks), adjacent entries of one role merged afterwards
        let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for (i, m) in req.messages.iter().enumerate() {
            let (role, blocks) = match m.role {
                Role::System => {
                    if !m.content.is_empty() {
                        system.push(m.content.as_str());
                    }
                    continue;
                }
                Role::User => ("user", text_block(&m.content)),
                Role::Assistant => {
                    let mut blocks = text_block(&m.content);
                    for c in &m.tool_calls {
                        let input = if c.arguments.is_object() {
                            c.arguments.clone()
                        } else {
                            Value::Object(Map::new())
                        };
                        blocks.push(
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                        );
                    }
                    ("assistant", blocks)
                }
                Role::Tool => {
                    let id = m
                        .tool_call_id
                        .as_deref()
                        .ok_or_else(|| Error::InvalidRequest {
                            reason: format!("message {i} is a tool result without tool_call_id"),
                        })?;
                    (
                        "user",
                        vec![
                            json!({"type": "tool_result", "tool_use_id": id, "content": m.content}),
                        ],
                    )
                }
            };
            match turns.last_mut() {
                Some((last, acc)) if *last == role => acc.extend(blocks),
                _ => turns.push((role, blocks)),
            }
        }
        let messages: Vec<Value> = turns
            .into_iter()
            .map(|(role, blocks)| {
                let content = match blocks.as_slice() {
                    [] => json!(""),
                    [only] if only["type"] == "text" => only["text"].clone(),
                    _ => Value::Array(blocks),
                };
                json!({"role": role, "content": content})
            })
            .collect();
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert(
            "max_tokens".into(),
            json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert("messages".into(), Value::Array(messages));
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(t) = req.temperature {
            // the Messages API accepts 0..=1
            body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if stream {
            body.insert("stream".into(), json!(true));
        }
        Ok(Value::Object(body))
    }

    fn parse_reply(&self, model: &str, text: &str) -> Result<ChatResponse> {
        let target = self.target(model);
        let v = json::parse(text).map_err(|e| target.malformed(e))?;
        self.parse_value(model, &v).map_err(|e| target.malformed(e))
    }

    fn parse_value(&self, model: &str, v: &Value) -> std::result::Result<ChatResponse, String> {
        let root = At::root(v);
        let mut content = String::new();
        let mut tool_calls = Vec::new();
        for block in root.field("content")?.items()? {
            match block.field("type")?.str()? {
                "text" => content.push_str(block.field("text")?.str()?),
                "tool_use" => {
                    let input = block.field("input")?;
                    if !input.value().is_object() {
                        return Err(format!(
                            "{} is {}, expected an object",
                            "the input of a tool_use block",
                            crate::provider::kind(input.value())
                        ));
                    }
                    tool_calls.push(ToolCall {
                        id: block.field("id")?.str()?.to_owned(),
                        name: block.field("name")?.str()?.to_owned(),
                        arguments: input.value().clone(),
                    });
                }
                // thinking, redacted_thinking, server tool blocks: not part of the answer
                _ => {}
            }
        }
        let stop_reason = stop_reason(root.field("stop_reason")?.str()?);
        let usage = usage(&root.field("usage")?)?;
        Ok(ChatResponse {
            content,
            tool_calls,
            stop_reason,
            usage,
            model: root.opt_str("model")?.unwrap_or(model).to_owned(),
            provider: self.id.clone(),
        })
    }
}

fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

/// Anthropic `stop_reason` → our stop reason.
fn stop_reason(r: &str) -> StopReason {
    match r {
        "end_turn" | "stop_sequence" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Prompt tokens include the cache reads and writes (Anthropic counts them apart).
fn usage(u: &At<'_>) -> std::result::Result<Usage, String> {
    Ok(Usage {
        input_tokens: u
            .opt_u64("input_tokens")?
            .saturating_add(u.opt_u64("cache_creation_input_tokens")?)
            .saturating_add(u.opt_u64("cache_read_input_tokens")?),
        output_tokens: u.opt_u64("output_tokens")?,
    })
}

#[async_trait]
impl Provider for Anthropic {
    fn id(&self) -> &str {
        &self.id
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let body = Self::request_body(request, false)?;
        let target = self.target(&request.model);
        let url = format!("{}/messages", self.base);
        let resp = self
            .http
            .post_json(target, &url, &self.headers(), &body, false)
            .await?;
        let text = self.http.read_text(target, resp).await?;
        self.parse_reply(&request.model, &text)
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let body = Self::request_body(request, true)?;
        let target = self.target(&request.model);
        let url = format!("{}/messages", self.base);
        let resp = self
            .http
            .post_json(target, &url, &self.headers(), &body, true)
            .await?;
        let decoder = AnthropicDecoder {
            provider: self.id.clone(),
            model: request.model.clone(),
            blocks: HashMap::new(),
            calls: 0,
            started: false,
            stopped: false,
        };
        Ok(sse_stream(resp, decoder, target, self.http.timeout()))
    }
}

struct AnthropicDecoder {
    provider: String,
    model: String,
    /// content block index → tool call index (text blocks are not listed)
    blocks: HashMap<u64, usize>,
    calls: usize,
    started: bool,
    stopped: bool,
}

impl AnthropicDecoder {
    fn target(&self) -> Target<'_> {
        Target {
            provider: &self.provider,
            model: &self.model,
        }
    }

    fn handle(
        &mut self,
        kind: &str,
        v: &Value,
        out: &mut VecDeque<ChatDelta>,
    ) -> std::result::Result<(), String> {
        let root = At::root(v);
        if kind != "message_start" && kind != "ping" && !self.started {
            return Err("arrived before message_start".into());
        }
        match kind {
            "message_start" => {
                self.started = true;
                let message = root.field("message")?;
                if let Some(m) = message.opt_str("model")? {
                    out.push_back(ChatDelta::Model(m.to_owned()));
                }
                if let Some(u) = message.opt("usage")? {
                    out.push_back(ChatDelta::Usage(usage(&u)?));
                }
            }
            "content_block_start" => {
                let index = root.field("index")?.u64()?;
                let block = root.field("content_block")?;
                match block.field("type")?.str()? {
                    "text" => {
                        if let Some(t) = block.opt_str("text")?
                            && !t.is_empty()
                        {
                            out.push_back(ChatDelta::Text(t.to_owned()));
                        }
                    }
                    "tool_use" => {
                        let call = self.calls;
                        self.calls += 1;
                        self.blocks.insert(index, call);
                        out.push_back(ChatDelta::ToolCallStart {
                            index: call,
                            id: block.field("id")?.str()?.to_owned(),
                            name: block.field("name")?.str()?.to_owned(),
                        });
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = root.field("index")?.u64()?;
                let delta = root.field("delta")?;
                match delta.field("type")?.str()? {
                    "text_delta" => {
                        out.push_back(ChatDelta::Text(delta.field("text")?.str()?.to_owned()))
                    }
                    "input_json_delta" => {
                        let call = *self.blocks.get(&index).ok_or_else(|| {
                            format!(
                                "input_json_delta for block {index}, which is not a tool_use block"
                            )
                        })?;
                        out.push_back(ChatDelta::ToolCallArguments {
                            index: call,
                            fragment: delta.field("partial_json")?.str()?.to_owned(),
                        });
                    }
                    // thinking_delta, signature_delta, citations: not part of the answer
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = root.field("delta")?.opt_str("stop_reason")? {
                    out.push_back(ChatDelta::Stop(stop_reason(r)));
                }
                if let Some(u) = root.opt("usage")? {
                    out.push_back(ChatDelta::Usage(usage(&u)?));
                }
            }
            "message_stop" => self.stopped = true,
            // ping, content_block_stop, and event types added later
            _ => {}
        }
        Ok(())
    }
}

impl SseDecoder for AnthropicDecoder {
    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<ChatDelta>) -> Result<()> {
        let v = event_json(self.target(), &event)?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("")
            .to_owned();
        if kind == "error" {
            return Err(Error::StreamError {
                provider: self.provider.clone(),
                model: self.model.clone(),
                message: error_message(&event.data, "error event"),
            });
        }
        self.handle(&kind, &v, out)
            .map_err(|reason| event_error(self.target(), &kind, reason))
    }

    fn finished(&self) -> bool {
        self.stopped
    }

    fn incomplete_reason(&self) -> String {
        if self.started {
            "the stream ended before message_stop".into()
        } else {
            "the stream ended before message_start".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ToolSpec};

    #[test]
    fn request_shape_merges_tool_results_into_one_user_turn() {
        let req = ChatRequest::new(vec![
            ChatMessage::system("a"),
            ChatMessage::system("b"),
            ChatMessage::user("hi"),
            ChatMessage::assistant_tool_calls(
                "checking",
                vec![
                    ToolCall {
                        id: "t1".into(),
                        name: "f".into(),
                        arguments: json!({"x": 1}),
                    },
                    ToolCall {
                        id: "t2".into(),
                        name: "g".into(),
                        arguments: json!({}),
                    },
                ],
            ),
            ChatMessage::tool_result("t1", "one"),
            ChatMessage::tool_result("t2", "two"),
        ])
        .with_model("claude-x")
        .with_temperature(1.5)
        .with_tools(vec![ToolSpec {
            name: "f".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }]);
        let b = Anthropic::request_body(&req, false).unwrap();
        assert_eq!(b["system"], "a\n\nb");
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["temperature"], 1.0);
        assert_eq!(b["messages"][0], json!({"role": "user", "content": "hi"}));
        assert_eq!(b["messages"][1]["content"][1]["type"], "tool_use");
        assert_eq!(b["messages"][2]["role"], "user");
        assert_eq!(
            b["messages"][2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "two"}
            ])
        );
        assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
        assert!(b.get("stream").is_none());
    }

    #[test]
    fn reply_errors_name_the_path() {
        let a = Anthropic::new(
            "claude",
            "http://127.0.0.1:9/v1",
            "k",
            Duration::from_secs(1),
        )
        .unwrap();
        let e = a
            .parse_reply(
                "m",
                r#"{"content":[{"type":"text","text":"x"}],"usage":{}}"#,
            )
            .unwrap_err();
        assert!(e.to_string().ends_with("missing stop_reason"), "{e}");
        let e = a
            .parse_reply(
                "m",
                r#"{"content":[{"type":"tool_use","id":"t","name":"f","input":"x"}],"stop_reason":"tool_use","usage":{}}"#,
            )
            .unwrap_err();
        assert!(e.to_string().contains("expected an object"), "{e}");
        let r = a
            .parse_reply(
                "m",
                r#"{"content":[],"stop_reason":"stop_sequence","usage":{"input_tokens":3,"cache_read_input_tokens":4,"output_tokens":1}}"#,
            )
            .unwrap();
        assert_eq!(r.stop_reason, StopReason::EndTurn);
        assert_eq!(r.usage.input_tokens, 7);
    }
}
