//! `/api/v1/group/*`: the gateway's agent (A) attached to a real group over the real
//! broker, with a second real group agent (B, in-process) as its peer: B answers tasks
//! with an echo handler and provides a skill.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_envelope::{AuditPayload, TracePayload};
use kafclaw_gateway::{AuthToken, GatewayOptions, GroupHandle, Mode};
use kafclaw_group::{GroupAgent, IncomingTask, KafkaSettings};
use kafclaw_testkit::{random_group_name, random_suffix, wait_until_async};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Node, WAIT, assert_valid, error_of, serve, serve_with};

const SKILL: &str = "echo-skill";

fn member_ids(body: &Value) -> Vec<String> {
    body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {body}"))
        .iter()
        .map(|m| m["agent_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn peer_sees(peer: &GroupAgent, agent_id: &str, present: bool) -> bool {
    wait_until_async(WAIT, Duration::from_millis(20), || async {
        peer.roster().iter().any(|m| m.agent_id == agent_id) == present
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_gateway_refuses_every_group_route() {
    let node = Node::new(vec![]).await;
    let g = serve(&node, Mode::Standalone, None).await;
    for r in kafclaw_gateway::routes() {
        if !r.path.starts_with("/api/v1/group/") {
            continue;
        }
        let (status, body) = match r.method {
            "GET" => g.get(r.path).await,
            _ => g.post(r.path, json!({"content": "x"})).await,
        };
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{} {}: {body}",
            r.method,
            r.path
        );
        assert_eq!(error_of(&body), "standalone mode: no Kafka group");
        assert_valid("Error", &body);
    }
    let (status, body) = g.get("/api/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["group"]["wired"], false, "{body}");
    assert_eq!(body["group"]["enabled"], false, "{body}");
    assert_valid("Status", &body);
    g.stop().await;

    // Group mode whose group layer did not start: refused with that reason.
    let node = Node::new(vec![]).await;
    let g = serve(&node, Mode::Group, None).await;
    let (status, body) = g.get("/api/v1/group/members").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        error_of(&body).contains("no Kafka group is attached"),
        "{body}"
    );
    let (_, body) = g.get("/api/v1/status").await;
    assert_eq!(body["group"]["enabled"], true, "{body}");
    assert_eq!(body["group"]["wired"], false, "{body}");
    g.stop().await;

    // With a token the group routes want it like the rest of the API.
    let node = Node::new(vec![]).await;
    let mut options = GatewayOptions::loopback(Mode::Standalone);
    options.auth_token = AuthToken::new("a-long-enough-test-token");
    let g = serve_with(&node, options, None).await;
    let (status, body) = g.get("/api/v1/group/status").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let res = g
        .http
        .get(format!("{}/api/v1/group/status", g.dash))
        .bearer_auth("a-long-enough-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_api_against_a_real_peer() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let settings = KafkaSettings::plaintext(&broker.brokers);
    let group_name = random_group_name();
    let beat = Duration::from_secs(2);

    // B: the peer, with an echo handler (content starting with "fail" fails) and a skill.
    let peer = GroupAgent::builder(settings.clone(), &group_name, "peer-b")
        .role("worker")
        .zone("eu")
        .heartbeat_interval(beat)
        .skills([SKILL])
        .task_handler(|task: IncomingTask| async move {
            if task.content().starts_with("fail") {
                Err(format!("peer-b cannot do {:?}", task.content()))
            } else {
                Ok(format!("echo: {}", task.content()))
            }
        })
        .build()
        .await
        .expect("build peer-b");
    peer.join().await.expect("peer-b joins");

    // A: the gateway's agent, its group state in the agent's own timeline.
    let node = Node::new(vec![]).await;
    let a: GroupHandle = Arc::new(
        GroupAgent::builder(settings.clone(), &group_name, "agent-a")
            .role("coordinator")
            .heartbeat_interval(beat)
            .store(Arc::new(node.timeline()))
            .build()
            .await
            .expect("build agent-a"),
    );
    let g = serve(&node, Mode::Group, Some(a.clone())).await;

    // Before joining: attached, not joined; only the peer is in the roster.
    let (status, st) = g.get("/api/v1/group/status").await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_eq!(st["joined"], false, "{st}");
    assert_valid("GroupStatus", &st);
    assert_eq!(st["group_name"], group_name.as_str());
    assert_eq!(st["agent_id"], "agent-a");

    // Join through the API: both appear, with roles, zone, skills and heartbeats.
    let (status, body) = g.post("/api/v1/group/join", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["joined"], true);
    assert_valid("GroupMembership", &body);
    let members = g
        .get_until("both members listed", "/api/v1/group/members", |b| {
            member_ids(b) == ["agent-a", "peer-b"]
        })
        .await;
    assert_valid("GroupMembers", &members);
    let b = &members["members"][1];
    assert_eq!(b["role"], "worker", "{members}");
    assert_eq!(b["zone"], "eu");
    assert_eq!(b["skills"], json!([SKILL]));
    assert_eq!(b["is_self"], false);
    assert!(b["last_heartbeat"].is_string(), "{members}");
    assert_eq!(members["members"][0]["is_self"], true);
    assert_eq!(members["members"][0]["role"], "coordinator");
    assert!(
        peer_sees(&peer, "agent-a", true).await,
        "peer-b never saw agent-a"
    );
    let (_, st) = g.get("/api/v1/group/status").await;
    assert_eq!(st["joined"], true, "{st}");
    assert_eq!(st["role"], "coordinator");
    assert_eq!(st["members"], 2);
    assert_valid("GroupStatus", &st);
    assert!(
        st["lag"]["partitions"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{st}"
    );
    assert!(
        st["stats"]["consumer"]["handled"].as_u64().unwrap() > 0,
        "{st}"
    );
    let (_, status_all) = g.get("/api/v1/status").await;
    assert_eq!(status_all["group"]["wired"], true, "{status_all}");
    assert_eq!(status_all["group"]["group_name"], group_name.as_str());
    assert_eq!(status_all["group"]["joined"], true);
    assert_valid("Status", &status_all);

    // Submit to the peer: its answer comes back.
    let (status, body) = g
        .post(
            "/api/v1/group/tasks/submit",
            json!({"content": "hello there", "to": "peer-b", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], "echo: hello there");
    assert_eq!(body["responder_id"], "peer-b");
    assert_eq!(body["status"], "completed");
    assert_valid("GroupTaskAnswer", &body);
    let task_id = body["task_id"].as_str().unwrap().to_owned();

    // The delegation steps A read are listed under the task.
    let delegations = g
        .get_until(
            "the delegation events of the task",
            &format!("/api/v1/group/tasks?task_id={task_id}"),
            |b| {
                let kinds: Vec<&str> = b["delegations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["event_type"].as_str().unwrap())
                    .collect();
                kinds.contains(&"request") && kinds.contains(&"completed")
            },
        )
        .await;
    assert_valid("DelegationPage", &delegations);
    assert!(
        delegations["delegations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["task_id"] == task_id.as_str()),
        "{delegations}"
    );

    // An open task (no target, no skill): the only member with a handler claims it.
    let (status, body) = g
        .post(
            "/api/v1/group/tasks/submit",
            json!({"content": "whoever can", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], "echo: whoever can");
    assert_eq!(body["responder_id"], "peer-b");
    assert_eq!(body["target_id"], Value::Null);

    // A failing peer: 502 with the peer's reason; nobody there: 504 with the task id.
    let (status, body) = g
        .post(
            "/api/v1/group/tasks/submit",
            json!({"description": "fail on purpose", "target_id": "peer-b", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(error_of(&body).contains("peer-b cannot do"), "{body}");
    assert_eq!(body["status"], "failed");
    assert_valid("Error", &body);
    let (status, body) = g
        .post(
            "/api/v1/group/tasks/submit",
            json!({"content": "anyone?", "to": "nobody-here", "timeout_secs": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body["task_id"].is_string(), "{body}");
    assert!(error_of(&body).contains("no response"), "{body}");
    assert_valid("Error", &body);

    // Skills: listed with the live provider; a skill task is answered by it.
    let skills = g
        .get_until("the peer's skill", "/api/v1/group/skills", |b| {
            b["skills"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == SKILL && s["live_providers"] == json!(["peer-b"]))
        })
        .await;
    assert_eq!(skills["provided"], json!([]), "{skills}");
    assert_valid("GroupSkills", &skills);
    let (status, manifest) = g.get("/api/v1/group/manifest").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid("TopicManifest", &manifest);
    assert!(
        manifest.to_string().contains(SKILL),
        "manifest without the skill: {manifest}"
    );
    let (status, body) = g
        .post(
            "/api/v1/group/skills/task",
            json!({"skill": SKILL, "content": "by skill", "timeout_secs": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"], "echo: by skill");
    assert_eq!(body["responder_id"], "peer-b");
    assert_eq!(body["skill"], SKILL);
    assert_valid("GroupTaskAnswer", &body);

    // Traces: the peer's spans are stored by A, filtered by trace id and paged.
    let trace_id = format!("trace-{}", random_suffix());
    for (i, title) in ["first span", "second span"].into_iter().enumerate() {
        peer.publish_trace(TracePayload {
            trace_id: trace_id.clone(),
            span_id: format!("{trace_id}-span-{i}"),
            span_type: "TOOL".into(),
            title: title.into(),
            started_at: format!("2026-01-01T00:00:0{i}Z"),
            ..TracePayload::default()
        })
        .await
        .expect("publish a span");
    }
    let spans = g
        .get_until(
            "both spans of the trace",
            &format!("/api/v1/group/traces?trace_id={trace_id}"),
            |b| b["spans"].as_array().unwrap().len() == 2,
        )
        .await;
    assert_eq!(spans["spans"][0]["title"], "first span", "{spans}");
    assert_eq!(spans["spans"][0]["source_agent_id"], "peer-b");
    assert_valid("GroupSpanPage", &spans);
    let (_, page) = g
        .get(&format!(
            "/api/v1/group/traces?trace_id={trace_id}&limit=1&offset=1"
        ))
        .await;
    assert_eq!(page["spans"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["spans"][0]["title"], "second span");
    assert_eq!(page["limit"], 1);
    assert_eq!(page["offset"], 1);

    // Audit: the peer's event is stored by A and filtered by type.
    let event_type = format!("test_event_{}", random_suffix());
    peer.publish_audit(AuditPayload::event(&event_type, "from the test"))
        .await
        .expect("publish an audit event");
    let audit = g
        .get_until(
            "the peer's audit event",
            &format!("/api/v1/group/audit?event_type={event_type}"),
            |b| b["events"].as_array().unwrap().len() == 1,
        )
        .await;
    assert_eq!(audit["events"][0]["agent_id"], "peer-b", "{audit}");
    assert_valid("GroupAuditPage", &audit);

    // Memory: an item shared through the API arrives at the peer.
    let title = format!("notes {}", random_suffix());
    let (status, item) = g
        .post(
            "/api/v1/group/memory",
            json!({
                "title": title,
                "content": "the quarterly numbers",
                "tags": ["q4", "finance"],
                "content_type": "text/plain; charset=utf-8",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["topic"], "memory.shared");
    assert_eq!(item["author_id"], "agent-a");
    assert_valid("GroupSharedItem", &item);
    let arrived = wait_until_async(WAIT, Duration::from_millis(20), || async {
        peer.memory_items().iter().any(|m| {
            m.title == title
                && m.tags == ["q4", "finance"]
                && m.content.as_deref() == Some("the quarterly numbers")
                && m.content_type == "text/plain; charset=utf-8"
        })
    })
    .await;
    assert!(arrived, "the shared item never reached peer-b");
    let items = g
        .get_until("the item in A's own list", "/api/v1/group/memory", |b| {
            b["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["title"] == title.as_str())
        })
        .await;
    assert_valid("GroupMemoryItems", &items);

    // Malformed bodies: 4xx naming the field.
    for (path, body, field) in [
        ("/api/v1/group/tasks/submit", json!({}), "content"),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": 7}),
            "content",
        ),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": "x", "timeout_secs": 0}),
            "timeout_secs",
        ),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": "x", "timeout_secs": "5"}),
            "timeout_secs",
        ),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": "x", "to": "a b"}),
            "to",
        ),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": "x", "colour": "red"}),
            "colour",
        ),
        (
            "/api/v1/group/tasks/submit",
            json!({"content": "x", "to": "p", "target_id": "q"}),
            "target_id",
        ),
        (
            "/api/v1/group/skills/task",
            json!({"content": "x"}),
            "skill",
        ),
        (
            "/api/v1/group/skills/task",
            json!({"skill": "web.search", "content": "x"}),
            "skill",
        ),
        ("/api/v1/group/memory", json!({"content": "x"}), "title"),
        ("/api/v1/group/memory", json!({"title": "t"}), "content"),
        (
            "/api/v1/group/memory",
            json!({"title": "t", "content": "c", "tags": "q4"}),
            "tags",
        ),
        (
            "/api/v1/group/memory",
            json!({"title": "t", "content": "c", "ttl_secs": -1}),
            "ttl_secs",
        ),
        ("/api/v1/group/join", json!({"now": true}), "now"),
    ] {
        let (status, answer) = g.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_valid("Error", &answer);
        assert!(
            error_of(&answer).contains(&format!("\"{field}\"")),
            "{path} {body}: the error does not name {field}: {answer}"
        );
    }
    let (status, answer) = g
        .post_raw("/api/v1/group/tasks/submit", "text/plain", "hello")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    let (status, answer) = g
        .post_raw("/api/v1/group/memory", "application/json", "{not json")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = g.get("/api/v1/group/traces?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(error_of(&answer).contains("\"limit\""), "{answer}");
    let (status, answer) = g.get("/api/v1/group/members?x=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // Leave and join again: the peer's roster follows; a second leave is a conflict.
    let (status, body) = g.post("/api/v1/group/leave", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["joined"], false);
    assert!(
        peer_sees(&peer, "agent-a", false).await,
        "peer-b still lists agent-a"
    );
    let (status, body) = g
        .post_raw("/api/v1/group/leave", "application/json", "")
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(error_of(&body).contains("not a member"), "{body}");
    g.get_until("A no longer lists itself", "/api/v1/group/members", |b| {
        member_ids(b) == ["peer-b"]
    })
    .await;
    let (status, body) = g.post("/api/v1/group/join", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        peer_sees(&peer, "agent-a", true).await,
        "peer-b never saw agent-a again"
    );
    let (status, body) = g.post("/api/v1/group/join", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The peer leaves: A's roster drops it.
    peer.leave().await.expect("peer-b leaves");
    g.get_until(
        "peer-b gone from A's roster",
        "/api/v1/group/members",
        |b| member_ids(b) == ["agent-a"],
    )
    .await;

    peer.halt().await;
    a.shutdown().await;
    g.stop().await;
}
