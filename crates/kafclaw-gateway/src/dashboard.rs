//! The dashboard listener's handlers: status, timeline, tasks, traces, policy decisions,
//! approvals, settings, metrics, health, and the static dashboard page.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kafclaw_timeline::{
    ApprovalFilter, ApprovalStatus, DEFAULT_LIMIT, DecisionFilter, EventFilter, GroupSpanFilter,
    Setting, SettingKey, TaskFilter, TaskStatus,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::chat::{is_json, read_body};
use crate::guard::Caller;
use crate::metrics::Gauges;
use crate::problem::{ApiError, agent_error, timeline_error};
use crate::query::{MAX_LIMIT, Params, parse_outcome};
use crate::server::App;

pub(crate) type Q = Result<Query<Vec<(String, String)>>, QueryRejection>;
pub(crate) type ApiResult = Result<Response, ApiError>;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
/// Longest id accepted in a path.
const MAX_ID_LEN: usize = 200;

pub(crate) fn params(q: Q, accepted: &[&str]) -> Result<Params, ApiError> {
    let pairs = q
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))?
        .0;
    Params::new(pairs, accepted)
}

fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} id must be 1 to {MAX_ID_LEN} printable characters"
        )));
    }
    Ok(())
}

pub(crate) fn page_json(key: &str, items: Value, limit: Option<u32>, offset: u32) -> Response {
    Json(json!({ key: items, "limit": limit.unwrap_or(DEFAULT_LIMIT), "offset": offset }))
        .into_response()
}

pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal("encoding the answer", &e))
}

/// `GET /healthz` (both listeners): `ok` while the gateway serves.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /`: the dashboard page (static; it asks for the token when the API wants one).
pub(crate) async fn page() -> Response {
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    res
}

/// `GET /assets/dashboard.js`: the page's script.
pub(crate) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// `GET /api/v1/status`: version, mode, agent id, uptime, group and orchestrator state.
pub(crate) async fn status(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    params(q, &[])?;
    let mode = app.options.mode;
    let group = match app.group.get() {
        Some(g) => {
            let mut v = crate::group::summary(g);
            if let Some(o) = v.as_object_mut() {
                o.insert("enabled".into(), json!(true));
                o.insert("wired".into(), json!(true));
                o.insert(
                    "detail".into(),
                    json!("the Kafka group is attached: see /api/v1/group/status"),
                );
            }
            v
        }
        None => json!({
            "enabled": mode.uses_group(),
            "wired": false,
            "detail": crate::group::not_attached_reason(&app),
        }),
    };
    let attached = app.orchestrator.get();
    let orchestrator = match attached {
        Some(o) => {
            let mut v = crate::orchestrator::summary(o);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("enabled".into(), json!(true));
                obj.insert("wired".into(), json!(true));
                obj.insert(
                    "detail".into(),
                    json!("the orchestrator is attached: see /api/v1/orchestrator/status"),
                );
            }
            v
        }
        None => json!({
            "enabled": mode.uses_orchestrator(),
            "wired": false,
            "detail": crate::orchestrator::not_attached_reason(&app),
        }),
    };
    Ok(Json(json!({
        "version": app.options.version,
        "mode": mode.as_str(),
        "agent_id": app.options.agent_id,
        "started_at": app.started_at,
        "uptime_seconds": app.started.elapsed().as_secs(),
        "auth_required": app.token_configured(),
        "group_enabled": mode.uses_group() || app.group.get().is_some(),
        "orchestrator_enabled": mode.uses_orchestrator() || attached.is_some(),
        "orchestrator_active": attached.is_some_and(|o| o.status().active),
        "group": group,
        "orchestrator": orchestrator,
    }))
    .into_response())
}

/// `GET /api/v1/timeline`: events, newest first.
pub(crate) async fn timeline(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let p = params(
        q,
        &[
            "sender",
            "trace_id",
            "channel",
            "event_type",
            "limit",
            "offset",
        ],
    )?;
    let filter = EventFilter {
        sender: p.text("sender")?,
        trace_id: p.text("trace_id")?,
        channel: p.text("channel")?,
        event_type: p.text("event_type")?,
        limit: p.limit()?,
        offset: p.offset()?,
        ..EventFilter::default()
    };
    let events = app
        .timeline
        .list_events(&filter)
        .await
        .map_err(|e| timeline_error("listing events", e))?;
    Ok(page_json(
        "events",
        to_value(&events)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/tasks`: tasks, newest first.
pub(crate) async fn tasks(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let p = params(
        q,
        &[
            "status", "channel", "sender", "trace_id", "session", "limit", "offset",
        ],
    )?;
    let filter = TaskFilter {
        status: p.parsed::<TaskStatus>("status")?,
        channel: p.text("channel")?,
        sender: p.text("sender")?,
        trace_id: p.text("trace_id")?,
        session_key: p.text("session")?,
        limit: p.limit()?,
        offset: p.offset()?,
        ..TaskFilter::default()
    };
    let tasks = app
        .timeline
        .list_tasks(&filter)
        .await
        .map_err(|e| timeline_error("listing tasks", e))?;
    Ok(page_json(
        "tasks",
        to_value(&tasks)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/tasks/{id}`.
pub(crate) async fn task(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q) -> ApiResult {
    params(q, &[])?;
    check_id("task", &id)?;
    match app
        .timeline
        .get_task(&id)
        .await
        .map_err(|e| timeline_error("reading a task", e))?
    {
        Some(t) => Ok(Json(t).into_response()),
        None => Err(ApiError::not_found(format!("task {id} not found"))),
    }
}

/// `GET /api/v1/trace/{id}`: everything recorded under one trace id.
pub(crate) async fn trace(State(app): State<Arc<App>>, Path(id): Path<String>, q: Q) -> ApiResult {
    params(q, &[])?;
    check_id("trace", &id)?;
    let tl = &app.timeline;
    let err = |what| move |e| timeline_error(what, e);
    let tasks = tl
        .list_tasks(&TaskFilter {
            trace_id: Some(id.clone()),
            limit: Some(MAX_LIMIT),
            ..TaskFilter::default()
        })
        .await
        .map_err(err("listing the trace's tasks"))?;
    let events = tl
        .trace_events(&id)
        .await
        .map_err(err("listing the trace's events"))?;
    let decisions = tl
        .list_decisions(&DecisionFilter {
            trace_id: Some(id.clone()),
            limit: Some(MAX_LIMIT),
            ..DecisionFilter::default()
        })
        .await
        .map_err(err("listing the trace's policy decisions"))?;
    let approvals = tl
        .list_approvals(&ApprovalFilter {
            trace_id: Some(id.clone()),
            limit: Some(MAX_LIMIT),
            ..ApprovalFilter::default()
        })
        .await
        .map_err(err("listing the trace's approvals"))?;
    let spans = tl
        .list_group_spans(&GroupSpanFilter {
            trace_id: Some(id.clone()),
            limit: Some(MAX_LIMIT),
            ..GroupSpanFilter::default()
        })
        .await
        .map_err(err("listing the trace's group spans"))?;
    if tasks.is_empty()
        && events.is_empty()
        && decisions.is_empty()
        && approvals.is_empty()
        && spans.is_empty()
    {
        return Err(ApiError::not_found(format!(
            "nothing is recorded under trace {id}"
        )));
    }
    Ok(Json(json!({
        "trace_id": id,
        "tasks": to_value(&tasks)?,
        "events": to_value(&events)?,
        "decisions": to_value(&decisions)?,
        "approvals": to_value(&approvals)?,
        "group_spans": to_value(&spans)?,
    }))
    .into_response())
}

/// `GET /api/v1/policy-decisions`: policy decisions, newest first.
pub(crate) async fn decisions(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let p = params(
        q,
        &[
            "trace_id", "task_id", "sender", "channel", "tool", "outcome", "limit", "offset",
        ],
    )?;
    let outcome = p
        .text("outcome")?
        .map(|o| {
            parse_outcome(&o)
                .map_err(|e| ApiError::bad_request(format!("query parameter \"outcome\": {e}")))
        })
        .transpose()?;
    let filter = DecisionFilter {
        trace_id: p.text("trace_id")?,
        task_id: p.text("task_id")?,
        sender: p.text("sender")?,
        channel: p.text("channel")?,
        tool: p.text("tool")?,
        outcome,
        limit: p.limit()?,
        offset: p.offset()?,
    };
    let list = app
        .timeline
        .list_decisions(&filter)
        .await
        .map_err(|e| timeline_error("listing policy decisions", e))?;
    Ok(page_json(
        "decisions",
        to_value(&list)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/approvals/pending`: approval requests waiting for a decision.
pub(crate) async fn pending_approvals(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let p = params(q, &["trace_id", "task_id", "limit", "offset"])?;
    let filter = ApprovalFilter {
        status: Some(ApprovalStatus::Pending),
        trace_id: p.text("trace_id")?,
        task_id: p.text("task_id")?,
        limit: p.limit()?,
        offset: p.offset()?,
    };
    let list = app
        .timeline
        .list_approvals(&filter)
        .await
        .map_err(|e| timeline_error("listing approvals", e))?;
    Ok(page_json(
        "approvals",
        to_value(&list)?,
        filter.limit,
        filter.offset,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    #[serde(alias = "approved")]
    approve: Option<bool>,
}

/// Reads a JSON body: 415 for another content type, 413 above the limit, 400 with the
/// parser's reason (unknown fields named).
async fn json_body<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_json(ct) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type must be application/json, got {}",
                ct.map_or("none".to_owned(), |c| format!("{c:?}"))
            ),
        ));
    }
    let bytes = read_body(headers, body, app.options.max_body_bytes).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `POST /api/v1/approvals/{id}` with `{"approve": true|false}`.
pub(crate) async fn decide_approval(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Option<Extension<Caller>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    params(q, &[])?;
    check_id("approval", &id)?;
    let b: DecideBody = json_body(&app, &headers, body).await?;
    let approve = b
        .approve
        .ok_or_else(|| ApiError::bad_request("approve is required: true or false"))?;
    let decided_by = match caller.and_then(|c| c.0.peer) {
        Some(peer) => format!("dashboard@{}", peer.ip()),
        None => "dashboard".to_owned(),
    };
    // Answer the common refusals precisely before handing the decision to the runtime.
    match app
        .timeline
        .get_approval(&id)
        .await
        .map_err(|e| timeline_error("reading an approval", e))?
    {
        None => {
            return Err(ApiError::not_found(format!(
                "approval request {id} not found"
            )));
        }
        Some(a) if a.status != ApprovalStatus::Pending => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("approval request {id} is already {}", a.status),
            ));
        }
        Some(_) => {}
    }
    app.agent
        .decide_approval(&id, approve, &decided_by)
        .await
        .map_err(|e| agent_error("deciding an approval", e))?;
    match app
        .timeline
        .get_approval(&id)
        .await
        .map_err(|e| timeline_error("reading an approval", e))?
    {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(ApiError::not_found(format!(
            "approval request {id} not found"
        ))),
    }
}

fn masked(s: Setting) -> Setting {
    if s.secret && !s.value.is_empty() {
        Setting {
            value: kafclaw_config::MASK.to_owned(),
            ..s
        }
    } else {
        s
    }
}

fn known_keys() -> Vec<&'static str> {
    SettingKey::ALL.iter().map(|k| k.as_str()).collect()
}

/// `GET /api/v1/settings` (all set values and the known keys) or `?key=name` (one).
/// Secret values are masked.
pub(crate) async fn get_settings(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let p = params(q, &["key"])?;
    if let Some(key) = p.text("key")? {
        return match app
            .timeline
            .get_setting(&key)
            .await
            .map_err(|e| timeline_error("reading a setting", e))?
        {
            Some(s) => Ok(Json(masked(s)).into_response()),
            None => Err(ApiError::not_found(format!("setting {key} is not set"))),
        };
    }
    let list: Vec<Setting> = app
        .timeline
        .list_settings()
        .await
        .map_err(|e| timeline_error("listing settings", e))?
        .into_iter()
        .map(masked)
        .collect();
    Ok(Json(json!({ "settings": to_value(&list)?, "known_keys": known_keys() })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingBody {
    key: Option<String>,
    value: Option<Value>,
}

/// `POST /api/v1/settings` with `{"key": "...", "value": "..."}`: validated per key.
pub(crate) async fn set_setting(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    params(q, &[])?;
    let b: SettingBody = json_body(&app, &headers, body).await?;
    let key = b
        .key
        .ok_or_else(|| ApiError::bad_request("key is required"))?;
    let value = match b.value {
        Some(Value::String(s)) => s,
        Some(Value::Bool(v)) => v.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "value must be a string, a number or a boolean",
            ));
        }
        None => return Err(ApiError::bad_request("value is required")),
    };
    let stored = app
        .timeline
        .set_setting(&key, &value)
        .await
        .map_err(|e| timeline_error("storing a setting", e))?;
    tracing::info!(key = %stored.key, "setting changed through the dashboard API");
    Ok(Json(masked(stored)).into_response())
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    params(q, &[])?;
    let counts = app
        .timeline
        .count_tasks_by_status()
        .await
        .map_err(|e| timeline_error("counting tasks", e))?;
    let mut tasks_by_status: Vec<(&'static str, u64)> = [
        TaskStatus::Pending,
        TaskStatus::Processing,
        TaskStatus::Completed,
        TaskStatus::Failed,
    ]
    .into_iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    for (status, n) in counts {
        if let Some(slot) = tasks_by_status
            .iter_mut()
            .find(|(s, _)| *s == status.as_str())
        {
            slot.1 = n;
        }
    }
    let pending_approvals = app
        .timeline
        .list_approvals(&ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            limit: Some(MAX_LIMIT),
            ..ApprovalFilter::default()
        })
        .await
        .map_err(|e| timeline_error("counting approvals", e))?
        .len() as u64;
    let text = app.metrics.render(&Gauges {
        tasks_by_status,
        pending_approvals,
        uptime: app.started.elapsed(),
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let s = Setting {
            key: "whatsapp_pair_token".into(),
            value: "pair-me".into(),
            secret: true,
            updated_at: chrono::Utc::now(),
        };
        assert_eq!(masked(s).value, kafclaw_config::MASK);
        let s = Setting {
            key: "silent_mode".into(),
            value: "true".into(),
            secret: false,
            updated_at: chrono::Utc::now(),
        };
        assert_eq!(masked(s).value, "true");
    }

    #[test]
    fn page_loads_its_script_from_the_same_origin() {
        assert!(PAGE.contains("src=\"/assets/dashboard.js\""));
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
        assert!(!SCRIPT.contains("http://") && !SCRIPT.contains("https://"));
    }
}
