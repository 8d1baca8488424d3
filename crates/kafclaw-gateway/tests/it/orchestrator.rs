//! `/api/v1/orchestrator/*`: the gateway's agent with a real orchestrator (A, the root
//! of the hierarchy) attached, over the real broker, and a second real orchestrator
//! (B, in-process, A's child) as the peer that runs zone tasks.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_gateway::{Mode, OrchestratorHandle};
use kafclaw_group::KafkaSettings;
use kafclaw_orchestrator::{Orchestrator, OrchestratorSettings, ZoneTask};
use kafclaw_testkit::{random_group_name, wait_until_async};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{Node, Served, WAIT, assert_valid, error_of, serve, serve_attached};

const A: &str = "orch-a";
const B: &str = "peer-b";

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|n| {
            n["agent_id"]
                .as_str()
                .or(n["zone_id"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn zone<'a>(zones: &'a Value, id: &str) -> Option<&'a Value> {
    zones["zones"]
        .as_array()
        .and_then(|z| z.iter().find(|z| z["zone_id"] == id))
}

async fn post_expect(g: &Served, path: &str, body: Value, status: StatusCode) -> Value {
    let (got, answer) = g.post(path, body.clone()).await;
    assert_eq!(got, status, "POST {path} {body}: {answer}");
    if !status.is_success() {
        assert_valid("Error", &answer);
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_orchestrator_every_orchestrator_route_is_refused() {
    for (mode, reason) in [
        (Mode::Standalone, "standalone mode: no orchestrator"),
        (
            Mode::Group,
            "group mode: the orchestrator is not enabled (orchestrator.enabled, or --mode full)",
        ),
        (
            Mode::Full,
            "no orchestrator is attached to this gateway: the orchestrator did not start",
        ),
    ] {
        let node = Node::new(vec![]).await;
        let g = serve(&node, mode, None).await;
        let mut checked = 0;
        for r in kafclaw_gateway::routes() {
            if !r.path.starts_with("/api/v1/orchestrator/") {
                continue;
            }
            let path = r.path.replace("{id}", "red");
            let (status, body) = match r.method {
                "GET" => g.get(&path).await,
                _ => {
                    g.post(&path, json!({"description": "x", "target_zone": "red"}))
                        .await
                }
            };
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{mode} {} {path}: {body}",
                r.method
            );
            assert_eq!(error_of(&body), reason);
            assert_valid("Error", &body);
            checked += 1;
        }
        assert_eq!(checked, 7, "every orchestrator route is in the table");
        let (status, body) = g.get("/api/v1/status").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["orchestrator_active"], false, "{body}");
        assert_eq!(
            body["orchestrator_enabled"],
            mode == Mode::Full,
            "{mode}: {body}"
        );
        assert_eq!(body["orchestrator"]["wired"], false, "{body}");
        assert_eq!(body["orchestrator"]["detail"], reason, "{body}");
        assert_valid("Status", &body);
        g.stop().await;
    }

    // With a token the orchestrator routes want it like the rest of the API.
    let node = Node::new(vec![]).await;
    let mut options = kafclaw_gateway::GatewayOptions::loopback(Mode::Full);
    options.auth_token = kafclaw_gateway::AuthToken::new("a-long-enough-test-token");
    let g = serve_attached(&node, options, None, None).await;
    let (status, body) = g.get("/api/v1/orchestrator/zones").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let res = g
        .http
        .get(format!("{}/api/v1/orchestrator/zones", g.dash))
        .bearer_auth("a-long-enough-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    g.stop().await;
}

/// Starts an orchestrator; B's handler answers `peer-b did: <content>`, fails on
/// content starting with `fail`, and holds content starting with `slow` until `release`
/// gets a permit.
async fn start(
    kafka: &KafkaSettings,
    settings: OrchestratorSettings,
    release: Arc<Semaphore>,
    timeline: Option<kafclaw_timeline::Timeline>,
) -> Orchestrator {
    let me = settings.agent_id.clone();
    let mut builder =
        Orchestrator::builder(kafka.clone(), settings).task_handler(move |task: ZoneTask| {
            let me = me.clone();
            let release = Arc::clone(&release);
            async move {
                if task.content.starts_with("fail") {
                    return Err(format!("{me} cannot do {:?}", task.content));
                }
                if task.content.starts_with("slow") {
                    let _permit = release.acquire().await.map_err(|e| e.to_string())?;
                }
                Ok(format!("{me} did: {}", task.content))
            }
        });
    if let Some(tl) = timeline {
        builder = builder.timeline(tl);
    }
    builder.start().await.expect("the orchestrator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orchestrator_api_against_a_real_peer() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let kafka = KafkaSettings::plaintext(&broker.brokers);
    let group = random_group_name();
    let release = Arc::new(Semaphore::new(0));
    let interval = Duration::from_secs(5);

    // A: the gateway agent's orchestrator, the root; its graph in the agent's timeline.
    let node = Node::new(vec![]).await;
    let mut sa = OrchestratorSettings::new(&group, A);
    sa.role = "orchestrator".into();
    sa.agent_name = "Orchestrator A".into();
    sa.discovery_interval = interval;
    let a: OrchestratorHandle =
        Arc::new(start(&kafka, sa, Arc::clone(&release), Some(node.timeline())).await);
    // B: the peer, a worker under A.
    let mut sb = OrchestratorSettings::new(&group, B);
    sb.parent_id = A.into();
    sb.discovery_interval = interval;
    let b = start(&kafka, sb, Arc::clone(&release), None).await;
    let g = serve_attached(
        &node,
        kafclaw_gateway::GatewayOptions::loopback(Mode::Full),
        None,
        Some(Arc::clone(&a)),
    )
    .await;

    // Discovery: both agents, B under A, seen first hand.
    let agents = g
        .get_until("both agents listed", "/api/v1/orchestrator/agents", |v| {
            ids(&v["agents"]) == [A, B]
        })
        .await;
    assert_valid("OrchestratorAgents", &agents);
    assert_eq!(agents["count"], 2);
    let peer = &agents["agents"][1];
    assert_eq!(peer["parent_id"], A, "{agents}");
    assert_eq!(peer["role"], "worker");
    assert_eq!(peer["status"], "active");
    assert_eq!(peer["first_hand"], true);
    assert!(peer["last_seen"].is_string(), "{agents}");
    assert_eq!(agents["agents"][0]["agent_name"], "Orchestrator A");
    assert!(agents["agents"][0]["last_seen"].is_null(), "{agents}");

    let (status, h) = g.get("/api/v1/orchestrator/hierarchy").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_valid("OrchestratorHierarchy", &h);
    assert_eq!(h["roots"], json!([A]), "{h}");
    assert_eq!(ids(&h["nodes"]), [A, B]);
    assert_eq!(h["nodes"][0]["children"], json!([B]), "{h}");
    assert_eq!(h["nodes"][0]["role"], "orchestrator");

    let (status, st) = g.get("/api/v1/orchestrator/status").await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_valid("OrchestratorStatus", &st);
    assert_eq!(st["agent_id"], A);
    assert_eq!(st["group"], group.as_str());
    assert_eq!(st["role"], "orchestrator");
    assert_eq!(st["active"], true);
    assert_eq!(st["agent_count"], 2);
    assert_eq!(st["discovery_interval_secs"], 5);
    assert!(
        st["stats"]["discoveries_received"].as_u64().unwrap() > 0,
        "{st}"
    );
    let (_, all) = g.get("/api/v1/status").await;
    assert_valid("Status", &all);
    assert_eq!(all["orchestrator_enabled"], true, "{all}");
    assert_eq!(all["orchestrator_active"], true, "{all}");
    assert_eq!(all["orchestrator"]["wired"], true, "{all}");
    assert_eq!(all["orchestrator"]["agent_id"], A);
    assert_eq!(all["orchestrator"]["agents"], 2);
    let (_, zones) = g.get("/api/v1/orchestrator/zones").await;
    assert_valid("OrchestratorZones", &zones);
    assert_eq!(ids(&zones["zones"]), ["public"], "{zones}");

    // A zone that does not exist yet.
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "hello", "target_zone": "red"}),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error_of(&body), "unknown zone \"red\"");

    // Create it (private, A only): B is not a member, so nobody can take a task.
    let red = post_expect(
        &g,
        "/api/v1/orchestrator/zones",
        json!({"zone_id": "red", "name": "Red team", "visibility": "private"}),
        StatusCode::CREATED,
    )
    .await;
    assert_valid("OrchestratorZone", &red);
    assert_eq!(red["owner_id"], A);
    assert_eq!(red["name"], "Red team");
    assert_eq!(red["members"], json!([A]));
    assert_eq!(red["is_member"], true);
    assert_eq!(
        red["topics"],
        json!([
            format!("group.{group}.zone.red.requests"),
            format!("group.{group}.zone.red.responses")
        ])
    );
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "hello", "target_zone": "red"}),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(error_of(&body).contains("no live member"), "{body}");
    post_expect(
        &g,
        "/api/v1/orchestrator/zones",
        json!({"id": "red", "visibility": "shared"}),
        StatusCode::CONFLICT,
    )
    .await;

    // Add B; once B knows it is a member, a task to the zone is answered by B.
    let red = post_expect(
        &g,
        "/api/v1/orchestrator/zones/red/members",
        json!({"agent_id": B}),
        StatusCode::OK,
    )
    .await;
    assert_valid("OrchestratorZone", &red);
    assert_eq!(red["members"], json!([A, B]));
    assert_eq!(red["allowed_ids"], json!([B]));
    let b_in_red = wait_until_async(WAIT, Duration::from_millis(25), || async {
        b.zones().iter().any(|z| z.zone_id == "red" && z.is_member)
    })
    .await;
    assert!(
        b_in_red,
        "B never learned it is in zone red: {:?}",
        b.zones()
    );
    let answer = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "hello zone", "target_zone": "red", "timeout_secs": 30}),
        StatusCode::OK,
    )
    .await;
    assert_valid("OrchestratorDispatchAnswer", &answer);
    assert_eq!(answer["responder_id"], B, "{answer}");
    assert_eq!(answer["zone_id"], "red");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["content"], "peer-b did: hello zone");
    // Description and content apart: the content is what runs.
    let answer = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "greeting", "content": "say hi", "target_zone": "red"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["content"], "peer-b did: say hi", "{answer}");
    assert!(b.stats().tasks_handled >= 2, "{:?}", b.stats());

    // A failing member: 502 with its reason.
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "fail please", "target_zone": "red", "timeout_secs": 30}),
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(body["status"], "failed", "{body}");
    assert!(
        error_of(&body).starts_with("peer-b (zone red) answered failed: peer-b cannot do"),
        "{body}"
    );
    // A member that does not answer in time: 504 with the task id.
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "slow one", "target_zone": "red", "timeout_secs": 1}),
        StatusCode::GATEWAY_TIMEOUT,
    )
    .await;
    assert_eq!(body["status"], "timeout", "{body}");
    assert!(body["task_id"].is_string(), "{body}");
    release.add_permits(1);

    // A zone B owns and A is not in: A can neither change it nor send tasks to it.
    b.create_zone("green", "Green", "private", vec![])
        .await
        .expect("B creates green");
    g.get_until("A knows green", "/api/v1/orchestrator/zones", |z| {
        zone(z, "green").is_some()
    })
    .await;
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/zones/green/members",
        json!({"agent_id": A}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(error_of(&body).contains("only its owner"), "{body}");
    let body = post_expect(
        &g,
        "/api/v1/orchestrator/dispatch",
        json!({"description": "sneak in", "target_zone": "green"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(error_of(&body).contains("not allowed in zone"), "{body}");

    let (_, zones) = g.get("/api/v1/orchestrator/zones").await;
    assert_valid("OrchestratorZones", &zones);
    assert_eq!(ids(&zones["zones"]), ["green", "public", "red"], "{zones}");
    let green = zone(&zones, "green").unwrap();
    assert_eq!(green["owner_id"], B);
    assert_eq!(green["is_member"], false);
    let public = zone(&zones, "public").unwrap();
    assert_eq!(public["members"], json!([A, B]));

    // Malformed requests: 400/404/409/415 naming what is wrong.
    for (path, body, status, needle) in [
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x"}),
            StatusCode::BAD_REQUEST,
            "\"target_zone\" is required",
        ),
        (
            "/api/v1/orchestrator/dispatch",
            json!({"target_zone": "red"}),
            StatusCode::BAD_REQUEST,
            "\"description\" (or \"content\") is required",
        ),
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x", "target_zone": "a.b"}),
            StatusCode::BAD_REQUEST,
            "target_zone: zone id \"a.b\"",
        ),
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x", "target_zone": 7}),
            StatusCode::BAD_REQUEST,
            "field \"target_zone\" must be a string",
        ),
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x", "target_zone": "red", "timeout_secs": 0}),
            StatusCode::BAD_REQUEST,
            "field \"timeout_secs\" must be a whole number of seconds from 1 to 3600",
        ),
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x", "target_zone": "red", "zone": "red"}),
            StatusCode::BAD_REQUEST,
            "unknown field \"zone\"",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue"}),
            StatusCode::BAD_REQUEST,
            "\"visibility\" is required",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue", "visibility": "secret"}),
            StatusCode::BAD_REQUEST,
            "field \"visibility\" must be public, shared or private, got \"secret\"",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"visibility": "shared"}),
            StatusCode::BAD_REQUEST,
            "\"zone_id\" (or \"id\") is required",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue sky", "visibility": "shared"}),
            StatusCode::BAD_REQUEST,
            "zone_id: zone id \"blue sky\"",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue", "id": "blue", "visibility": "shared"}),
            StatusCode::BAD_REQUEST,
            "not both",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue", "visibility": "shared", "allowed_ids": "peer-b"}),
            StatusCode::BAD_REQUEST,
            "field \"allowed_ids\" must be an array of agent ids",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "blue", "visibility": "shared", "allowed_ids": ["ok", ""]}),
            StatusCode::BAD_REQUEST,
            "field \"allowed_ids\" must hold agent ids",
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "public", "visibility": "public"}),
            StatusCode::CONFLICT,
            "built in",
        ),
        (
            "/api/v1/orchestrator/zones/red/members",
            json!({}),
            StatusCode::BAD_REQUEST,
            "\"agent_id\" is required",
        ),
        (
            "/api/v1/orchestrator/zones/red/members",
            json!({"agent_id": "two words"}),
            StatusCode::BAD_REQUEST,
            "field \"agent_id\" must be 1 to 200 characters",
        ),
        (
            "/api/v1/orchestrator/zones/nowhere/members",
            json!({"agent_id": B}),
            StatusCode::NOT_FOUND,
            "unknown zone \"nowhere\"",
        ),
        (
            "/api/v1/orchestrator/zones/a.b/members",
            json!({"agent_id": B}),
            StatusCode::BAD_REQUEST,
            "zone id in the path: zone id \"a.b\"",
        ),
    ] {
        let answer = post_expect(&g, path, body, status).await;
        assert!(error_of(&answer).contains(needle), "{path}: {answer}");
    }
    let (status, body) = g
        .post_raw("/api/v1/orchestrator/dispatch", "text/plain", "hello")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let (status, body) = g
        .post_raw("/api/v1/orchestrator/zones", "application/json", "[1]")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body), "the body must be a JSON object");
    let (status, body) = g.get("/api/v1/orchestrator/agents?limit=5").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).contains("limit"), "{body}");
    // Nothing refused above changed the zones.
    let (_, zones) = g.get("/api/v1/orchestrator/zones").await;
    assert_eq!(ids(&zones["zones"]), ["green", "public", "red"], "{zones}");

    // A passive (read-only) orchestrator, as the CLI runs one: attached, not active; it
    // reads the graph from the discovery window but cannot dispatch or create zones.
    let mut sc = OrchestratorSettings::new(&group, "reader-c");
    sc.passive = true;
    sc.discovery_interval = interval;
    let c: OrchestratorHandle = Arc::new(start(&kafka, sc, Arc::clone(&release), None).await);
    let node_c = Node::new(vec![]).await;
    let gc = serve_attached(
        &node_c,
        kafclaw_gateway::GatewayOptions::loopback(Mode::Full),
        None,
        Some(Arc::clone(&c)),
    )
    .await;
    let (_, all) = gc.get("/api/v1/status").await;
    assert_valid("Status", &all);
    assert_eq!(all["orchestrator_active"], false, "{all}");
    assert_eq!(all["orchestrator"]["wired"], true, "{all}");
    assert_eq!(all["orchestrator"]["active"], false, "{all}");
    let (_, st) = gc.get("/api/v1/orchestrator/status").await;
    assert_eq!(st["active"], false, "{st}");
    assert_valid("OrchestratorStatus", &st);
    gc.get_until(
        "the passive reader sees A and B",
        "/api/v1/orchestrator/hierarchy",
        |h| ids(&h["nodes"]) == [A, B, "reader-c"],
    )
    .await;
    for (path, body) in [
        (
            "/api/v1/orchestrator/dispatch",
            json!({"description": "x", "target_zone": "public"}),
        ),
        (
            "/api/v1/orchestrator/zones",
            json!({"zone_id": "mine", "visibility": "shared"}),
        ),
    ] {
        let answer = post_expect(&gc, path, body, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(error_of(&answer).contains("passive"), "{path}: {answer}");
    }
    gc.stop().await;
    c.shutdown().await;

    g.stop().await;
    a.shutdown().await;
    b.shutdown().await;
}
