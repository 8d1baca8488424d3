//! The two listeners, their route tables, and the start/stop sequence: bind both,
//! serve until the shutdown signal, then stop accepting, let the agent finish or re-queue
//! its running tasks, answer the chats still waiting, and return.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use axum::serve::ListenerExt;
use kafclaw_agent::Agent;
use kafclaw_timeline::Timeline;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::guard::{Guard, guard};
use crate::metrics::Metrics;
use crate::options::{GatewayOptions, normalize_origin};
use crate::problem::ApiError;
use crate::{Error, Result, chat, dashboard, group, orchestrator};

/// Which listener a route is served on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Listener {
    /// `gateway.port` (18790): `POST /chat`.
    Api,
    /// `gateway.dashboardPort` (18791): the dashboard and its API.
    Dashboard,
}

impl Listener {
    /// `api` or `dashboard`.
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Api => "api",
            Listener::Dashboard => "dashboard",
        }
    }
}

/// One route of the gateway, as documented in `docs/openapi.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// The listener.
    pub listener: Listener,
    /// HTTP method.
    pub method: &'static str,
    /// Path template (`{id}` for a parameter, as in OpenAPI).
    pub path: &'static str,
    /// Whether it answers without the token.
    pub public: bool,
}

/// Shared state of the handlers.
pub(crate) struct App {
    pub(crate) agent: Agent,
    pub(crate) timeline: Timeline,
    pub(crate) options: GatewayOptions,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) started: Instant,
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    /// Becomes true once the agent has shut down (waiting chats then answer).
    pub(crate) agent_stopped: watch::Receiver<bool>,
    /// The agent's group membership (modes group, full, headless), once attached.
    pub(crate) group: std::sync::OnceLock<GroupHandle>,
    /// The agent's orchestrator (modes full, headless), once attached.
    pub(crate) orchestrator: std::sync::OnceLock<OrchestratorHandle>,
}

/// The group agent the gateway serves `/api/v1/group/*` from: it persists into the same
/// timeline as the agent.
pub type GroupHandle = Arc<kafclaw_group::GroupAgent<Timeline>>;

/// The orchestrator the gateway serves `/api/v1/orchestrator/*` from.
pub type OrchestratorHandle = Arc<kafclaw_orchestrator::Orchestrator>;

type Make = fn() -> MethodRouter<Arc<App>>;

/// The route table: every route of both listeners, with its handler.
const TABLE: &[(Listener, &str, &str, Make)] = &[
    (Listener::Api, "POST", "/chat", || post(chat::chat)),
    (Listener::Api, "GET", "/healthz", || get(dashboard::healthz)),
    (Listener::Dashboard, "GET", "/healthz", || {
        get(dashboard::healthz)
    }),
    (Listener::Dashboard, "GET", "/", || get(dashboard::page)),
    (Listener::Dashboard, "GET", "/assets/dashboard.js", || {
        get(dashboard::script)
    }),
    (Listener::Dashboard, "GET", "/api/v1/status", || {
        get(dashboard::status)
    }),
    (Listener::Dashboard, "GET", "/api/v1/timeline", || {
        get(dashboard::timeline)
    }),
    (Listener::Dashboard, "GET", "/api/v1/tasks", || {
        get(dashboard::tasks)
    }),
    (Listener::Dashboard, "GET", "/api/v1/tasks/{id}", || {
        get(dashboard::task)
    }),
    (Listener::Dashboard, "GET", "/api/v1/trace/{id}", || {
        get(dashboard::trace)
    }),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/policy-decisions",
        || get(dashboard::decisions),
    ),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/approvals/pending",
        || get(dashboard::pending_approvals),
    ),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/approvals/{id}",
        || post(dashboard::decide_approval),
    ),
    (Listener::Dashboard, "GET", "/api/v1/settings", || {
        get(dashboard::get_settings)
    }),
    (Listener::Dashboard, "POST", "/api/v1/settings", || {
        post(dashboard::set_setting)
    }),
    (Listener::Dashboard, "GET", "/metrics", || {
        get(dashboard::metrics)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/status", || {
        get(group::status)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/members", || {
        get(group::members)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/tasks", || {
        get(group::tasks)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/traces", || {
        get(group::traces)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/skills", || {
        get(group::skills)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/manifest", || {
        get(group::manifest)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/audit", || {
        get(group::audit)
    }),
    (Listener::Dashboard, "GET", "/api/v1/group/memory", || {
        get(group::memory_items)
    }),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/group/tasks/submit",
        || post(group::submit),
    ),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/group/skills/task",
        || post(group::skill_task),
    ),
    (Listener::Dashboard, "POST", "/api/v1/group/join", || {
        post(group::join)
    }),
    (Listener::Dashboard, "POST", "/api/v1/group/leave", || {
        post(group::leave)
    }),
    (Listener::Dashboard, "POST", "/api/v1/group/memory", || {
        post(group::share_memory)
    }),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/orchestrator/status",
        || get(orchestrator::status),
    ),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/orchestrator/hierarchy",
        || get(orchestrator::hierarchy),
    ),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/orchestrator/zones",
        || get(orchestrator::zones),
    ),
    (
        Listener::Dashboard,
        "GET",
        "/api/v1/orchestrator/agents",
        || get(orchestrator::agents),
    ),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/orchestrator/dispatch",
        || post(orchestrator::dispatch),
    ),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/orchestrator/zones",
        || post(orchestrator::create_zone),
    ),
    (
        Listener::Dashboard,
        "POST",
        "/api/v1/orchestrator/zones/{id}/members",
        || post(orchestrator::add_member),
    ),
];

/// Every route the gateway serves, on both listeners.
pub fn routes() -> Vec<Route> {
    TABLE
        .iter()
        .map(|(listener, method, path, _)| Route {
            listener: *listener,
            method,
            path,
            public: crate::guard::PUBLIC_ROUTES.contains(&(*method, *path)),
        })
        .collect()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> impl IntoResponse {
    let path = req.uri().path().to_owned();
    let allowed: Vec<&str> = TABLE
        .iter()
        .filter(|(_, _, p, _)| path_matches(p, &path))
        .map(|(_, m, _, _)| *m)
        .collect();
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {path}; use {}",
            req.method(),
            allowed.join(" or ")
        ),
    )
}

/// Whether a concrete path matches a template with `{param}` segments.
fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| (a.starts_with('{') && !b.is_empty()) || a == b)
}

fn router(listener: Listener, app: Arc<App>, guard_state: Arc<Guard>) -> Router {
    let mut by_path: BTreeMap<&str, MethodRouter<Arc<App>>> = BTreeMap::new();
    for (l, _, path, make) in TABLE {
        if *l == listener {
            let mr = by_path.remove(path).unwrap_or_default();
            by_path.insert(path, mr.merge(make()));
        }
    }
    let mut r: Router<Arc<App>> = Router::new();
    for (path, mr) in by_path {
        r = r.route(path, mr);
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(guard_state, guard))
        .with_state(app)
}

/// The running gateway: both listeners bound, not yet serving.
pub struct Gateway {
    api: TcpListener,
    dashboard: TcpListener,
    app: Arc<App>,
    agent_stopped: watch::Sender<bool>,
    origins: Vec<String>,
}

impl Gateway {
    /// Checks the options (see [`GatewayOptions::check`]) and binds both listeners.
    pub async fn bind(options: GatewayOptions, agent: Agent) -> Result<Gateway> {
        options.check()?;
        let origins = options
            .allowed_origins
            .iter()
            .map(|o| normalize_origin(o))
            .collect::<Result<Vec<_>>>()?;
        let bind = |server: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|source| Error::Bind {
                server,
                addr,
                source,
            })
        };
        let api = bind("api", options.api_addr()).await?;
        let dashboard = bind("dashboard", options.dashboard_addr()).await?;
        let (tx, rx) = watch::channel(false);
        let timeline = agent.timeline().clone();
        Ok(Gateway {
            api,
            dashboard,
            app: Arc::new(App {
                agent,
                timeline,
                options,
                metrics: Arc::new(Metrics::default()),
                started: Instant::now(),
                started_at: chrono::Utc::now(),
                agent_stopped: rx,
                group: std::sync::OnceLock::new(),
                orchestrator: std::sync::OnceLock::new(),
            }),
            agent_stopped: tx,
            origins,
        })
    }

    /// Attaches the agent's group membership: the group API answers from it and
    /// `/api/v1/status` reports the group as wired. Call before [`Gateway::serve`]; a
    /// second call is ignored.
    pub fn with_group(self, group: GroupHandle) -> Gateway {
        // Ignoring the error keeps the first attached group (documented above).
        let _ = self.app.group.set(group);
        self
    }

    /// Attaches the agent's orchestrator: the orchestrator API answers from it and
    /// `/api/v1/status` reports it as active. Call before [`Gateway::serve`]; a second
    /// call is ignored. Without one, every `/api/v1/orchestrator/*` route answers 403.
    pub fn with_orchestrator(self, orchestrator: OrchestratorHandle) -> Gateway {
        // Ignoring the error keeps the first attached orchestrator (documented above).
        let _ = self.app.orchestrator.set(orchestrator);
        self
    }

    /// Address of the API listener (`POST /chat`).
    pub fn api_addr(&self) -> SocketAddr {
        self.api
            .local_addr()
            .unwrap_or_else(|_| self.app.options.api_addr())
    }

    /// Address of the dashboard listener.
    pub fn dashboard_addr(&self) -> SocketAddr {
        self.dashboard
            .local_addr()
            .unwrap_or_else(|_| self.app.options.dashboard_addr())
    }

    /// Serves until `shutdown` completes, then: stops accepting connections, shuts the
    /// agent down with the configured grace (running tasks finish or stay queued for the
    /// next start), answers the chats still waiting (their reply, or 503 with the task id),
    /// and gives open connections up to 10 s to finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Gateway {
            api,
            dashboard,
            app,
            agent_stopped,
            origins,
        } = self;
        let token = app.options.auth_token.clone();
        let loopback_only = app.options.host.is_loopback();
        let (stop_http, stop_rx) = watch::channel(false);
        let spawn = |listener: TcpListener, which: Listener| {
            let g = Arc::new(Guard {
                server: which.as_str(),
                token: token.clone(),
                allowed_origins: origins.clone(),
                loopback_only,
                metrics: app.metrics.clone(),
            });
            let service =
                router(which, app.clone(), g).into_make_service_with_connect_info::<SocketAddr>();
            let mut rx = stop_rx.clone();
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|stop| *stop).await;
                    })
                    .await
                    .map_err(|source| Error::Serve {
                        server: which.as_str(),
                        source,
                    })
            })
        };
        let mut api_task = spawn(api, Listener::Api);
        let mut dash_task = spawn(dashboard, Listener::Dashboard);
        let mut failed: Option<Error> = None;
        let join = |r: std::result::Result<Result<()>, tokio::task::JoinError>,
                    server: &'static str| match r {
            Ok(r) => r.err(),
            Err(e) => Some(Error::Serve {
                server,
                source: std::io::Error::other(e.to_string()),
            }),
        };
        let mut api_done = false;
        let mut dash_done = false;
        tokio::select! {
            () = shutdown => {}
            r = &mut api_task => { api_done = true; failed = join(r, "api"); }
            r = &mut dash_task => { dash_done = true; failed = join(r, "dashboard"); }
        }
        tracing::info!("gateway stopping: no new connections; letting running tasks finish");
        let _ = stop_http.send(true);
        app.agent.shutdown(app.options.shutdown_grace).await;
        let _ = agent_stopped.send(true);
        let drain = Duration::from_secs(10);
        if !api_done {
            match tokio::time::timeout(drain, &mut api_task).await {
                Ok(r) => failed = failed.or(join(r, "api")),
                Err(_) => api_task.abort(),
            }
        }
        if !dash_done {
            match tokio::time::timeout(drain, &mut dash_task).await {
                Ok(r) => failed = failed.or(join(r, "dashboard")),
                Err(_) => dash_task.abort(),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl App {
    /// Whether a bearer token is configured.
    pub(crate) fn token_configured(&self) -> bool {
        self.options.auth_token.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_is_unique_and_public_routes_exist() {
        let rs = routes();
        let mut seen = std::collections::BTreeSet::new();
        for r in &rs {
            assert!(seen.insert((r.listener, r.method, r.path)), "{r:?} twice");
        }
        for (m, p) in crate::guard::PUBLIC_ROUTES {
            assert!(
                rs.iter()
                    .any(|r| r.method == *m && r.path == *p && r.public),
                "{p}"
            );
        }
        assert!(!rs.iter().any(|r| r.path == "/chat" && r.public));
    }

    /// Every route is in `docs/openapi.json` with the right listener and security, and
    /// every documented operation is a route.
    #[test]
    fn openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/openapi.json")).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in paths {
            let servers: Vec<String> = item
                .get("servers")
                .or(doc.get("servers"))
                .and_then(|s| s.as_array())
                .unwrap()
                .iter()
                .map(|s| s["url"].as_str().unwrap().to_owned())
                .collect();
            for (method, op) in item.as_object().unwrap() {
                if method == "servers" || method == "parameters" {
                    continue;
                }
                let public = op
                    .get("security")
                    .is_some_and(|s| s.as_array().unwrap().is_empty());
                for url in &servers {
                    let listener = if url.ends_with(":18790") {
                        Listener::Api
                    } else {
                        Listener::Dashboard
                    };
                    documented.insert((listener, method.to_uppercase(), path.clone(), public));
                }
            }
        }
        let served: std::collections::BTreeSet<_> = routes()
            .into_iter()
            .map(|r| (r.listener, r.method.to_owned(), r.path.to_owned(), r.public))
            .collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served but not documented: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "documented but not served: {unserved:?}"
        );
    }

    /// Every API path the dashboard script calls is a dashboard route (a literal ending
    /// in `/` is followed by an id in the script).
    #[test]
    fn dashboard_script_calls_only_served_routes() {
        let script = include_str!("assets/dashboard.js");
        let rs = routes();
        let mut called = Vec::new();
        for (at, _) in script.match_indices("\"/api/v1/") {
            let rest = &script[at + 1..];
            let end = rest.find(['"', '?']).unwrap();
            let mut path = rest[..end].to_owned();
            if path.ends_with('/') {
                path.push_str("some-id");
            }
            assert!(
                rs.iter()
                    .any(|r| r.listener == Listener::Dashboard && path_matches(r.path, &path)),
                "the script calls {path}, which is not a route"
            );
            called.push(path);
        }
        for p in [
            "/api/v1/status",
            "/api/v1/group/members",
            "/api/v1/orchestrator/agents",
            "/api/v1/orchestrator/zones",
        ] {
            assert!(called.iter().any(|c| c == p), "{p} not called: {called:?}");
        }
    }

    #[test]
    fn templates_match_paths() {
        assert!(path_matches("/api/v1/tasks/{id}", "/api/v1/tasks/abc"));
        assert!(!path_matches("/api/v1/tasks/{id}", "/api/v1/tasks/"));
        assert!(!path_matches("/api/v1/tasks/{id}", "/api/v1/tasks"));
        assert!(path_matches("/chat", "/chat"));
    }
}
