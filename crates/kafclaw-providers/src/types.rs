//! Our own chat, embedding and audio types: what the agent loop speaks, independent of
//! any vendor's wire format (each adapter translates).

use std::fmt;

use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions for the model (Anthropic: the top-level `system` field).
    System,
    /// The person or agent asking.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call the model asked for.
    Tool,
}

impl Role {
    /// The lowercase name (`system`, `user`, `assistant`, `tool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The vendor's call id; a tool result answers it with `tool_call_id`.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments (a JSON object).
    pub arguments: Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text (may be empty for an assistant message that only calls tools).
    pub content: String,
    /// Tool calls of an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// For a [`Role::Tool`] message: the call it answers.
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::plain(Role::Assistant, content)
    }

    /// An assistant message that calls tools (text may be empty).
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::plain(Role::Assistant, content)
        }
    }

    /// The result of the tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::plain(Role::Tool, content)
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// One chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Model name as the provider knows it (no `provider/` prefix). The chain fills it in
    /// from the resolved model; callers of a [`crate::Provider`] set it themselves.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call, in a stable order (it is part of the cached prompt prefix).
    pub tools: Vec<ToolSpec>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Upper bound of answer tokens.
    pub max_tokens: Option<u32>,
    /// Whether the answer is streamed. [`crate::Provider::chat_stream`] sets it on the wire
    /// regardless; it is informational for middleware.
    pub stream: bool,
}

impl ChatRequest {
    /// A request with these messages and nothing else set.
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            model: String::new(),
            messages,
            tools: Vec::new(),
            temperature: None,
            max_tokens: None,
            stream: false,
        }
    }

    /// Sets the model name.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sets the tools.
    pub fn with_tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }

    /// Sets the answer token limit.
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the temperature.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// The answer is complete (OpenAI `stop`, Anthropic `end_turn` / `stop_sequence`).
    EndTurn,
    /// The model wants tool results (OpenAI `tool_calls`, Anthropic `tool_use`).
    ToolUse,
    /// The answer hit the token limit (OpenAI `length`, Anthropic `max_tokens`).
    MaxTokens,
    /// The vendor's content filter cut the answer (OpenAI `content_filter`, Anthropic `refusal`).
    ContentFilter,
    /// Anything else, as the vendor wrote it.
    Other(String),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::EndTurn => f.write_str("end_turn"),
            StopReason::ToolUse => f.write_str("tool_use"),
            StopReason::MaxTokens => f.write_str("max_tokens"),
            StopReason::ContentFilter => f.write_str("content_filter"),
            StopReason::Other(s) => f.write_str(s),
        }
    }
}

/// Tokens of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Prompt plus answer tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// Answer text (empty when the model only calls tools).
    pub content: String,
    /// Tool calls, in the order the model made them.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered, as the vendor names it (falls back to the requested name).
    pub model: String,
    /// The provider id that answered (e.g. `openai`, `claude`).
    pub provider: String,
}

/// A piece of a streamed answer. A [`crate::StreamAssembler`] turns the pieces into the
/// same [`ChatResponse`] a non-streamed call returns.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatDelta {
    /// More answer text.
    Text(String),
    /// A tool call begins (`index` orders the calls of one answer).
    ToolCallStart {
        /// Position of the call in the answer.
        index: usize,
        /// Vendor call id.
        id: String,
        /// Tool name.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallArguments {
        /// Which call.
        index: usize,
        /// A fragment of the JSON text.
        fragment: String,
    },
    /// Token counts so far (later values replace earlier non-zero ones).
    Usage(Usage),
    /// The model name the vendor reports.
    Model(String),
    /// Why the model stopped.
    Stop(StopReason),
}

/// Texts to embed.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    /// Embedding model name as the provider knows it.
    pub model: String,
    /// The texts, one vector each.
    pub input: Vec<String>,
}

/// Embedding vectors, in the order of the input texts.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedResponse {
    /// One vector per input text.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens used (prompt only).
    pub usage: Usage,
    /// Model that answered.
    pub model: String,
}

/// Audio to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeRequest {
    /// Model name.
    pub model: String,
    /// File name with extension (the vendor guesses the format from it).
    pub file_name: String,
    /// The audio bytes.
    pub audio: Vec<u8>,
}

/// Text to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechRequest {
    /// Model name.
    pub model: String,
    /// The text.
    pub text: String,
    /// Voice name.
    pub voice: String,
}

/// Synthesised speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// Audio bytes.
    pub audio: Vec<u8>,
    /// Their MIME type.
    pub mime_type: String,
}
