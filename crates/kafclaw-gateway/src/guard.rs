//! The request guard in front of every route of both listeners, in this order:
//! 1. Host check: a loopback-bound gateway answers only requests addressed to a
//!    loopback name (`localhost`, `127.x.x.x`, `[::1]`), which defeats DNS rebinding.
//! 2. Origin check: a request that carries an `Origin` other than the gateway's own or
//!    one on the allow-list is refused (403), preflights included; no wildcard grant is
//!    ever sent. Allowed cross-origin requests get `Access-Control-Allow-Origin: <origin>`.
//! 3. Token check: with a token configured, every route except the public ones (status,
//!    health and the static dashboard shell) needs `Authorization: Bearer <token>` (401).
//! 4. Hardening headers on every answer, and request metrics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthToken;
use crate::metrics::Metrics;
use crate::problem::ApiError;

/// Routes anyone may call, token or not: they reveal nothing a caller could abuse.
pub(crate) const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/status"),
    ("GET", "/healthz"),
    ("GET", "/"),
    ("GET", "/assets/dashboard.js"),
];

/// Who is calling; put into the request's extensions for the handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    /// The caller presented the configured token.
    pub(crate) authenticated: bool,
    /// The peer address, when known.
    pub(crate) peer: Option<SocketAddr>,
}

impl Caller {
    /// The trust rule of `POST /chat`: the owner is a caller that presented the token,
    /// or any loopback caller of a gateway that has no token (which is then bound to
    /// loopback). Everyone else is external.
    pub(crate) fn is_owner(&self, token_configured: bool) -> bool {
        self.authenticated || (!token_configured && self.peer.is_some_and(|p| p.ip().is_loopback()))
    }
}

/// The guard's configuration for one listener.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) server: &'static str,
    pub(crate) token: Option<AuthToken>,
    /// Normalised allowed origins.
    pub(crate) allowed_origins: Vec<String>,
    /// The listener is bound to a loopback address.
    pub(crate) loopback_only: bool,
    pub(crate) metrics: Arc<Metrics>,
}

/// The host part of a `Host` header value, lowercased (`[::1]:80` → `::1`).
fn host_name(host: &str) -> String {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match h.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => h,
        }
    };
    name.to_ascii_lowercase()
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Guard {
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.to_ascii_lowercase();
        if let Some(host) = host {
            let host = host.to_ascii_lowercase();
            if origin == format!("http://{host}") || origin == format!("https://{host}") {
                return true;
            }
        }
        self.allowed_origins.contains(&origin)
    }

    /// Runs the checks; `Err` is the refusal to send.
    fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<Check, ApiError> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        if self.loopback_only
            && let Some(h) = host
            && !is_loopback_name(&host_name(h))
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "host {h:?} is not allowed: this gateway listens on loopback only, so \
                     address it as 127.0.0.1 or localhost"
                ),
            ));
        }
        let origin = match headers.get(header::ORIGIN) {
            None => None,
            Some(v) => {
                let o = v.to_str().unwrap_or("<not text>");
                if !self.origin_allowed(o, host) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "cross-origin request from {o:?} refused: only the gateway's own \
                             origin and the configured allowed origins may call it"
                        ),
                    ));
                }
                Some(o.to_owned())
            }
        };
        let preflight = *method == Method::OPTIONS
            && origin.is_some()
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let public = PUBLIC_ROUTES
            .iter()
            .any(|(m, p)| *m == method.as_str() && *p == path);
        let authenticated = match &self.token {
            None => false,
            Some(token) => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| token.verify_header(v)),
        };
        if self.token.is_some() && !authenticated && !public && !preflight {
            let why = if headers.contains_key(header::AUTHORIZATION) {
                "invalid token"
            } else {
                "missing token"
            };
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("{why}: send the gateway's auth token as 'Authorization: Bearer <token>'"),
            ));
        }
        Ok(Check {
            origin,
            preflight,
            authenticated,
        })
    }
}

struct Check {
    origin: Option<String>,
    preflight: bool,
    authenticated: bool,
}

fn harden(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// The middleware: checks, then the route, then headers and metrics.
pub(crate) async fn guard(State(g): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut res = match g.check(&method, req.uri().path(), req.headers()) {
        Err(refusal) => refusal.into_response(),
        Ok(check) if check.preflight => {
            let mut res = StatusCode::NO_CONTENT.into_response();
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, content-type, idempotency-key, traceparent",
                ),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            grant(h, check.origin.as_deref());
            res
        }
        Ok(check) => {
            req.extensions_mut().insert(Caller {
                authenticated: check.authenticated,
                peer,
            });
            let mut res = next.run(req).await;
            grant(res.headers_mut(), check.origin.as_deref());
            res
        }
    };
    harden(res.headers_mut());
    g.metrics.observe_request(
        g.server,
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// Grants an (already checked) origin; answers without an `Origin` get no CORS header.
fn grant(h: &mut HeaderMap, origin: Option<&str>) {
    if let Some(o) = origin
        && let Ok(v) = HeaderValue::from_str(o)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(token: Option<&str>, origins: &[&str], loopback: bool) -> Guard {
        Guard {
            server: "dashboard",
            token: token.and_then(AuthToken::new),
            allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            loopback_only: loopback,
            metrics: Arc::new(Metrics::default()),
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name("127.0.0.1:18791"), "127.0.0.1");
        assert_eq!(host_name("LocalHost"), "localhost");
        assert_eq!(host_name("[::1]:80"), "::1");
        assert_eq!(host_name("evil.example:18791"), "evil.example");
        assert!(is_loopback_name("127.8.9.1"));
        assert!(is_loopback_name("::1"));
        assert!(!is_loopback_name("evil.example"));
        assert!(!is_loopback_name("0.0.0.0"));
    }

    #[test]
    fn rebinding_hosts_are_refused_on_loopback() {
        let g = guard(None, &[], true);
        let h = headers(&[("host", "attacker.example:18791")]);
        let e = g.check(&Method::GET, "/api/v1/tasks", &h).err().unwrap();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("attacker.example"), "{}", e.message);
        assert!(
            g.check(
                &Method::GET,
                "/api/v1/tasks",
                &headers(&[("host", "localhost:1")])
            )
            .is_ok()
        );
        // Bound beyond loopback (with a token), names are not restricted.
        let g = guard(Some("t"), &[], false);
        let h = headers(&[("host", "agent.lan:18791"), ("authorization", "Bearer t")]);
        assert!(g.check(&Method::GET, "/api/v1/tasks", &h).is_ok());
    }

    #[test]
    fn foreign_origins_are_refused_and_own_or_listed_ones_pass() {
        let g = guard(None, &["https://ops.example.com"], true);
        for (method, path) in [
            (Method::GET, "/api/v1/tasks"),
            (Method::POST, "/chat"),
            (Method::OPTIONS, "/chat"),
        ] {
            let h = headers(&[
                ("host", "127.0.0.1:18790"),
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ]);
            let e = g.check(&method, path, &h).err().unwrap();
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert!(e.message.contains("evil.example"));
        }
        let h = headers(&[("host", "127.0.0.1:18790"), ("origin", "null")]);
        assert!(g.check(&Method::POST, "/chat", &h).is_err());
        let h = headers(&[
            ("host", "127.0.0.1:18790"),
            ("origin", "http://127.0.0.1:18790"),
        ]);
        let c = g.check(&Method::POST, "/chat", &h).ok().unwrap();
        assert_eq!(c.origin.as_deref(), Some("http://127.0.0.1:18790"));
        let h = headers(&[
            ("host", "127.0.0.1:18790"),
            ("origin", "https://OPS.example.com"),
            ("access-control-request-method", "POST"),
        ]);
        let c = g.check(&Method::OPTIONS, "/chat", &h).ok().unwrap();
        assert!(c.preflight);
    }

    #[test]
    fn token_is_required_except_on_public_routes() {
        let g = guard(Some("sekrit"), &[], true);
        let base = [("host", "127.0.0.1:1")];
        let e = g
            .check(&Method::GET, "/api/v1/tasks", &headers(&base))
            .err()
            .unwrap();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.message.contains("missing token"));
        let h = headers(&[("host", "127.0.0.1:1"), ("authorization", "Bearer nope")]);
        let e = g.check(&Method::GET, "/api/v1/tasks", &h).err().unwrap();
        assert!(e.message.contains("invalid token"));
        let h = headers(&[("host", "127.0.0.1:1"), ("authorization", "Bearer sekrit")]);
        assert!(
            g.check(&Method::GET, "/api/v1/tasks", &h)
                .ok()
                .unwrap()
                .authenticated
        );
        for (m, p) in PUBLIC_ROUTES {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(g.check(&m, p, &headers(&base)).is_ok(), "{p}");
        }
        // The public status route is public for GET only.
        assert!(
            g.check(&Method::POST, "/api/v1/status", &headers(&base))
                .is_err()
        );
    }

    #[test]
    fn owner_rule() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lan: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let c = |authenticated, peer| Caller {
            authenticated,
            peer: Some(peer),
        };
        assert!(c(false, lo).is_owner(false));
        assert!(!c(false, lan).is_owner(false));
        assert!(!c(false, lo).is_owner(true));
        assert!(c(true, lan).is_owner(true));
    }
}
