//! `/api/v1/orchestrator/*`: the agent's orchestrator seen and driven from the dashboard
//! API — its status, the hierarchy, the zones and the agents it may see, plus zone
//! dispatch (waits for the member's answer), zone creation and membership. Without an
//! attached orchestrator every route answers 403 with the reason, as the group API does.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::dashboard::{ApiResult, Q, params, to_value};
use crate::group::{Fields, MAX_TASK_TIMEOUT_SECS};
use crate::problem::ApiError;
use crate::server::{App, OrchestratorHandle};

/// Most agent ids accepted in a zone's `allowed_ids`.
const MAX_ALLOWED_IDS: usize = 256;

/// The reason every orchestrator route gives when no orchestrator is attached.
pub(crate) fn not_attached_reason(app: &App) -> &'static str {
    let mode = app.options.mode;
    if mode.uses_orchestrator() {
        "no orchestrator is attached to this gateway: the orchestrator did not start"
    } else if mode.uses_group() {
        "group mode: the orchestrator is not enabled (orchestrator.enabled, or --mode full)"
    } else {
        "standalone mode: no orchestrator"
    }
}

/// The attached orchestrator, or 403 with the reason.
fn attached(app: &App) -> Result<&OrchestratorHandle, ApiError> {
    app.orchestrator
        .get()
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, not_attached_reason(app)))
}

/// Maps an orchestrator error to an answer: bad input 400, unknown zones and agents 404,
/// refusals of the zone rules 403, an existing zone 409, nobody to run a task or a
/// stopped orchestrator 503, no answer in time 504, Kafka 502, the rest ours.
fn orchestrator_error(what: &str, err: kafclaw_orchestrator::Error) -> ApiError {
    use kafclaw_orchestrator::Error as E;
    let msg = err.to_string();
    match err {
        E::Config { .. } | E::Cycle { .. } => ApiError::bad_request(msg),
        E::UnknownZone { .. } | E::UnknownAgent { .. } => ApiError::not_found(msg),
        E::NotOwner { .. } | E::NotAllowed { .. } => ApiError::new(StatusCode::FORBIDDEN, msg),
        E::ZoneExists { .. } => ApiError::new(StatusCode::CONFLICT, msg),
        E::NoMember { .. } | E::Unavailable { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg)
        }
        E::Timeout { task_id, .. } => ApiError::new(StatusCode::GATEWAY_TIMEOUT, msg)
            .with("task_id", task_id)
            .with("status", "timeout"),
        E::Group(_) => ApiError::new(StatusCode::BAD_GATEWAY, format!("{what}: {msg}")),
        other => ApiError::internal(what, &other),
    }
}

/// The short summary `/api/v1/status` shows for an attached orchestrator.
pub(crate) fn summary(orch: &OrchestratorHandle) -> Value {
    let s = orch.status();
    json!({
        "agent_id": s.agent_id,
        "role": s.role,
        "zone_id": s.zone_id,
        "active": s.active,
        "agents": s.agent_count,
        "zones": s.zone_count,
    })
}

/// A zone id as the orchestrator accepts it (it becomes part of topic names).
fn zone_id(key: &str, id: &str) -> Result<(), ApiError> {
    kafclaw_orchestrator::check_zone_id(key, id).map_err(|e| ApiError::bad_request(e.to_string()))
}

// ---------------------------------------------------------------- views

/// `GET /api/v1/orchestrator/status`.
pub(crate) async fn status(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    Ok(Json(to_value(&orch.status())?).into_response())
}

/// `GET /api/v1/orchestrator/hierarchy`: every known agent with parent and children.
pub(crate) async fn hierarchy(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    Ok(Json(to_value(&orch.hierarchy())?).into_response())
}

/// `GET /api/v1/orchestrator/zones`: every known zone with its members.
pub(crate) async fn zones(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    let zones = orch.zones();
    Ok(Json(json!({ "count": zones.len(), "zones": to_value(&zones)? })).into_response())
}

/// `GET /api/v1/orchestrator/agents`: the agents this one may see (private zones hide
/// their members from outsiders).
pub(crate) async fn agents(State(app): State<Arc<App>>, q: Q) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    let agents = orch.agents();
    Ok(Json(json!({ "count": agents.len(), "agents": to_value(&agents)? })).into_response())
}

// ---------------------------------------------------------------- actions

/// `POST /api/v1/orchestrator/dispatch`: `{description, target_zone, content,
/// timeout_secs}`; sends the task to one live member of the zone and waits for its
/// answer: 200 `completed`, 502 `failed`/`rejected`, 504 nothing in time.
pub(crate) async fn dispatch(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    let f = Fields::read(
        &app,
        &headers,
        body,
        &["description", "content", "target_zone", "timeout_secs"],
        false,
    )
    .await?;
    let zone = f.text("target_zone")?.ok_or_else(|| {
        ApiError::bad_request("field \"target_zone\" is required: the zone to send the task to")
    })?;
    zone_id("target_zone", &zone)?;
    let (description, content) = match (f.text("description")?, f.text("content")?) {
        (Some(d), Some(c)) => (d, c),
        (Some(d), None) => (d.clone(), d),
        (None, Some(c)) => (String::new(), c),
        (None, None) => {
            return Err(ApiError::bad_request(
                "field \"description\" (or \"content\") is required: the task's text",
            ));
        }
    };
    let timeout = f
        .seconds("timeout_secs", MAX_TASK_TIMEOUT_SECS)?
        .unwrap_or(app.options.chat_timeout);
    let answer = orch
        .dispatch(&zone, &description, &content, timeout)
        .await
        .map_err(|e| orchestrator_error("dispatching the task", e))?;
    if answer.status != "completed" {
        let reason = if answer.content.trim().is_empty() {
            "no reason given"
        } else {
            answer.content.as_str()
        };
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "{} (zone {}) answered {}: {reason}",
                answer.responder_id, answer.zone_id, answer.status
            ),
        )
        .with("task_id", answer.task_id)
        .with("status", answer.status));
    }
    Ok(Json(to_value(&answer)?).into_response())
}

/// `POST /api/v1/orchestrator/zones`: `{zone_id | id, name, visibility, allowed_ids}`
/// creates a zone owned by this agent and announces it: 201 with the zone.
pub(crate) async fn create_zone(
    State(app): State<Arc<App>>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    let f = Fields::read(
        &app,
        &headers,
        body,
        &["zone_id", "id", "name", "visibility", "allowed_ids"],
        false,
    )
    .await?;
    let id = match (f.text("zone_id")?, f.text("id")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give the zone as \"zone_id\" or \"id\", not both",
            ));
        }
        (Some(z), None) => {
            zone_id("zone_id", &z)?;
            z
        }
        (None, Some(z)) => {
            zone_id("id", &z)?;
            z
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "field \"zone_id\" (or \"id\") is required: letters, digits, '_' or '-'",
            ));
        }
    };
    if id == kafclaw_orchestrator::PUBLIC_ZONE {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "zone \"public\" is built in and cannot be created",
        ));
    }
    let visibility = f.text("visibility")?.ok_or_else(|| {
        ApiError::bad_request("field \"visibility\" is required: public, shared or private")
    })?;
    if !matches!(visibility.as_str(), "public" | "shared" | "private") {
        return Err(ApiError::bad_request(format!(
            "field \"visibility\" must be public, shared or private, got {visibility:?}"
        )));
    }
    let name = f.short("name")?.unwrap_or_default();
    let allowed = f.names("allowed_ids", MAX_ALLOWED_IDS)?;
    let zone = orch
        .create_zone(&id, &name, &visibility, allowed)
        .await
        .map_err(|e| orchestrator_error("creating the zone", e))?;
    tracing::info!(zone = %id, visibility = %visibility, "zone created through the dashboard API");
    Ok((StatusCode::CREATED, Json(to_value(&zone)?)).into_response())
}

/// `POST /api/v1/orchestrator/zones/{id}/members`: `{agent_id}` adds a member to a zone
/// this agent owns and announces the change: 200 with the zone.
pub(crate) async fn add_member(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    q: Q,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let orch = attached(&app)?;
    params(q, &[])?;
    zone_id("zone id in the path", &id)?;
    let f = Fields::read(&app, &headers, body, &["agent_id"], false).await?;
    let agent = f.name("agent_id")?.ok_or_else(|| {
        ApiError::bad_request("field \"agent_id\" is required: the agent to add to the zone")
    })?;
    let zone = orch
        .add_zone_member(&id, &agent)
        .await
        .map_err(|e| orchestrator_error("adding the zone member", e))?;
    tracing::info!(zone = %id, agent = %agent, "zone member added through the dashboard API");
    Ok(Json(to_value(&zone)?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafclaw_orchestrator::Error as E;

    #[test]
    fn orchestrator_errors_map_to_statuses_that_say_why() {
        let e = orchestrator_error(
            "x",
            E::Timeout {
                task_id: "t1".into(),
                zone: "red".into(),
                secs: 3,
            },
        );
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.extra["task_id"], "t1");
        assert_eq!(e.extra["status"], "timeout");
        let e = orchestrator_error(
            "x",
            E::UnknownZone {
                zone: "nowhere".into(),
            },
        );
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.contains("nowhere"), "{}", e.message);
        let e = orchestrator_error(
            "x",
            E::NotOwner {
                zone: "red".into(),
                owner: "a".into(),
            },
        );
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        let e = orchestrator_error(
            "x",
            E::ZoneExists {
                zone: "red".into(),
                owner: "a".into(),
            },
        );
        assert_eq!(e.status, StatusCode::CONFLICT);
        let e = orchestrator_error("x", E::NoMember { zone: "red".into() });
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        let e = orchestrator_error(
            "x",
            E::Config {
                key: "visibility".into(),
                reason: "bad".into(),
            },
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("visibility:"), "{}", e.message);
    }

    #[test]
    fn zone_ids_are_checked_with_the_field_named() {
        let e = zone_id("target_zone", "a.b").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("target_zone:"), "{}", e.message);
        assert!(zone_id("target_zone", "red-1").is_ok());
    }
}
