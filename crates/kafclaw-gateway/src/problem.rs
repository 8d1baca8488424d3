//! Error answers of the HTTP API: a status code and a JSON body `{"error": "..."}` that
//! says what was wrong, plus optional context fields (`task_id`, `trace_id`, ...).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) extra: Map<String, Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// 400 with the reason.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with the reason.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500; the details go to the log, the answer says only what failed.
    pub(crate) fn internal(what: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("{what}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed; see the gateway log"),
        )
    }

    /// Adds a context field to the body.
    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), Value::String(self.message));
        body.extend(self.extra);
        let mut res = (self.status, axum::Json(Value::Object(body))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kafclaw\""),
            );
        }
        res
    }
}

/// Maps a timeline error to an answer: bad input is the caller's (400), the rest is ours.
pub(crate) fn timeline_error(what: &str, err: kafclaw_timeline::Error) -> ApiError {
    use kafclaw_timeline::Error as E;
    match err {
        E::UnknownSetting { .. } | E::InvalidSetting { .. } | E::InvalidInput { .. } => {
            ApiError::bad_request(err.to_string())
        }
        E::TaskNotFound { .. } | E::ApprovalNotFound { .. } => ApiError::not_found(err.to_string()),
        E::ApprovalNotPending { .. } => ApiError::new(StatusCode::CONFLICT, err.to_string()),
        other => ApiError::internal(what, &other),
    }
}

/// Maps an agent error to an answer.
pub(crate) fn agent_error(what: &str, err: kafclaw_agent::Error) -> ApiError {
    use kafclaw_agent::Error as E;
    match err {
        E::Invalid { .. } => ApiError::bad_request(err.to_string()),
        E::NotFound { .. } => ApiError::not_found(err.to_string()),
        E::NoProvider(_) | E::ShuttingDown => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        }
        E::Timeout { ref task_id, .. } => {
            let id = task_id.clone();
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, err.to_string()).with("task_id", id)
        }
        E::Timeline(t) => timeline_error(what, t),
        other => ApiError::internal(what, &other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_errors_map_to_client_or_server_errors() {
        let e = timeline_error(
            "x",
            kafclaw_timeline::Error::UnknownSetting {
                key: "colour".into(),
                known: "silent_mode".into(),
            },
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("colour"));
        let e = timeline_error(
            "x",
            kafclaw_timeline::Error::ApprovalNotPending {
                approval_id: "a1".into(),
                status: kafclaw_timeline::ApprovalStatus::Approved,
            },
        );
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert!(e.message.contains("already approved"), "{}", e.message);
    }

    #[test]
    fn agent_errors_keep_the_task_id() {
        let e = agent_error(
            "chat",
            kafclaw_agent::Error::Timeout {
                task_id: "t-1".into(),
                waited: std::time::Duration::from_secs(3),
            },
        );
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.extra["task_id"], "t-1");
        let e = agent_error("chat", kafclaw_agent::Error::ShuttingDown);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
