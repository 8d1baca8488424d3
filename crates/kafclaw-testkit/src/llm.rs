//! A scripted LLM server for provider tests: an HTTP/1.1 server on 127.0.0.1 that speaks
//! the OpenAI chat-completions or the Anthropic Messages wire format, answers each request
//! with the next [`Reply`] of its script (text, tool calls, HTTP errors with `Retry-After`,
//! malformed or truncated bodies, streamed or not, as the request asks), and records every
//! request it received. When the script runs out it answers 500 saying so.
//!
//! It is test support: no product code depends on it and it is never a provider.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Which vendor's wire format the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /v1/chat/completions` and `POST /v1/embeddings`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// A tool call in a scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedToolCall {
    /// Call id (generated when built with [`Reply::tool_call`]).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub arguments: Value,
}

/// A model answer: text and/or tool calls, token counts, and the vendor's stop reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Text (may be empty).
    pub text: String,
    /// Tool calls.
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Prompt tokens reported.
    pub input_tokens: u64,
    /// Answer tokens reported.
    pub output_tokens: u64,
    /// The vendor's stop reason as written on the wire; `None` picks the natural one
    /// (`stop`/`tool_calls` for OpenAI, `end_turn`/`tool_use` for Anthropic).
    pub stop: Option<String>,
}

/// One scripted reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A complete answer (JSON, or SSE when the request has `"stream": true`).
    Answer(Answer),
    /// An HTTP error status; an empty body becomes the vendor's error JSON.
    Status {
        /// Status code.
        code: u16,
        /// `Retry-After` header value.
        retry_after: Option<String>,
        /// Body (empty: a generated vendor error).
        body: String,
    },
    /// Status 200 with this body as `application/json`, whatever it is.
    Raw(String),
    /// The answer cut short: a non-streamed body ends in the middle of its JSON; a
    /// streamed one stops in the middle of an event, before the end marker.
    Truncated(Answer),
    /// The connection is closed without any HTTP response.
    Disconnect,
    /// The reply, sent after a pause.
    Delayed(Duration, Box<Reply>),
    /// Embedding vectors (OpenAI `/embeddings`).
    Embeddings(Vec<Vec<f32>>),
}

impl Reply {
    fn answer(text: &str, tool_calls: Vec<ScriptedToolCall>) -> Reply {
        Reply::Answer(Answer {
            text: text.to_owned(),
            tool_calls,
            input_tokens: 10,
            output_tokens: 5,
            stop: None,
        })
    }

    /// A text answer (10 tokens in, 5 out unless [`Reply::with_usage`] says otherwise).
    pub fn text(text: &str) -> Reply {
        Self::answer(text, Vec::new())
    }

    /// An answer that calls one tool.
    pub fn tool_call(name: &str, arguments: Value) -> Reply {
        Self::tool_calls("", vec![(name, arguments)])
    }

    /// An answer with optional text and several tool calls (ids `call_1`, `call_2`, ...).
    pub fn tool_calls(text: &str, calls: Vec<(&str, Value)>) -> Reply {
        let calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| ScriptedToolCall {
                id: format!("call_{}", i + 1),
                name: name.to_owned(),
                arguments,
            })
            .collect();
        Self::answer(text, calls)
    }

    /// An HTTP error with the vendor's error JSON.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: String::new(),
        }
    }

    /// 429 with `Retry-After: <value>` (seconds or an HTTP date).
    pub fn rate_limited(retry_after: &str) -> Reply {
        Reply::Status {
            code: 429,
            retry_after: Some(retry_after.to_owned()),
            body: String::new(),
        }
    }

    /// Status 200 with a body that is not what the vendor's format promises.
    pub fn malformed(body: &str) -> Reply {
        Reply::Raw(body.to_owned())
    }

    /// This answer, cut short (see [`Reply::Truncated`]).
    pub fn truncated(self) -> Reply {
        match self {
            Reply::Answer(a) => Reply::Truncated(a),
            other => other,
        }
    }

    /// This reply after `pause`.
    pub fn delayed(self, pause: Duration) -> Reply {
        Reply::Delayed(pause, Box::new(self))
    }

    /// Sets the reported token counts of an answer.
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Reply {
        if let Reply::Answer(a) | Reply::Truncated(a) = &mut self {
            a.input_tokens = input_tokens;
            a.output_tokens = output_tokens;
        }
        self
    }

    /// Sets the vendor stop reason of an answer (e.g. `length`, `max_tokens`).
    pub fn with_stop(mut self, stop: &str) -> Reply {
        if let Reply::Answer(a) | Reply::Truncated(a) = &mut self {
            a.stop = Some(stop.to_owned());
        }
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path (without the query).
    pub path: String,
    /// Headers, names lowercased (repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    /// When the request arrived.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The running server; it stops when dropped.
pub struct ScriptedLlm {
    addr: SocketAddr,
    wire: Wire,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl ScriptedLlm {
    /// Starts a server on 127.0.0.1 (a free port) that plays `script`. Must be called
    /// inside a tokio runtime.
    pub async fn start(wire: Wire, script: Vec<Reply>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            requests: Vec::new(),
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { handle(wire, st, req).await }
                    });
                    // errors here are the scripted disconnects and clients going away
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            wire,
            state,
            task,
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base to configure as `apiBase`: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The wire format.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// Appends replies to the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    /// Replies not used yet.
    pub fn remaining(&self) -> usize {
        lock(&self.state).script.len()
    }
}

impl Drop for ScriptedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The error a handler returns to make hyper drop the connection.
#[derive(Debug)]
struct Disconnect;

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted disconnect")
    }
}

impl std::error::Error for Disconnect {}

async fn handle(
    wire: Wire,
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Chunks>, Disconnect> {
    let received_at = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let bytes = match req.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Err(Disconnect),
    };
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let endpoint = match (wire, method.as_str(), path.as_str()) {
        (Wire::OpenAi, "POST", "/v1/chat/completions") => Some(Endpoint::Chat),
        (Wire::OpenAi, "POST", "/v1/embeddings") => Some(Endpoint::Embeddings),
        (Wire::Anthropic, "POST", "/v1/messages") => Some(Endpoint::Chat),
        _ => None,
    };
    let (reply, number) = {
        let mut st = lock(&state);
        st.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            headers,
            body: body.clone(),
            received_at,
        });
        let number = st.requests.len();
        let reply = if endpoint.is_some() {
            st.script.pop_front()
        } else {
            None
        };
        (reply, number)
    };
    let Some(endpoint) = endpoint else {
        return Ok(error_response(
            wire,
            404,
            None,
            &format!("scripted LLM server ({wire:?} wire): no endpoint {method} {path}"),
        ));
    };
    let Some(mut reply) = reply else {
        return Ok(error_response(
            wire,
            500,
            None,
            &format!(
                "scripted LLM server: the script has no reply left for request {number} ({method} {path})"
            ),
        ));
    };
    while let Reply::Delayed(pause, inner) = reply {
        tokio::time::sleep(pause).await;
        reply = *inner;
    }
    let ctx = Ctx {
        wire,
        number,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("scripted-model")
            .to_owned(),
        stream: body.get("stream").and_then(Value::as_bool) == Some(true),
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true),
    };
    Ok(match (endpoint, reply) {
        (_, Reply::Disconnect) => return Err(Disconnect),
        (_, Reply::Delayed(..)) => unreachable_reply(wire),
        (
            _,
            Reply::Status {
                code,
                retry_after,
                body,
            },
        ) => {
            if body.is_empty() {
                error_response(
                    wire,
                    code,
                    retry_after.as_deref(),
                    &format!("scripted error {code}"),
                )
            } else {
                response(
                    code,
                    "application/json",
                    retry_after.as_deref(),
                    vec![body.into()],
                )
            }
        }
        (_, Reply::Raw(body)) => response(200, "application/json", None, vec![body.into()]),
        (Endpoint::Embeddings, Reply::Embeddings(vectors)) => embeddings(&ctx, &vectors),
        (Endpoint::Chat, Reply::Answer(a)) => ctx.render(&a, false),
        (Endpoint::Chat, Reply::Truncated(a)) => ctx.render(&a, true),
        (Endpoint::Embeddings, other) | (Endpoint::Chat, other @ Reply::Embeddings(_)) => {
            error_response(
                wire,
                500,
                None,
                &format!(
                    "scripted LLM server: reply {other:?} does not fit request {number} ({path})"
                ),
            )
        }
    })
}

fn unreachable_reply(wire: Wire) -> Response<Chunks> {
    error_response(wire, 500, None, "scripted LLM server: nested delay")
}

#[derive(Clone, Copy)]
enum Endpoint {
    Chat,
    Embeddings,
}

struct Ctx {
    wire: Wire,
    number: usize,
    model: String,
    stream: bool,
    include_usage: bool,
}

impl Ctx {
    fn render(&self, a: &Answer, truncated: bool) -> Response<Chunks> {
        match (self.wire, self.stream) {
            (Wire::OpenAi, false) => json_body(&self.openai_json(a), truncated),
            (Wire::Anthropic, false) => json_body(&self.anthropic_json(a), truncated),
            (Wire::OpenAi, true) => sse_body(self.openai_events(a, truncated), truncated),
            (Wire::Anthropic, true) => sse_body(self.anthropic_events(a, truncated), truncated),
        }
    }

    fn openai_json(&self, a: &Answer) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if a.text.is_empty() { Value::Null } else { json!(a.text) },
        });
        if !a.tool_calls.is_empty() {
            message["tool_calls"] = Value::Array(
                a.tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": c.arguments.to_string()}})
                    })
                    .collect(),
            );
        }
        json!({
            "id": format!("chatcmpl-scripted-{}", self.number),
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": openai_stop(a)}],
            "usage": {"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens,
                      "total_tokens": a.input_tokens + a.output_tokens},
        })
    }

    fn openai_events(&self, a: &Answer, truncated: bool) -> Vec<(Option<&'static str>, String)> {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": format!("chatcmpl-scripted-{}", self.number), "object": "chat.completion.chunk",
                   "created": 0, "model": self.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string()
        };
        let mut events = vec![(
            None,
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        )];
        for piece in pieces(&a.text) {
            events.push((None, chunk(json!({"content": piece}), Value::Null)));
        }
        for (k, c) in a.tool_calls.iter().enumerate() {
            events.push((
                None,
                chunk(
                    json!({"tool_calls": [{"index": k, "id": c.id, "type": "function",
                                            "function": {"name": c.name, "arguments": ""}}]}),
                    Value::Null,
                ),
            ));
            for frag in halves(&c.arguments.to_string()) {
                events.push((
                    None,
                    chunk(
                        json!({"tool_calls": [{"index": k, "function": {"arguments": frag}}]}),
                        Value::Null,
                    ),
                ));
            }
        }
        if truncated {
            return events;
        }
        events.push((None, chunk(json!({}), json!(openai_stop(a)))));
        if self.include_usage {
            events.push((
                None,
                json!({"id": format!("chatcmpl-scripted-{}", self.number), "object": "chat.completion.chunk",
                       "created": 0, "model": self.model, "choices": [],
                       "usage": {"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens,
                                 "total_tokens": a.input_tokens + a.output_tokens}})
                .to_string(),
            ));
        }
        events.push((None, "[DONE]".to_owned()));
        events
    }

    fn anthropic_json(&self, a: &Answer) -> Value {
        let mut content = Vec::new();
        if !a.text.is_empty() {
            content.push(json!({"type": "text", "text": a.text}));
        }
        for c in &a.tool_calls {
            content.push(
                json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}),
            );
        }
        json!({
            "id": format!("msg_scripted_{}", self.number),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": anthropic_stop(a),
            "stop_sequence": null,
            "usage": {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens},
        })
    }

    fn anthropic_events(&self, a: &Answer, truncated: bool) -> Vec<(Option<&'static str>, String)> {
        let mut events = vec![
            (
                Some("message_start"),
                json!({"type": "message_start", "message": {
                    "id": format!("msg_scripted_{}", self.number), "type": "message", "role": "assistant",
                    "content": [], "model": self.model, "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": a.input_tokens, "output_tokens": 1}}})
                .to_string(),
            ),
            (Some("ping"), json!({"type": "ping"}).to_string()),
        ];
        let mut index = 0;
        if !a.text.is_empty() {
            events.push((
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "text", "text": ""}})
                .to_string(),
            ));
            for piece in pieces(&a.text) {
                events.push((
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "text_delta", "text": piece}})
                    .to_string(),
                ));
            }
            events.push((
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": index}).to_string(),
            ));
            index += 1;
        }
        for c in &a.tool_calls {
            events.push((
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": index,
                       "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}})
                .to_string(),
            ));
            for frag in halves(&c.arguments.to_string()) {
                events.push((
                    Some("content_block_delta"),
                    json!({"type": "content_block_delta", "index": index,
                           "delta": {"type": "input_json_delta", "partial_json": frag}})
                    .to_string(),
                ));
            }
            events.push((
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": index}).to_string(),
            ));
            index += 1;
        }
        if truncated {
            return events;
        }
        events.push((
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": anthropic_stop(a), "stop_sequence": null},
                   "usage": {"output_tokens": a.output_tokens}})
            .to_string(),
        ));
        events.push((
            Some("message_stop"),
            json!({"type": "message_stop"}).to_string(),
        ));
        events
    }
}

fn openai_stop(a: &Answer) -> String {
    a.stop.clone().unwrap_or_else(|| {
        if a.tool_calls.is_empty() {
            "stop".into()
        } else {
            "tool_calls".into()
        }
    })
}

fn anthropic_stop(a: &Answer) -> String {
    a.stop.clone().unwrap_or_else(|| {
        if a.tool_calls.is_empty() {
            "end_turn".into()
        } else {
            "tool_use".into()
        }
    })
}

/// Text in pieces of up to 4 characters (several deltas per answer).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

/// A string in two halves (tool arguments arrive in fragments).
fn halves(text: &str) -> Vec<String> {
    let cut = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(text.len(), |(i, _)| i);
    vec![text[..cut].to_owned(), text[cut..].to_owned()]
}

fn embeddings(ctx: &Ctx, vectors: &[Vec<f32>]) -> Response<Chunks> {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json_body(
        &json!({"object": "list", "data": data, "model": ctx.model,
                "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
        false,
    )
}

fn error_response(
    wire: Wire,
    code: u16,
    retry_after: Option<&str>,
    message: &str,
) -> Response<Chunks> {
    let body = match wire {
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": "scripted_error", "code": code}})
        }
        Wire::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        }
    };
    response(
        code,
        "application/json",
        retry_after,
        vec![body.to_string().into()],
    )
}

fn json_body(v: &Value, truncated: bool) -> Response<Chunks> {
    let mut text = v.to_string();
    if truncated {
        let cut = text
            .char_indices()
            .nth(text.chars().count() / 2)
            .map_or(text.len(), |(i, _)| i);
        text.truncate(cut);
    }
    response(200, "application/json", None, vec![text.into()])
}

/// An SSE body sent in small frames, so that events and UTF-8 characters cross frame
/// boundaries. A truncated body ends in the middle of its last event.
fn sse_body(events: Vec<(Option<&'static str>, String)>, truncated: bool) -> Response<Chunks> {
    let mut text = String::new();
    for (name, data) in &events {
        if let Some(name) = name {
            text.push_str("event: ");
            text.push_str(name);
            text.push('\n');
        }
        text.push_str("data: ");
        text.push_str(data);
        text.push_str("\n\n");
    }
    if truncated {
        let last_len = events.last().map_or(0, |(_, d)| d.len() / 2 + 2);
        let mut cut = text.len().saturating_sub(last_len);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let bytes = text.into_bytes();
    let frames = bytes.chunks(23).map(Bytes::copy_from_slice).collect();
    response(200, "text/event-stream", None, frames)
}

fn response(
    code: u16,
    content_type: &str,
    retry_after: Option<&str>,
    frames: Vec<Bytes>,
) -> Response<Chunks> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type);
    if let Some(r) = retry_after {
        b = b.header("retry-after", r);
    }
    let body = Chunks {
        frames: frames.into(),
    };
    b.body(body).unwrap_or_else(|_| {
        Response::new(Chunks {
            frames: VecDeque::new(),
        })
    })
}

/// A response body delivered as separate frames.
struct Chunks {
    frames: VecDeque<Bytes>,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.frames.pop_front().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_and_pieces_keep_every_character() {
        assert_eq!(halves("{\"a\":\"é\"}").concat(), "{\"a\":\"é\"}");
        assert_eq!(pieces("Hello, wörld").concat(), "Hello, wörld");
        assert_eq!(pieces("Hello, wörld").len(), 3);
    }

    #[test]
    fn truncated_sse_has_no_end_marker_and_cuts_the_last_event() {
        let ctx = Ctx {
            wire: Wire::OpenAi,
            number: 1,
            model: "m".into(),
            stream: true,
            include_usage: true,
        };
        let a = Answer {
            text: "hi there".into(),
            tool_calls: Vec::new(),
            input_tokens: 1,
            output_tokens: 2,
            stop: None,
        };
        let whole = ctx.openai_events(&a, false);
        assert_eq!(whole.last().map(|e| e.1.as_str()), Some("[DONE]"));
        let cut = ctx.openai_events(&a, true);
        assert!(cut.iter().all(|e| e.1 != "[DONE]"));
        assert!(cut.len() < whole.len());
    }

    #[tokio::test]
    async fn serves_records_and_reports_an_exhausted_script() {
        let server = ScriptedLlm::start(Wire::Anthropic, vec![Reply::text("hello")])
            .await
            .unwrap();
        let addr = server.addr();
        let post = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let body = r#"{"model":"claude-x","messages":[]}"#;
            let req = format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
                .await
                .unwrap();
            out
        };
        let first = post("/v1/messages").await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(first.contains(r#""text":"hello""#), "{first}");
        assert!(first.contains(r#""model":"claude-x""#), "{first}");
        let second = post("/v1/messages").await;
        assert!(second.starts_with("HTTP/1.1 500"), "{second}");
        assert!(second.contains("no reply left for request 2"), "{second}");
        let wrong = post("/v1/chat/completions").await;
        assert!(wrong.starts_with("HTTP/1.1 404"), "{wrong}");
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].header("X-Api-Key"), Some("k"));
        assert_eq!(reqs[0].body["model"], "claude-x");
        assert_eq!(server.remaining(), 0);
    }
}
