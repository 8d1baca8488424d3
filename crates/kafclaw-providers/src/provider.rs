//! The provider trait every adapter implements, and the assembler that turns a stream of
//! deltas into a whole answer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::types::{
    ChatDelta, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Speech, SpeechRequest,
    StopReason, ToolCall, TranscribeRequest, Usage,
};
use crate::{Error, Result};

/// A streamed answer: deltas in order, ending after the vendor's end marker. A stream that
/// breaks off before that marker ends with an [`Error::MalformedReply`].
pub type ChatStream = BoxStream<'static, Result<ChatDelta>>;

/// One LLM vendor API. Adapters translate our types to the vendor's wire format and back;
/// they do not retry, resolve model strings or account usage (the [`crate::ChatChain`]
/// does).
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider id (`openai`, `claude`, ...), used in errors and usage records.
    fn id(&self) -> &str;

    /// One chat completion. `request.model` is the vendor's model name.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse>;

    /// One chat completion, streamed. The returned stream yields the answer as it arrives;
    /// [`StreamAssembler::collect`] turns it into the same [`ChatResponse`] as [`Provider::chat`].
    /// HTTP errors are returned here, before the stream starts.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream>;

    /// Embedding vectors for texts.
    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        let _ = request;
        Err(Error::Unsupported {
            provider: self.id().to_owned(),
            operation: "embeddings",
        })
    }

    /// Speech to text.
    async fn transcribe(&self, request: &TranscribeRequest) -> Result<String> {
        let _ = request;
        Err(Error::Unsupported {
            provider: self.id().to_owned(),
            operation: "transcription",
        })
    }

    /// Text to speech.
    async fn speak(&self, request: &SpeechRequest) -> Result<Speech> {
        let _ = request;
        Err(Error::Unsupported {
            provider: self.id().to_owned(),
            operation: "speech",
        })
    }
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// Collects [`ChatDelta`]s into a [`ChatResponse`].
pub struct StreamAssembler {
    provider: String,
    model: String,
    text: String,
    calls: BTreeMap<usize, PartialCall>,
    usage: Usage,
    stop: Option<StopReason>,
}

impl StreamAssembler {
    /// An empty answer from `provider` for the requested `model`.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            text: String::new(),
            calls: BTreeMap::new(),
            usage: Usage::default(),
            stop: None,
        }
    }

    /// Adds one delta.
    pub fn push(&mut self, delta: ChatDelta) {
        match delta {
            ChatDelta::Text(t) => self.text.push_str(&t),
            ChatDelta::ToolCallStart { index, id, name } => {
                let call = self.calls.entry(index).or_default();
                if !id.is_empty() {
                    call.id = id;
                }
                if !name.is_empty() {
                    call.name = name;
                }
            }
            ChatDelta::ToolCallArguments { index, fragment } => {
                self.calls
                    .entry(index)
                    .or_default()
                    .arguments
                    .push_str(&fragment);
            }
            ChatDelta::Usage(u) => {
                if u.input_tokens > 0 {
                    self.usage.input_tokens = u.input_tokens;
                }
                if u.output_tokens > 0 {
                    self.usage.output_tokens = u.output_tokens;
                }
            }
            ChatDelta::Model(m) => {
                if !m.is_empty() {
                    self.model = m;
                }
            }
            ChatDelta::Stop(s) => self.stop = Some(s),
        }
    }

    fn malformed(&self, reason: String) -> Error {
        Error::MalformedReply {
            provider: self.provider.clone(),
            model: self.model.clone(),
            reason,
        }
    }

    /// The whole answer. Fails when no stop reason arrived or a tool call is incomplete.
    pub fn finish(self) -> Result<ChatResponse> {
        let Some(stop_reason) = self.stop.clone() else {
            return Err(self.malformed("the stream ended without a stop reason".into()));
        };
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (index, call) in &self.calls {
            if call.name.is_empty() {
                return Err(self.malformed(format!("tool call {index} has no name")));
            }
            let arguments = parse_arguments(&call.name, &call.arguments)
                .map_err(|reason| self.malformed(reason))?;
            tool_calls.push(ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments,
            });
        }
        Ok(ChatResponse {
            content: self.text,
            tool_calls,
            stop_reason,
            usage: self.usage,
            model: self.model,
            provider: self.provider,
        })
    }

    /// Reads a whole stream and assembles it.
    pub async fn collect(
        mut stream: ChatStream,
        provider: impl Into<String>,
        model: impl Into<String>,
    ) -> Result<ChatResponse> {
        let mut me = Self::new(provider, model);
        while let Some(delta) = stream.next().await {
            me.push(delta?);
        }
        me.finish()
    }
}

/// Tool arguments from their JSON text; empty text means no arguments.
pub(crate) fn parse_arguments(tool: &str, text: &str) -> std::result::Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(format!(
            "arguments of tool call {tool:?} are not a JSON object: {}",
            kind(&other)
        )),
        Err(e) => Err(format!(
            "arguments of tool call {tool:?} are not valid JSON ({e})"
        )),
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_text_and_tool_calls_in_index_order() {
        let mut a = StreamAssembler::new("openai", "gpt-4o");
        a.push(ChatDelta::Text("Hel".into()));
        a.push(ChatDelta::ToolCallStart {
            index: 1,
            id: "b".into(),
            name: "second".into(),
        });
        a.push(ChatDelta::ToolCallStart {
            index: 0,
            id: "a".into(),
            name: "first".into(),
        });
        a.push(ChatDelta::ToolCallArguments {
            index: 0,
            fragment: "{\"x\":".into(),
        });
        a.push(ChatDelta::ToolCallArguments {
            index: 0,
            fragment: "1}".into(),
        });
        a.push(ChatDelta::Text("lo".into()));
        a.push(ChatDelta::Usage(Usage {
            input_tokens: 10,
            output_tokens: 0,
        }));
        a.push(ChatDelta::Usage(Usage {
            input_tokens: 0,
            output_tokens: 4,
        }));
        a.push(ChatDelta::Stop(StopReason::ToolUse));
        let r = a.finish().unwrap();
        assert_eq!(r.content, "Hello");
        assert_eq!(r.tool_calls[0].name, "first");
        assert_eq!(r.tool_calls[0].arguments, serde_json::json!({"x": 1}));
        assert_eq!(r.tool_calls[1].arguments, serde_json::json!({}));
        assert_eq!(r.usage.total(), 14);
    }

    #[test]
    fn missing_stop_and_bad_arguments_are_malformed() {
        let a = StreamAssembler::new("claude", "m");
        let e = a.finish().unwrap_err();
        assert!(e.to_string().contains("without a stop reason"), "{e}");

        let mut a = StreamAssembler::new("claude", "m");
        a.push(ChatDelta::ToolCallStart {
            index: 0,
            id: "t".into(),
            name: "f".into(),
        });
        a.push(ChatDelta::ToolCallArguments {
            index: 0,
            fragment: "{\"a\":".into(),
        });
        a.push(ChatDelta::Stop(StopReason::ToolUse));
        let e = a.finish().unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }
}
