//! kafclaw-gateway: the HTTP front of a KafClaw agent. Two listeners, both on
//! 127.0.0.1 by default: the API (`POST /chat`, port 18790) turns a request into an
//! [`kafclaw_agent::InboundMessage`] and answers with the task's reply; the dashboard
//! (port 18791) serves a small web page and a read/decide API over the agent's timeline
//! (status, events, tasks, traces, policy decisions, approvals, settings) plus Prometheus
//! metrics, and, when the agent is in a Kafka group, the group API (`/api/v1/group/*`:
//! roster, delegations, spans, skills, audit, task submission, join/leave, memory) and,
//! with an orchestrator attached, the orchestrator API (`/api/v1/orchestrator/*`:
//! status, hierarchy, zones, agents, zone dispatch, zone creation and membership). A
//! bearer token, compared in constant time, is required whenever the gateway listens
//! beyond loopback; browsers get no CORS grant except for configured origins;
//! bodies and query parameters are validated with 4xx answers that say what is wrong.
//! On shutdown it stops accepting, lets the agent finish or re-queue its tasks, and
//! answers the chats still waiting.
//!
//! It is NOT the agent runtime (kafclaw-agent), the group or orchestrator protocol
//! (kafclaw-group, kafclaw-orchestrator: it only serves what they expose), a channel
//! adapter or a Kafka client, and
//! it reads configuration only through [`GatewayOptions`]. The route list it serves is
//! [`routes`]; `docs/openapi.json` documents every one of them.

mod auth;
mod chat;
mod dashboard;
mod error;
mod group;
mod guard;
mod metrics;
mod options;
mod orchestrator;
mod problem;
mod query;
mod server;

pub use auth::AuthToken;
pub use error::{Error, Result};
pub use options::{GatewayOptions, Mode};
pub use server::{Gateway, GroupHandle, Listener, OrchestratorHandle, Route, routes};
