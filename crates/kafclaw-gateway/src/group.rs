//! `/api/v1/group/*`: the agent's Kafka group seen and driven from the dashboard API —
//! status, roster, delegations, spans, skills, manifest, audit and memory, plus task
//! submission, skill tasks, join, leave and memory sharing. Without an attached group
//! (standalone mode) every route answers 403 with the reason.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kafclaw_group::{Member, MemoryShare, TaskSpec};
use kafclaw_timeline::{DelegationFilter, GroupAuditFilter, GroupSpanFilter};
use serde_json::{Map, Value, json};

use crate::chat::{is_json, read_body};
use crate::dashboard::{ApiResult, Q, page_json, params, to_value};
use crate::problem::{ApiError, timeline_error};
use crate::server::{App, GroupHandle};

/// Longest agent id or skill name accepted in a body.
const MAX_NAME_LEN: usize = 200;
/// Longest title of a shared memory item.
const MAX_TITLE_LEN: usize = 500;
/// Most tags on a shared memory item.
const MAX_TAGS: usize = 32;
/// Longest `timeout_secs` of a submitted task (one hour).
pub(crate) const MAX_TASK_TIMEOUT_SECS: u64 = 3600;
/// Longest `ttl_secs` of a context memory item (30 days).
const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

/// The reason every group route gives when no group is attached.
pub(crate) fn not_attached_reason(app: &App) -> &'static str {
    if app.options.mode.uses_group() {
        "no Kafka group is attached to this gateway: the group layer did not start"
    } else {
        "standalone mode: no Kafka group"
    }
}

/// The attached group, or 403 with the reason.
fn attached(app: &App) -> Result<&GroupHandle, ApiError> {
    app.group
        .get()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, not_attached_reason(app)))
}

/// Maps a group error to an answer: bad arguments are the caller's (400), state conflicts
/// 409, timeouts 504, the group's or the broker's refusals 502, the rest ours.
fn group_error(what: &str, err: kafclaw_group::Error) -> ApiError {
    use kafclaw_group::Error as E;
    let msg = err.to_string();
    match err {
        E::Invalid { .. } | E::InvalidGroupName { .. } | E::DelegationTooDeep { .. } => {
            ApiError::bad_request(msg)
        }
        E::AlreadyJoined { .. } | E::NotJoined { .. } => ApiError::new(StatusCode::CONFLICT, msg),
        E::TaskTimeout { task_id, .. } => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, msg).with("task_id", task_id)
        }
        E::OnboardingTimeout { .. } => ApiError::new(StatusCode::GATEWAY_TIMEOUT, msg),
        E::OnboardingRejected { .. }
        | E::Connect { .. }
        | E::Kafka { .. }
        | E::UnknownTopic { .. }
        | E::Lfs { .. }
        | E::Config { .. } => ApiError::new(StatusCode::BAD_GATEWAY, format!("{what}: {msg}")),
        E::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what}: the group agent is shut down"),
        ),
        other => ApiError::internal(what, &other),
    }
}

// ---------------------------------------------------------------- bodies

/// A JSON object body whose fields are checked one by one, so that every refusal names
/// the field (serde's own messages do not). Shared with the orchestrator API.
pub(crate) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// Reads the body: 415 for another content type, 413 above the limit, 400 for
    /// invalid JSON, a non-object, or a field outside `accepted` (named). An empty body
    /// is an empty object when `empty_ok`.
    pub(crate) async fn read(
        app: &App,
        headers: &HeaderMap,
        body: Body,
        accepted: &[&str],
        empty_ok: bool,
    ) -> Result<Fields, ApiError> {
        let bytes = read_body(headers, body, app.options.max_body_bytes).await?;
        if bytes.is_empty() && empty_ok {
            return Ok(Fields { map: Map::new() });
        }
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
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        if let Some(k) = map.keys().find(|k| !accepted.contains(&k.as_str())) {
            let list = if accepted.is_empty() {
                "this endpoint takes no fields".to_owned()
            } else {
                format!("accepted: {}", accepted.join(", "))
            };
            return Err(ApiError::bad_request(format!(
                "unknown field {k:?}; {list}"
            )));
        }
        Ok(Fields { map })
    }

    /// A string field; absent, `null` and blank count as absent.
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::bad_request(format!(
                "field {key:?} must be a string, got {}",
                kind(other)
            ))),
        }
    }

    /// A short name (agent id, skill): 1 to 200 printable characters.
    pub(crate) fn name(&self, key: &str) -> Result<Option<String>, ApiError> {
        let v = self.text(key)?;
        if let Some(s) = &v
            && (s.len() > MAX_NAME_LEN || s.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(ApiError::bad_request(format!(
                "field {key:?} must be 1 to {MAX_NAME_LEN} characters without spaces or control \
                 characters, got {s:?}"
            )));
        }
        Ok(v)
    }

    /// A short printable value (spaces allowed): at most 200 bytes, no control characters.
    pub(crate) fn short(&self, key: &str) -> Result<Option<String>, ApiError> {
        let v = self.text(key)?;
        if let Some(s) = &v
            && (s.len() > MAX_NAME_LEN || s.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "field {key:?} must be at most {MAX_NAME_LEN} bytes without control characters"
            )));
        }
        Ok(v)
    }

    /// A skill name, validated as the group validates it (no dots).
    pub(crate) fn skill(&self, key: &str) -> Result<Option<String>, ApiError> {
        let v = self.name(key)?;
        if let Some(s) = &v {
            kafclaw_envelope::SkillName::new(s.clone())
                .map_err(|e| ApiError::bad_request(format!("field {key:?}: {e}")))?;
        }
        Ok(v)
    }

    /// A whole number of seconds from 1 to `max`.
    pub(crate) fn seconds(&self, key: &str, max: u64) -> Result<Option<Duration>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(s) if (1..=max).contains(&s) => Ok(Some(Duration::from_secs(s))),
                _ => Err(ApiError::bad_request(format!(
                    "field {key:?} must be a whole number of seconds from 1 to {max}, got {n}"
                ))),
            },
            Some(other) => Err(ApiError::bad_request(format!(
                "field {key:?} must be a number of seconds, got {}",
                kind(other)
            ))),
        }
    }

    /// A list of short strings.
    pub(crate) fn tags(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let bad = |why: String| ApiError::bad_request(format!("field {key:?} {why}"));
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                if items.len() > MAX_TAGS {
                    return Err(bad(format!("has more than {MAX_TAGS} entries")));
                }
                items
                    .iter()
                    .map(|t| match t {
                        Value::String(s)
                            if !s.trim().is_empty()
                                && s.len() <= MAX_NAME_LEN
                                && !s.chars().any(char::is_control) =>
                        {
                            Ok(s.clone())
                        }
                        other => Err(bad(format!(
                            "must hold non-empty strings of at most {MAX_NAME_LEN} bytes, got {other}"
                        ))),
                    })
                    .collect()
            }
            Some(other) => Err(bad(format!(
                "must be an array of strings, got {}",
                kind(other)
            ))),
        }
    }
}

impl Fields {
    /// A list of agent ids (each as [`Fields::name`] checks it), at most `max`, without
    /// repeats.
    pub(crate) fn names(&self, key: &str, max: usize) -> Result<Vec<String>, ApiError> {
        let bad = |why: String| ApiError::bad_request(format!("field {key:?} {why}"));
        let items = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(bad(format!(
                    "must be an array of agent ids, got {}",
                    kind(other)
                )));
            }
        };
        if items.len() > max {
            return Err(bad(format!("has more than {max} entries")));
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for item in items {
            let ok = match item {
                Value::String(s)
                    if !s.is_empty()
                        && s.len() <= MAX_NAME_LEN
                        && !s.chars().any(|c| c.is_control() || c.is_whitespace()) =>
                {
                    Some(s)
                }
                _ => None,
            };
            let Some(s) = ok else {
                return Err(bad(format!(
                    "must hold agent ids of 1 to {MAX_NAME_LEN} characters without spaces or \
                     control characters, got {item}"
                )));
            };
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------- views

fn member_json(m: &Member) -> Value {
    json!({
        "agent_id": m.agent_id,
        "agent_name": m.identity.agent_name,
        "role": m.role(),
        "zone": m.zone(),
        "parent": m.parent(),
        "skills": m.identity.skills,
        "capabilities": m.identity.capabilities,
        "model": m.identity.model,
        "status": m.identity.status,
        "first_seen": m.first_seen,
        "last_heartbeat": m.last_seen,
        "is_self": m.is_self,
    })
}

fn sorted_roster(group: &GroupHandle) -> Vec<Member> {
    let mut members = group.roster();
    members.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    members
}

/// The short summary `/api/v1/status` shows for an attached group.
pub(crate) fn summary(group: &GroupHandle) -> Value {
    json!({
        "group_name": group.group(),
        "agent_id": group.agent_id(),
        "joined": group.is_joined(),
        "members": group.roster().len(),
    })
}

/// `GET /api/v1/group/status`.
pub(crate) async fn status(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let roster = sorted_roster(group);
    let own = roster.iter().find(|m| m.is_self);
    // Before the first join the own entry is only in the timeline (if ever joined).
    let stored = match own {
        Some(_) => None,
        None => app
            .timeline
            .get_member(group.agent_id())
            .await
            .map_err(|e| timeline_error("reading the own roster entry", e))?,
    };
    let (role, zone) = match (own, &stored) {
        (Some(m), _) => (m.role().to_owned(), m.zone().to_owned()),
        (None, Some(s)) => (s.role.clone(), s.zone.clone().unwrap_or_default()),
        (None, None) => (String::new(), String::new()),
    };
    let lag = group.lag();
    let total_lag: i64 = lag.iter().map(|l| l.lag).sum();
    let partitions: Vec<Value> = lag
        .iter()
        .map(|l| {
            json!({
                "topic": l.topic,
                "partition": l.partition,
                "next_offset": l.next_offset,
                "high_watermark": l.high_watermark,
                "lag": l.lag,
            })
        })
        .collect();
    let admitted = group.admitted();
    let s = group.stats();
    let (c, p) = (&s.consumer, &s.protocol);
    Ok(Json(json!({
        "joined": group.is_joined(),
        "group_name": group.group(),
        "agent_id": group.agent_id(),
        "role": role,
        "zone": zone,
        "members": roster.len(),
        "provided_skills": group.provided_skills(),
        "expiry_window_seconds": group.expiry_window().as_secs_f64(),
        "onboarding": {
            "admitted": admitted.iter().any(|a| a == group.agent_id()),
            "admitted_agents": admitted,
        },
        "lag": { "total": total_lag, "partitions": partitions },
        "stats": {
            "consumer": {
                "handled": c.handled,
                "duplicates": c.duplicates,
                "malformed": c.malformed,
                "failed": c.failed,
                "gaps": c.gaps,
                "gap_records": c.gap_records,
                "retries": c.retries,
            },
            "protocol": {
                "ignored_unadmitted": p.ignored_unadmitted,
                "identity_mismatches": p.identity_mismatches,
                "duplicate_responses": p.duplicate_responses,
                "unknown_responses": p.unknown_responses,
                "claims_sent": p.claims_sent,
                "forged_claims": p.forged_claims,
                "tasks_run": p.tasks_run,
                "tasks_rejected": p.tasks_rejected,
                "onboarding_answers": p.onboarding_answers,
                "publish_failures": p.publish_failures,
                "skipped_records": p.skipped_records,
                "memory_delivered": p.memory_delivered,
                "memory_expired": p.memory_expired,
                "memory_download_retries": p.memory_download_retries,
                "memory_failures": p.memory_failures,
            },
        },
    }))
    .into_response())
}

/// `GET /api/v1/group/members`: the live roster (this agent included once joined).
pub(crate) async fn members(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let members: Vec<Value> = sorted_roster(group).iter().map(member_json).collect();
    Ok(Json(json!({
        "count": members.len(),
        "members": members,
        "expiry_window_seconds": group.expiry_window().as_secs_f64(),
    }))
    .into_response())
}

/// `GET /api/v1/group/tasks`: delegation events this agent recorded, newest first.
pub(crate) async fn tasks(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    attached(&app)?;
    let p = params(
        q,
        &[
            "task_id",
            "trace_id",
            "sender",
            "receiver",
            "event_type",
            "limit",
            "offset",
        ],
    )?;
    let filter = DelegationFilter {
        task_id: p.text("task_id")?,
        trace_id: p.text("trace_id")?,
        sender_id: p.text("sender")?,
        receiver_id: p.text("receiver")?,
        event_type: p.text("event_type")?,
        limit: p.limit()?,
        offset: p.offset()?,
    };
    let list = app
        .timeline
        .list_delegations(&filter)
        .await
        .map_err(|e| timeline_error("listing delegation events", e))?;
    Ok(page_json(
        "delegations",
        to_value(&list)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/group/traces`: group trace spans, oldest first.
pub(crate) async fn traces(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    attached(&app)?;
    let p = params(q, &["trace_id", "agent_id", "limit", "offset"])?;
    let filter = GroupSpanFilter {
        trace_id: p.text("trace_id")?,
        source_agent_id: p.text("agent_id")?,
        limit: p.limit()?,
        offset: p.offset()?,
    };
    let list = app
        .timeline
        .list_group_spans(&filter)
        .await
        .map_err(|e| timeline_error("listing group trace spans", e))?;
    Ok(page_json(
        "spans",
        to_value(&list)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/group/audit`: group audit events, newest first.
pub(crate) async fn audit(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    attached(&app)?;
    let p = params(
        q,
        &["agent_id", "event_type", "trace_id", "limit", "offset"],
    )?;
    let filter = GroupAuditFilter {
        agent_id: p.text("agent_id")?,
        action: p.text("event_type")?,
        trace_id: p.text("trace_id")?,
        limit: p.limit()?,
        offset: p.offset()?,
    };
    let list = app
        .timeline
        .list_group_audit(&filter)
        .await
        .map_err(|e| timeline_error("listing group audit events", e))?;
    Ok(page_json(
        "events",
        to_value(&list)?,
        filter.limit,
        filter.offset,
    ))
}

/// `GET /api/v1/group/skills`: the group's skills with their providers.
pub(crate) async fn skills(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let provided = group.provided_skills();
    let list: Vec<Value> = group
        .skills()
        .into_iter()
        .map(|s| {
            json!({
                "provided_here": provided.contains(&s.name),
                "name": s.name,
                "requests_topic": s.requests_topic,
                "responses_topic": s.responses_topic,
                "registered_by": s.registered_by,
                "live_providers": s.live_providers,
            })
        })
        .collect();
    Ok(Json(json!({ "skills": list, "provided": provided })).into_response())
}

/// `GET /api/v1/group/manifest`: the topic manifest as merged by this agent.
pub(crate) async fn manifest(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    Ok(Json(to_value(&group.manifest())?).into_response())
}

/// `GET /api/v1/group/memory`: shared memory items read from the group, not expired.
pub(crate) async fn memory_items(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let items = group.memory_items();
    Ok(Json(json!({ "count": items.len(), "items": to_value(&items)? })).into_response())
}

// ---------------------------------------------------------------- actions

/// What a task submission asks for.
struct Submission {
    content: String,
    description: Option<String>,
    target: Option<String>,
    skill: Option<String>,
    timeout: Duration,
}

impl Submission {
    fn spec(&self) -> TaskSpec {
        let mut spec = match &self.target {
            Some(to) => TaskSpec::to(to.clone(), self.content.clone()),
            None => TaskSpec::open(self.content.clone()),
        };
        if let Some(d) = &self.description {
            spec = spec.description(d.clone());
        }
        if let Some(s) = &self.skill {
            spec = spec.skill(s.clone());
        }
        // The deadline travels with the task: the worker does not start it once we
        // stopped waiting.
        let deadline = chrono::Duration::from_std(self.timeout)
            .ok()
            .and_then(|d| chrono::Utc::now().checked_add_signed(d));
        if let Some(d) = deadline {
            spec = spec.deadline(d);
        }
        spec.timeout(self.timeout)
    }
}

fn content_of(f: &Fields) -> Result<(String, Option<String>), ApiError> {
    let description = f.text("description")?;
    let content = match (f.text("content")?, &description) {
        (Some(c), _) => c,
        (None, Some(d)) => d.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "field \"content\" (or \"description\") is required: the task's text",
            ));
        }
    };
    Ok((content, description))
}

/// Submits and waits: 200 with the response, 502 when the worker answered `failed` or
/// `rejected` (the reason is the content), 504 when nothing came back in time.
async fn run(group: &GroupHandle, sub: Submission) -> ApiResult {
    let pending = group
        .submit_task(sub.spec())
        .await
        .map_err(|e| group_error("submitting the task", e))?;
    let task_id = pending.task_id().to_owned();
    let response = pending.wait().await.map_err(|e| {
        let mut err =
            group_error("waiting for the task's response", e).with("task_id", task_id.clone());
        if err.status == StatusCode::GATEWAY_TIMEOUT {
            err = err.with("status", "timeout");
        }
        err
    })?;
    if response.status != "completed" {
        let reason = if response.content.trim().is_empty() {
            "no reason given".to_owned()
        } else {
            response.content.clone()
        };
        let who = if response.responder_id.is_empty() {
            "the worker"
        } else {
            response.responder_id.as_str()
        };
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{who} answered {}: {reason}", response.status),
        )
        .with("task_id", task_id)
        .with("status", response.status));
    }
    Ok(Json(json!({
        "task_id": task_id,
        "responder_id": response.responder_id,
        "status": response.status,
        "content": response.content,
        "target_id": sub.target,
        "skill": sub.skill,
    }))
    .into_response())
}

/// Body fields of `POST /api/v1/group/tasks/submit`.
const SUBMIT_FIELDS: &[&str] = &[
    "content",
    "description",
    "to",
    "target_id",
    "skill",
    "timeout_secs",
];

/// `POST /api/v1/group/tasks/submit`: `{content | description, to | target_id, skill,
/// timeout_secs}`; waits for the response.
pub(crate) async fn submit(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let f = Fields::read(&app, &headers, body, SUBMIT_FIELDS, false).await?;
    let (content, description) = content_of(&f)?;
    let target = match (f.name("to")?, f.name("target_id")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give the target agent as \"to\" or \"target_id\", not both",
            ));
        }
        (a, b) => a.or(b),
    };
    let sub = Submission {
        content,
        description,
        target,
        skill: f.skill("skill")?,
        timeout: f
            .seconds("timeout_secs", MAX_TASK_TIMEOUT_SECS)?
            .unwrap_or(app.options.chat_timeout),
    };
    run(group, sub).await
}

/// `POST /api/v1/group/skills/task`: `{skill, content | description, timeout_secs}`;
/// one provider of the skill claims and answers it.
pub(crate) async fn skill_task(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let f = Fields::read(
        &app,
        &headers,
        body,
        &["skill", "content", "description", "timeout_secs"],
        false,
    )
    .await?;
    let skill = f.skill("skill")?.ok_or_else(|| {
        ApiError::bad_request("field \"skill\" is required: the skill to send the task to")
    })?;
    let (content, description) = content_of(&f)?;
    let sub = Submission {
        content,
        description,
        target: None,
        skill: Some(skill),
        timeout: f
            .seconds("timeout_secs", MAX_TASK_TIMEOUT_SECS)?
            .unwrap_or(app.options.chat_timeout),
    };
    run(group, sub).await
}

fn membership(group: &GroupHandle) -> Response {
    Json(json!({
        "joined": group.is_joined(),
        "group_name": group.group(),
        "agent_id": group.agent_id(),
        "members": group.roster().len(),
    }))
    .into_response()
}

/// `POST /api/v1/group/join` (empty body or `{}`): onboards when needed and announces
/// `join`; 409 when already joined.
pub(crate) async fn join(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    Fields::read(&app, &headers, body, &[], true).await?;
    group
        .join()
        .await
        .map_err(|e| group_error("joining the group", e))?;
    tracing::info!(group = %group.group(), "joined the group through the dashboard API");
    Ok(membership(group))
}

/// `POST /api/v1/group/leave` (empty body or `{}`): announces `leave`; 409 when not joined.
pub(crate) async fn leave(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    Fields::read(&app, &headers, body, &[], true).await?;
    group
        .leave()
        .await
        .map_err(|e| group_error("leaving the group", e))?;
    tracing::info!(group = %group.group(), "left the group through the dashboard API");
    Ok(membership(group))
}

/// `POST /api/v1/group/memory`: `{title, content, tags, content_type, ttl_secs}` shares
/// an item (`memory.shared`, or `memory.context` with a time to live).
pub(crate) async fn share_memory(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let group = attached(&app)?;
    params(q, &[])?;
    let f = Fields::read(
        &app,
        &headers,
        body,
        &["title", "content", "tags", "content_type", "ttl_secs"],
        false,
    )
    .await?;
    let title = f
        .text("title")?
        .ok_or_else(|| ApiError::bad_request("field \"title\" is required"))?;
    if title.len() > MAX_TITLE_LEN || title.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "field \"title\" must be at most {MAX_TITLE_LEN} bytes without control characters"
        )));
    }
    let content = f
        .text("content")?
        .ok_or_else(|| ApiError::bad_request("field \"content\" is required"))?;
    let tags = f.tags("tags")?;
    let content_type = f.short("content_type")?;
    let ttl = f.seconds("ttl_secs", MAX_TTL_SECS)?;
    let mut share = match ttl {
        Some(ttl) => MemoryShare::context(title, content.into_bytes(), ttl),
        None => MemoryShare::new(title, content.into_bytes()),
    }
    .tags(tags);
    if let Some(ct) = content_type {
        share = share.content_type(ct);
    }
    let item = group
        .share_memory(share)
        .await
        .map_err(|e| group_error("sharing the memory item", e))?;
    Ok(Json(json!({
        "item_id": item.item_id,
        "author_id": item.author_id,
        "title": item.title,
        "content_type": item.content_type,
        "tags": item.tags,
        "topic": if ttl.is_some() { "memory.context" } else { "memory.shared" },
        "via_lfs": item.lfs_envelope.is_some(),
        "created_at": to_value(&item.created_at)?,
        "expires_at": to_value(&item.expires_at)?,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_errors_map_to_statuses_that_say_why() {
        let e = group_error(
            "x",
            kafclaw_group::Error::TaskTimeout {
                task_id: "t1".into(),
                waited: Duration::from_secs(2),
            },
        );
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.extra["task_id"], "t1");
        let e = group_error(
            "x",
            kafclaw_group::Error::NotJoined {
                group: "g".into(),
                agent_id: "a".into(),
            },
        );
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert!(e.message.contains("not a member"), "{}", e.message);
        let e = group_error(
            "x",
            kafclaw_group::Error::Invalid {
                what: "skill name",
                reason: "dots are not allowed".into(),
            },
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = group_error(
            "sharing",
            kafclaw_group::Error::Kafka {
                operation: "produce",
                topic: "t".into(),
                reason: "broker down".into(),
            },
        );
        assert_eq!(e.status, StatusCode::BAD_GATEWAY);
        assert!(e.message.starts_with("sharing: "), "{}", e.message);
    }
}
