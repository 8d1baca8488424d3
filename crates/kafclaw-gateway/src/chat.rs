//! `POST /chat`: one turn with the agent, in the Go form (`?message=...&session=...`,
//! text/plain reply) or with a JSON body (`{"message", "session"}`, JSON reply).

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kafclaw_agent::{InboundMessage, TaskOutcome, TaskState};
use kafclaw_policy::TrustClass;
use serde::{Deserialize, Serialize};

use crate::guard::Caller;
use crate::problem::{ApiError, agent_error};
use crate::query::Params;
use crate::server::App;

/// Longest session key accepted.
const MAX_SESSION_LEN: usize = 128;
/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_LEN: usize = 200;

/// The JSON form of the request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    message: Option<String>,
    session: Option<String>,
}

/// The JSON form of the reply.
#[derive(Debug, Serialize)]
struct ChatReply<'a> {
    reply: &'a str,
    task_id: &'a str,
    trace_id: &'a str,
    session: &'a str,
    status: &'static str,
}

/// How the request was made, which decides how the reply is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `?message=...`: text/plain reply.
    Query,
    /// JSON body: JSON reply.
    Json,
}

/// A checked chat request.
#[derive(Debug, PartialEq)]
pub(crate) struct ChatInput {
    pub(crate) form: Form,
    pub(crate) message: String,
    pub(crate) session: Option<String>,
}

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn check_session(session: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(s) = session.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let ok = s.len() <= MAX_SESSION_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-'));
    if ok {
        Ok(Some(s))
    } else {
        Err(ApiError::bad_request(format!(
            "session must be 1 to {MAX_SESSION_LEN} characters from letters, digits and . _ : @ -, got {s:?}"
        )))
    }
}

/// Reads the request in either form; every refusal says what was wrong.
pub(crate) fn parse(
    query: Vec<(String, String)>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<ChatInput, ApiError> {
    let q = Params::new(query, &["message", "session"])?;
    let (form, message, session) = if q.text("message")?.is_some() || q.text("session")?.is_some() {
        if !body.is_empty() {
            return Err(ApiError::bad_request(
                "send the message either in the query (?message=...&session=...) or as a JSON \
                 body, not both",
            ));
        }
        (Form::Query, q.text("message")?, q.text("session")?)
    } else {
        if body.is_empty() {
            return Err(ApiError::bad_request("message is required"));
        }
        if !is_json(content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type must be application/json for a JSON body (or send \
                     ?message=... in the query), got {}",
                    content_type.map_or("none".to_owned(), |c| format!("{c:?}"))
                ),
            ));
        }
        let b: ChatBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        (Form::Json, b.message, b.session)
    };
    let message = message
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("message is required"))?;
    Ok(ChatInput {
        form,
        message,
        session: check_session(session)?,
    })
}

/// Reads a request body up to `limit` bytes: 413 above it.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the request body: {inner}"))
        }
    })
}

fn header_text(
    headers: &HeaderMap,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control) => {
                Ok(Some(s.to_owned()))
            }
            _ => Err(ApiError::bad_request(format!(
                "header {name} must be 1 to {max} printable characters"
            ))),
        },
    }
}

/// Whether a `traceparent` header has the W3C shape `00-<32 hex>-<16 hex>-<2 hex>`.
fn valid_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "pending",
        TaskState::Processing => "processing",
        TaskState::AwaitingApproval => "awaiting_approval",
        TaskState::Completed => "completed",
        TaskState::Failed => "failed",
    }
}

fn with_ids(mut res: Response, task_id: &str, trace_id: &str) -> Response {
    for (name, v) in [
        ("x-kafclaw-task-id", task_id),
        ("x-kafclaw-trace-id", trace_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            res.headers_mut().insert(name, v);
        }
    }
    res
}

fn answer(app: &App, form: Form, o: &TaskOutcome) -> Response {
    let ids = |e: ApiError| {
        e.with("task_id", o.task_id.as_str())
            .with("trace_id", o.trace_id.as_str())
            .with("session", o.session.as_str())
            .with("status", state_name(o.state))
    };
    let res = match o.state {
        TaskState::Completed => {
            app.metrics.chat_turn("completed");
            let reply = o.reply.as_deref().unwrap_or_default();
            match form {
                Form::Query => (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    reply.to_owned(),
                )
                    .into_response(),
                Form::Json => axum::Json(ChatReply {
                    reply,
                    task_id: &o.task_id,
                    trace_id: &o.trace_id,
                    session: &o.session,
                    status: "completed",
                })
                .into_response(),
            }
        }
        TaskState::Failed => {
            app.metrics.chat_turn("failed");
            let why = o
                .error
                .as_deref()
                .unwrap_or("the task failed without a reason");
            ids(ApiError::new(StatusCode::BAD_GATEWAY, why)).into_response()
        }
        other => {
            app.metrics.chat_turn("shutdown");
            ids(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the gateway is shutting down; task {} is {} and stays queued for the next start",
                    o.task_id,
                    state_name(other)
                ),
            ))
            .into_response()
        }
    };
    with_ids(res, &o.task_id, &o.trace_id)
}

/// Completes once the agent has shut down.
async fn until_stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopped| *stopped).await;
}

/// The handler.
pub(crate) async fn chat(
    State(app): State<Arc<App>>,
    caller: Option<Extension<Caller>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&app, caller.map(|c| c.0), query, &headers, body).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn run(
    app: &Arc<App>,
    caller: Option<Caller>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query = query
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))?
        .0;
    let body = read_body(headers, body, app.options.max_body_bytes).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let input = parse(query, content_type, &body)?;
    let idempotency_key = header_text(headers, "idempotency-key", MAX_IDEMPOTENCY_LEN)?;
    let traceparent = header_text(headers, "traceparent", 55)?;
    if let Some(tp) = &traceparent
        && !valid_traceparent(tp)
    {
        return Err(ApiError::bad_request(format!(
            "header traceparent must be a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>), got {tp:?}"
        )));
    }
    let owner = caller.is_some_and(|c| c.is_owner(app.token_configured()));
    let msg = InboundMessage {
        channel: "api".into(),
        sender: "api".into(),
        trust: if owner {
            TrustClass::Owner
        } else {
            TrustClass::External
        },
        session: input.session,
        content: input.message,
        idempotency_key,
        traceparent,
    };
    let submitted = app.agent.submit(msg).await.map_err(|e| {
        app.metrics.chat_turn("error");
        agent_error("queueing the chat message", e)
    })?;
    let waited = tokio::select! {
        r = app.agent.wait(&submitted.task_id, app.options.chat_timeout) => r,
        () = until_stopped(app.agent_stopped.clone()) => app.agent.outcome(&submitted.task_id).await,
    };
    match waited {
        Ok(outcome) => Ok(answer(app, input.form, &outcome)),
        Err(kafclaw_agent::Error::Timeout { task_id, waited }) => {
            app.metrics.chat_turn("timeout");
            let state = app
                .agent
                .outcome(&task_id)
                .await
                .map(|o| state_name(o.state))
                .unwrap_or("unknown");
            let e = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "task {task_id} did not finish within {}s and goes on; follow it at \
                     GET /api/v1/tasks/{task_id}",
                    waited.as_secs()
                ),
            )
            .with("task_id", task_id.as_str())
            .with("trace_id", submitted.trace_id.as_str())
            .with("session", submitted.session.as_str())
            .with("status", state);
            Ok(with_ids(e.into_response(), &task_id, &submitted.trace_id))
        }
        Err(e) => {
            app.metrics.chat_turn("error");
            Err(agent_error("waiting for the chat task", e)
                .with("task_id", submitted.task_id.as_str())
                .with("trace_id", submitted.trace_id.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn go_form() {
        let i = parse(q(&[("message", "hi"), ("session", "s-1")]), None, b"").unwrap();
        assert_eq!(
            i,
            ChatInput {
                form: Form::Query,
                message: "hi".into(),
                session: Some("s-1".into())
            }
        );
        let e = parse(q(&[("session", "s")]), None, b"").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (StatusCode::BAD_REQUEST, "message is required")
        );
        let e = parse(q(&[("message", "hi")]), JSON, br#"{"message":"x"}"#).unwrap_err();
        assert!(e.message.contains("not both"));
        let e = parse(q(&[("msg", "hi")]), None, b"").unwrap_err();
        assert!(e.message.contains("\"msg\""));
    }

    #[test]
    fn json_form() {
        let i = parse(
            vec![],
            Some("application/json; charset=utf-8"),
            br#"{"message":"hello"}"#,
        )
        .unwrap();
        assert_eq!(
            (i.form, i.message.as_str(), i.session),
            (Form::Json, "hello", None)
        );
        let e = parse(vec![], JSON, br#"{"message":"   "}"#).unwrap_err();
        assert_eq!(e.message, "message is required");
        let e = parse(vec![], JSON, br#"{"session":"a"}"#).unwrap_err();
        assert_eq!(e.message, "message is required");
        let e = parse(vec![], JSON, br#"{"message":"x","sesion":"a"}"#).unwrap_err();
        assert!(
            e.message.contains("unknown field `sesion`"),
            "{}",
            e.message
        );
        let e = parse(vec![], JSON, br#"{"message":5}"#).unwrap_err();
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let e = parse(vec![], JSON, b"{not json").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse(vec![], None, b"").unwrap_err();
        assert_eq!(e.message, "message is required");
    }

    #[test]
    fn wrong_content_type_is_415() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let e = parse(vec![], ct, br#"{"message":"x"}"#).unwrap_err();
            assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
            assert!(e.message.contains("application/json"));
        }
    }

    #[test]
    fn sessions_are_checked() {
        for bad in ["../etc", "a b", "x".repeat(129).as_str(), "ü"] {
            let e = parse(q(&[("message", "m"), ("session", bad)]), None, b"").unwrap_err();
            assert!(
                e.message.starts_with("session must be"),
                "{bad}: {}",
                e.message
            );
        }
        let i = parse(
            q(&[("message", "m"), ("session", "api:user@host_1.x-y")]),
            None,
            b"",
        )
        .unwrap();
        assert_eq!(i.session.as_deref(), Some("api:user@host_1.x-y"));
    }

    #[test]
    fn traceparent_shape() {
        assert!(valid_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        assert!(!valid_traceparent("00-xyz-b7ad6b7169203331-01"));
        assert!(!valid_traceparent("garbage"));
    }
}
