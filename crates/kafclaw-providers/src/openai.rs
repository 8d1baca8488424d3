//! The OpenAI-compatible adapter (`POST {apiBase}/chat/completions`, `/embeddings`), used
//! for openai, openrouter, deepseek, groq, vllm, xai, scalytics-copilot and Gemini's
//! OpenAI-compatible endpoint.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::http::{HttpClient, Target};
use crate::json::{self, At};
use crate::provider::{ChatStream, Provider, parse_arguments};
use crate::sse::SseEvent;
use crate::streaming::{SseDecoder, event_error, event_json, sse_stream};
use crate::types::{
    ChatDelta, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Role, StopReason, ToolCall,
    Usage,
};
use crate::{Error, Result};

/// A provider that speaks OpenAI's chat-completions format.
pub struct OpenAiCompatible {
    id: String,
    base: String,
    api_key: Option<String>,
    http: HttpClient,
}

impl OpenAiCompatible {
    /// An adapter for provider `id` at `api_base` (including the version segment, e.g.
    /// `https://api.openai.com/v1`); `api_key` is sent as a bearer token when given.
    pub fn new(
        id: impl Into<String>,
        api_base: impl Into<String>,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<Self> {
        Ok(Self::with_client(
            id.into(),
            api_base.into(),
            api_key,
            HttpClient::new(timeout)?,
        ))
    }

    pub(crate) fn with_client(
        id: String,
        api_base: String,
        api_key: Option<String>,
        http: HttpClient,
    ) -> Self {
        Self {
            id,
            base: api_base.trim_end_matches('/').to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()),
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
        let mut h = Vec::new();
        if let Some(key) = &self.api_key {
            h.push(("authorization", format!("Bearer {key}")));
        }
        h
    }

    /// OpenAI's own API wants `max_completion_tokens` (newer models refuse `max_tokens`);
    /// the compatible servers know `max_tokens`.
    fn max_tokens_field(&self) -> &'static str {
        if self.id == "openai" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        }
    }

    pub(crate) fn request_body(&self, req: &ChatRequest, stream: bool) -> Result<Value> {
        if req.model.is_empty() {
            return Err(Error::InvalidRequest {
                reason: "no model name".into(),
            });
        }
        let mut messages = Vec::with_capacity(req.messages.len());
        for (i, m) in req.messages.iter().enumerate() {
            messages.push(match m.role {
                Role::System | Role::User => json!({"role": m.role.as_str(), "content": m.content}),
                Role::Assistant => {
                    let mut obj = Map::new();
                    obj.insert("role".into(), json!("assistant"));
                    let content = if m.content.is_empty() && !m.tool_calls.is_empty() {
                        Value::Null
                    } else {
                        json!(m.content)
                    };
                    obj.insert("content".into(), content);
                    if !m.tool_calls.is_empty() {
                        let calls: Vec<Value> = m
                            .tool_calls
                            .iter()
                            .map(|c| {
                                json!({
                                    "id": c.id,
                                    "type": "function",
                                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                                })
                            })
                            .collect();
                        obj.insert("tool_calls".into(), Value::Array(calls));
                    }
                    Value::Object(obj)
                }
                Role::Tool => {
                    let id = m.tool_call_id.as_deref().ok_or_else(|| Error::InvalidRequest {
                        reason: format!("message {i} is a tool result without tool_call_id"),
                    })?;
                    json!({"role": "tool", "tool_call_id": id, "content": m.content})
                }
            });
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(req.model));
        body.insert("messages".into(), Value::Array(messages));
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                    })
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            body.insert("tool_choice".into(), json!("auto"));
        }
        if let Some(n) = req.max_tokens {
            body.insert(self.max_tokens_field().into(), json!(n));
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if stream {
            body.insert("stream".into(), json!(true));
            body.insert("stream_options".into(), json!({"include_usage": true}));
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
        let choice = root.field("choices")?.index(0)?;
        let message = choice.field("message")?;
        let content = message.opt_str("content")?.unwrap_or("").to_owned();
        let mut tool_calls = Vec::new();
        if let Some(calls) = message.opt("tool_calls")? {
            for call in calls.items()? {
                let function = call.field("function")?;
                let name = function.field("name")?.str()?.to_owned();
                let arguments = match function.opt("arguments")? {
                    None => Value::Object(Map::new()),
                    Some(a) if a.value().is_object() => a.value().clone(),
                    Some(a) => parse_arguments(&name, a.str()?)?,
                };
                tool_calls.push(ToolCall {
                    id: call.opt_str("id")?.unwrap_or("").to_owned(),
                    name,
                    arguments,
                });
            }
        }
        let stop_reason = match choice.opt_str("finish_reason")? {
            Some(r) => finish_reason(r),
            None if tool_calls.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        let usage = match root.opt("usage")? {
            Some(u) => Usage {
                input_tokens: u.opt_u64("prompt_tokens")?,
                output_tokens: u.opt_u64("completion_tokens")?,
            },
            None => Usage::default(),
        };
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

/// OpenAI `finish_reason` → our stop reason.
fn finish_reason(r: &str) -> StopReason {
    match r {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_owned()),
    }
}

#[async_trait]
impl Provider for OpenAiCompatible {
    fn id(&self) -> &str {
        &self.id
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let body = self.request_body(request, false)?;
        let target = self.target(&request.model);
        let url = format!("{}/chat/completions", self.base);
        let resp = self
            .http
            .post_json(target, &url, &self.headers(), &body, false)
            .await?;
        let text = self.http.read_text(target, resp).await?;
        self.parse_reply(&request.model, &text)
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let body = self.request_body(request, true)?;
        let target = self.target(&request.model);
        let url = format!("{}/chat/completions", self.base);
        let resp = self
            .http
            .post_json(target, &url, &self.headers(), &body, true)
            .await?;
        let decoder = OpenAiDecoder {
            provider: self.id.clone(),
            model: request.model.clone(),
            done: false,
            model_seen: false,
        };
        Ok(sse_stream(resp, decoder, target, self.http.timeout()))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        let target = self.target(&request.model);
        let url = format!("{}/embeddings", self.base);
        let body = json!({"model": request.model, "input": request.input});
        let resp = self
            .http
            .post_json(target, &url, &self.headers(), &body, false)
            .await?;
        let text = self.http.read_text(target, resp).await?;
        let v = json::parse(&text).map_err(|e| target.malformed(e))?;
        parse_embeddings(&v, &request.model, request.input.len()).map_err(|e| target.malformed(e))
    }
}

fn parse_embeddings(
    v: &Value,
    model: &str,
    expected: usize,
) -> std::result::Result<EmbedResponse, String> {
    let root = At::root(v);
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; expected];
    for item in root.field("data")?.items()? {
        let index = match item.opt("index")? {
            Some(i) => usize::try_from(i.u64()?).unwrap_or(usize::MAX),
            None => vectors
                .iter()
                .position(Option::is_none)
                .unwrap_or(usize::MAX),
        };
        let vector = item
            .field("embedding")?
            .items()?
            .iter()
            .map(At::f32)
            .collect::<std::result::Result<Vec<f32>, String>>()?;
        let slot = vectors.get_mut(index).ok_or_else(|| {
            format!("data has index {index}, but only {expected} texts were sent")
        })?;
        *slot = Some(vector);
    }
    let vectors = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| format!("no embedding for input {i}")))
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let usage = match root.opt("usage")? {
        Some(u) => Usage {
            input_tokens: u.opt_u64("prompt_tokens")?,
            output_tokens: 0,
        },
        None => Usage::default(),
    };
    Ok(EmbedResponse {
        vectors,
        usage,
        model: root.opt_str("model")?.unwrap_or(model).to_owned(),
    })
}

struct OpenAiDecoder {
    provider: String,
    model: String,
    done: bool,
    model_seen: bool,
}

impl OpenAiDecoder {
    fn target(&self) -> Target<'_> {
        Target {
            provider: &self.provider,
            model: &self.model,
        }
    }

    fn chunk(
        &mut self,
        v: &Value,
        out: &mut VecDeque<ChatDelta>,
    ) -> std::result::Result<(), String> {
        let root = At::root(v);
        if !self.model_seen
            && let Some(m) = root.opt_str("model")?
        {
            self.model_seen = true;
            out.push_back(ChatDelta::Model(m.to_owned()));
        }
        if let Some(choices) = root.opt("choices")?
            && let Some(choice) = choices.items()?.into_iter().next()
        {
            if let Some(delta) = choice.opt("delta")? {
                if let Some(text) = delta.opt_str("content")?
                    && !text.is_empty()
                {
                    out.push_back(ChatDelta::Text(text.to_owned()));
                }
                if let Some(calls) = delta.opt("tool_calls")? {
                    for (pos, call) in calls.items()?.into_iter().enumerate() {
                        let index = match call.opt("index")? {
                            Some(i) => usize::try_from(i.u64()?).unwrap_or(usize::MAX),
                            None => pos,
                        };
                        let function = call.opt("function")?;
                        let name = match &function {
                            Some(f) => f.opt_str("name")?,
                            None => None,
                        };
                        let id = call.opt_str("id")?;
                        if id.is_some() || name.is_some() {
                            out.push_back(ChatDelta::ToolCallStart {
                                index,
                                id: id.unwrap_or("").to_owned(),
                                name: name.unwrap_or("").to_owned(),
                            });
                        }
                        if let Some(f) = &function
                            && let Some(args) = f.opt_str("arguments")?
                            && !args.is_empty()
                        {
                            out.push_back(ChatDelta::ToolCallArguments {
                                index,
                                fragment: args.to_owned(),
                            });
                        }
                    }
                }
            }
            if let Some(reason) = choice.opt_str("finish_reason")? {
                out.push_back(ChatDelta::Stop(finish_reason(reason)));
            }
        }
        if let Some(u) = root.opt("usage")? {
            out.push_back(ChatDelta::Usage(Usage {
                input_tokens: u.opt_u64("prompt_tokens")?,
                output_tokens: u.opt_u64("completion_tokens")?,
            }));
        }
        Ok(())
    }
}

impl SseDecoder for OpenAiDecoder {
    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<ChatDelta>) -> Result<()> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let v = event_json(self.target(), &event)?;
        if let Some(err) = v.get("error") {
            return Err(Error::StreamError {
                provider: self.provider.clone(),
                model: self.model.clone(),
                message: crate::http::error_message(&json!({ "error": err }).to_string(), ""),
            });
        }
        self.chunk(&v, out)
            .map_err(|reason| event_error(self.target(), "chunk", reason))
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn incomplete_reason(&self) -> String {
        "the stream ended before `data: [DONE]`".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ToolSpec};

    fn adapter(id: &str) -> OpenAiCompatible {
        OpenAiCompatible::new(
            id,
            "http://127.0.0.1:9/v1/",
            Some("k".into()),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[test]
    fn request_shape() {
        let req = ChatRequest::new(vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("weather?"),
            ChatMessage::assistant_tool_calls(
                "",
                vec![ToolCall {
                    id: "c1".into(),
                    name: "weather".into(),
                    arguments: json!({"city": "Oslo"}),
                }],
            ),
            ChatMessage::tool_result("c1", "rain"),
        ])
        .with_model("gpt-4o")
        .with_max_tokens(100)
        .with_tools(vec![ToolSpec {
            name: "weather".into(),
            description: "the weather".into(),
            parameters: json!({"type": "object"}),
        }]);
        let body = adapter("openai").request_body(&req, false).unwrap();
        assert_eq!(body["max_completion_tokens"], 100);
        assert_eq!(body["messages"][2]["content"], Value::Null);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Oslo\"}"
        );
        assert_eq!(body["messages"][3]["tool_call_id"], "c1");
        assert_eq!(body["tools"][0]["type"], "function");
        let body = adapter("groq").request_body(&req, true).unwrap();
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn tool_result_without_id_is_refused() {
        let mut m = ChatMessage::tool_result("x", "y");
        m.tool_call_id = None;
        let req = ChatRequest::new(vec![m]).with_model("m");
        let e = adapter("openai").request_body(&req, false).unwrap_err();
        assert!(e.to_string().contains("message 0 is a tool result"), "{e}");
    }

    #[test]
    fn reply_errors_name_the_path() {
        let a = adapter("openai");
        let e = a.parse_reply("m", r#"{"choices":[]}"#).unwrap_err();
        assert!(e.to_string().ends_with("missing choices[0]"), "{e}");
        let e = a
            .parse_reply("m", r#"{"choices":[{"index":0}]}"#)
            .unwrap_err();
        assert!(e.to_string().ends_with("missing choices[0].message"), "{e}");
        let e = a
            .parse_reply(
                "m",
                r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":"7"}}"#,
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("usage.prompt_tokens is a string, expected a non-negative integer"),
            "{e}"
        );
    }

    #[test]
    fn embeddings_in_index_order() {
        let v = json!({"data": [
            {"index": 1, "embedding": [0.5]},
            {"index": 0, "embedding": [0.25, 1]}
        ], "usage": {"prompt_tokens": 3}});
        let r = parse_embeddings(&v, "e", 2).unwrap();
        assert_eq!(r.vectors, vec![vec![0.25, 1.0], vec![0.5]]);
        assert_eq!(r.usage.input_tokens, 3);
        assert!(
            parse_embeddings(&v, "e", 3)
                .unwrap_err()
                .contains("input 2")
        );
    }
}
