//! `kafclaw gateway --mode full` through the real binary on the real broker: three
//! agents (the boss, owning a private zone `red` and a shared zone `blue`; a worker at
//! home in each zone), each with its own scripted model server. The orchestrator API
//! converges to the configured hierarchy and zones, a zone task dispatched by the boss is
//! answered by the zone's member through its agent loop (its model's reply, trust class
//! peer, spans visible in the boss's trace) and never by the outsider, `kafclaw
//! orchestrator status --json` reads the same graph, SIGTERM stops the orchestrator and
//! leaves the group, and bad zone configuration is refused at start (exit 2, key named).

use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::Duration;

use kafclaw_testkit::{
    Reply, ScriptedLlm, maybe_skip_kafka, random_group_name, wait_until, wait_until_async,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long any condition may take on a loaded machine before the test fails.
const PATIENCE: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(100);

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap()
}

/// The configuration of agent `id` in `group`: group and orchestrator enabled, fast
/// heartbeats and discovery, its own scripted model, plus `orchestrator`.
fn config(brokers: &str, group: &str, id: &str, llm: &ScriptedLlm, orchestrator: Value) -> Value {
    let mut orch = json!({"enabled": true, "discoveryIntervalSecs": 5});
    if let (Some(o), Some(extra)) = (orch.as_object_mut(), orchestrator.as_object()) {
        o.extend(extra.clone());
    }
    json!({
        "group": {
            "enabled": true,
            "groupName": group,
            "agentId": id,
            "kafkaBrokers": brokers,
            "heartbeatIntervalSecs": 1,
            "missedHeartbeats": 3,
            "onboardTimeoutSecs": 5,
        },
        "orchestrator": orch,
        "providers": {"openai": {"apiKey": "sk-test", "apiBase": llm.base_url()}},
        "model": {"name": "openai/gpt-test", "maxAttempts": 1},
    })
}

/// A `KAFCLAW_HOME` holding `config`.
fn home_with(config: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("kc");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
    dir
}

/// Every record value on `topic` up to its current end, read raw from the broker.
async fn topic_records(brokers: &str, topic: &str) -> Vec<String> {
    use kafclaw_group::{KafkaSettings, KafkaTransport, OffsetQuery, Transport};
    let t = KafkaTransport::connect(&KafkaSettings::plaintext(brokers))
        .await
        .unwrap();
    let mut out = Vec::new();
    for p in t.partitions(topic).await.unwrap() {
        let end = t.offset(topic, p, OffsetQuery::Latest).await.unwrap();
        let mut next = t.offset(topic, p, OffsetQuery::Earliest).await.unwrap();
        let reader = t.reader(topic, p).await.unwrap();
        while next < end {
            let batch = reader
                .fetch(next, Duration::from_millis(500))
                .await
                .unwrap();
            for r in batch.records {
                next = next.max(r.offset + 1);
                out.push(String::from_utf8_lossy(&r.value).into_owned());
            }
        }
    }
    out
}

fn kafclaw(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
    cmd.env_clear()
        .env("HOME", dir.path())
        .env("KAFCLAW_HOME", dir.path().join("kc"))
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// A running `kafclaw gateway --mode full`; killed when dropped.
struct Agent {
    dir: tempfile::TempDir,
    child: Child,
    dash: String,
    http: reqwest::Client,
}

impl Agent {
    fn start(config: &Value) -> Agent {
        Agent::start_in(config, "full")
    }

    fn start_in(config: &Value, mode: &str) -> Agent {
        let dir = home_with(config);
        let (child, _api, dash) = crate::collab::spawn_gateway(&dir.path().join("kc"), mode, &[]);
        Agent {
            dir,
            child,
            dash,
            http: client(),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.dash))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.dash))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// GET `path` until it answers 200 with a body for which `ready` holds.
    async fn get_until(&self, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let last = Mutex::new(Value::Null);
        let (last_ref, ready) = (&last, &ready);
        let ok = wait_until_async(PATIENCE, POLL, || async move {
            let (status, body) = self.get(path).await;
            let done = status == StatusCode::OK && ready(&body);
            *last_ref.lock().unwrap() = json!({"status": status.as_u16(), "body": body});
            done
        })
        .await;
        let last = last.into_inner().unwrap();
        assert!(ok, "GET {path} never became ready: {last:#}");
        last["body"].clone()
    }

    fn terminate(&mut self) -> Option<i32> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let mut code = None;
        let stopped = wait_until(PATIENCE, POLL, || match self.child.try_wait().unwrap() {
            Some(s) => {
                code = s.code();
                true
            }
            None => false,
        });
        assert!(stopped, "the gateway did not stop after SIGTERM");
        code
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node<'a>(nodes: &'a Value, id: &str) -> Option<&'a Value> {
    nodes.as_array()?.iter().find(|n| n["agent_id"] == id)
}

fn ids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().or_else(|| x["agent_id"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every prompt text the model server received.
fn prompts(llm: &ScriptedLlm) -> String {
    llm.requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The boss and both workers have reported first hand, with the configured parents.
fn converged(h: &Value) -> bool {
    let nodes = &h["nodes"];
    ["boss", "worker-r", "worker-b"]
        .iter()
        .all(|id| node(nodes, id).is_some_and(|n| n["status"] == "active"))
        && ["worker-r", "worker-b"]
            .iter()
            .all(|id| node(nodes, id).is_some_and(|n| n["parent_id"] == "boss"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_tasks_are_answered_by_the_zone_member_through_its_agent_loop() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let brokers = broker.brokers.clone();
    // The boss dispatches and never calls its own model for a zone task.
    let llm_boss = ScriptedLlm::start(kafclaw_testkit::Wire::OpenAi, vec![])
        .await
        .unwrap();
    let llm_r = ScriptedLlm::start(
        kafclaw_testkit::Wire::OpenAi,
        vec![
            // A tool above the peer tier first: refused by the policy (exec is tier 2).
            Reply::tool_call("exec", json!({"command": "ls"})),
            Reply::text("RED-ANSWER: the red logs are clean."),
        ],
    )
    .await
    .unwrap();
    let llm_b = ScriptedLlm::start(
        kafclaw_testkit::Wire::OpenAi,
        vec![Reply::text("BLUE-ANSWER: the blue build is green.")],
    )
    .await
    .unwrap();

    let boss_config = config(
        &brokers,
        &group,
        "boss",
        &llm_boss,
        json!({
            "role": "orchestrator",
            "zones": {
                "red": {"visibility": "private", "allowedIds": ["worker-r"], "name": "Red team"},
                "blue": {"visibility": "shared", "allowedIds": ["worker-b"]},
            },
        }),
    );
    let boss = Agent::start(&boss_config);
    let mut worker_r = Agent::start(&config(
        &brokers,
        &group,
        "worker-r",
        &llm_r,
        json!({"role": "worker", "parentId": "boss", "zoneId": "red"}),
    ));
    let worker_b = Agent::start(&config(
        &brokers,
        &group,
        "worker-b",
        &llm_b,
        json!({"role": "worker", "parentId": "boss", "zoneId": "blue"}),
    ));

    // The same configuration in group mode runs no orchestrator: its routes answer 403.
    let group_only = Agent::start_in(
        &config(
            &brokers,
            &group,
            "watcher",
            &llm_boss,
            json!({"role": "observer"}),
        ),
        "group",
    );
    let (status, body) = group_only.get("/api/v1/orchestrator/status").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("group mode"),
        "{body:#}"
    );
    let (_, st) = group_only.get("/api/v1/status").await;
    assert_eq!(st["orchestrator_active"], false, "{st:#}");
    let (_, st) = boss.get("/api/v1/status").await;
    assert_eq!(st["orchestrator_active"], true, "{st:#}");
    assert_eq!(st["orchestrator"]["role"], "orchestrator", "{st:#}");
    drop(group_only);

    // The hierarchy converges to the configured one on the boss.
    let h = boss
        .get_until("/api/v1/orchestrator/hierarchy", converged)
        .await;
    assert_eq!(ids(&h["roots"]), ["boss"], "{h:#}");
    let boss_node = node(&h["nodes"], "boss").unwrap();
    assert_eq!(boss_node["role"], "orchestrator");
    assert_eq!(ids(&boss_node["children"]), ["worker-b", "worker-r"]);
    let r = node(&h["nodes"], "worker-r").unwrap();
    assert_eq!(
        (r["role"].as_str(), r["zone_id"].as_str()),
        (Some("worker"), Some("red"))
    );
    assert_eq!(r["first_hand"], true);
    let agents = boss
        .get_until("/api/v1/orchestrator/agents", |_| true)
        .await;
    assert_eq!(ids(&agents["agents"]), ["boss", "worker-b", "worker-r"]);
    assert_eq!(agents["count"], 3);

    let zones = boss.get_until("/api/v1/orchestrator/zones", |_| true).await;
    let zone = |id: &str| -> Value {
        zones["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("zone {id} missing: {zones:#}"))
    };
    let red = zone("red");
    assert_eq!(red["visibility"], "private");
    assert_eq!(red["owner_id"], "boss");
    assert_eq!(red["name"], "Red team");
    assert_eq!(ids(&red["members"]), ["boss", "worker-r"]);
    assert_eq!(
        red["topics"],
        json!([
            format!("group.{group}.zone.red.requests"),
            format!("group.{group}.zone.red.responses")
        ])
    );
    assert_eq!(ids(&zone("blue")["members"]), ["boss", "worker-b"]);

    // The outsider knows worker-r (hierarchy) but may not see it (private home zone).
    let hb = worker_b
        .get_until("/api/v1/orchestrator/hierarchy", converged)
        .await;
    assert!(node(&hb["nodes"], "worker-r").is_some());
    let (status, agents_b) = worker_b.get("/api/v1/orchestrator/agents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ids(&agents_b["agents"]),
        ["boss", "worker-b"],
        "{agents_b:#}"
    );

    // Dispatch to red: answered by worker-r's model through its agent loop.
    let (status, answer) = boss
        .post(
            "/api/v1/orchestrator/dispatch",
            json!({"description": "Check the red logs", "content": "Check the red logs of last night", "target_zone": "red", "timeout_secs": 120}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["responder_id"], "worker-r");
    assert_eq!(answer["zone_id"], "red");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["content"], "RED-ANSWER: the red logs are clean.");
    let task_id = answer["task_id"].as_str().unwrap().to_owned();
    // worker-r's model read the task as a zone task from a peer; nobody else saw it.
    let seen_r = prompts(&llm_r);
    assert!(
        seen_r.contains("(zone task in red: Check the red logs)"),
        "{seen_r}"
    );
    assert!(
        seen_r.contains("Check the red logs of last night"),
        "{seen_r}"
    );
    assert!(seen_r.contains("boss"), "{seen_r}");
    assert!(!prompts(&llm_b).contains("red logs"));
    assert!(llm_boss.requests().is_empty());

    // worker-r's own half: a peer task on channel zone, exec refused for the peer.
    let r_trace = worker_r
        .get_until(&format!("/api/v1/trace/{task_id}"), |t| {
            t["tasks"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let r_task = &r_trace["tasks"][0];
    assert_eq!(r_task["channel"], "zone", "{r_task:#}");
    assert_eq!(r_task["sender"], "boss", "{r_task:#}");
    assert_eq!(r_task["trust_class"], "peer", "{r_task:#}");
    assert_eq!(r_task["status"], "completed", "{r_task:#}");
    let decisions = r_trace["decisions"].as_array().unwrap();
    assert!(
        decisions.iter().any(|d| d["tool"] == "exec"
            && d["outcome"] == "deny"
            && d["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("tier_above_class_max"))),
        "{r_trace:#}"
    );
    // The boss sees the answer's trace: worker-r's task, model and tool spans, under the
    // dispatched task's id.
    let trace = boss
        .get_until(&format!("/api/v1/trace/{task_id}"), |t| {
            let spans = t["group_spans"].as_array().cloned().unwrap_or_default();
            ["TASK", "LLM", "TOOL"].iter().all(|ty| {
                spans
                    .iter()
                    .any(|s| s["source_agent_id"] == "worker-r" && s["span_type"] == *ty)
            })
        })
        .await;
    let task_span = trace["group_spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["span_type"] == "TASK")
        .unwrap();
    assert!(
        task_span["content"]
            .as_str()
            .unwrap_or_default()
            .contains("RED-ANSWER"),
        "{task_span:#}"
    );

    // Dispatch to blue: worker-b answers; the red worker's model is not called again.
    let (status, answer) = boss
        .post(
            "/api/v1/orchestrator/dispatch",
            json!({"description": "Is the blue build green?", "target_zone": "blue", "timeout_secs": 120}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["responder_id"], "worker-b");
    assert_eq!(answer["content"], "BLUE-ANSWER: the blue build is green.");
    assert_eq!(llm_r.requests().len(), 2);

    // A zone task over the delegation depth limit (3 by default) is refused by the
    // member before its model sees it, with the reason as the answer.
    let deep_id = "deep-zone-task-1";
    let mut req = kafclaw_envelope::TaskRequest::new(deep_id, "boss", "too deep", "go deeper");
    req.target_id = Some("worker-r".into());
    req.delegation_depth = 4;
    req.deadline_at = (chrono::Utc::now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let env = kafclaw_envelope::GroupEnvelope::new("boss", kafclaw_envelope::Message::Request(req))
        .with_zone_id("red");
    {
        use kafclaw_group::{KafkaSettings, KafkaTransport, OutRecord, Transport};
        let t = KafkaTransport::connect(&KafkaSettings::plaintext(&brokers))
            .await
            .unwrap();
        t.produce(
            &format!("group.{group}.zone.red.requests"),
            OutRecord::keyed(deep_id, env.to_json().unwrap()),
        )
        .await
        .unwrap();
    }
    let red_responses = format!("group.{group}.zone.red.responses");
    let refusal = wait_until_async(Duration::from_secs(60), Duration::from_millis(200), || {
        let (brokers, topic) = (brokers.clone(), red_responses.clone());
        async move {
            topic_records(&brokers, &topic).await.iter().any(|v| {
                let e: Value = serde_json::from_str(v).unwrap_or_default();
                e["type"] == "response"
                    && e["payload"]["task_id"] == deep_id
                    && e["payload"]["responder_id"] == "worker-r"
                    && e["payload"]["status"] == "failed"
                    && e["payload"]["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("delegation depth 4 exceeds the maximum of 3"))
            })
        }
    })
    .await;
    assert!(
        refusal,
        "no refusal of the too-deep zone task on {red_responses}"
    );
    assert_eq!(llm_r.requests().len(), 2);

    // On the wire: worker-r's spans of the red task went to red's responses topic,
    // tagged with the zone, and not to the group's traces topic, which the outsider
    // reads (and stores: none of them is in its timeline).
    let red_spans: Vec<Value> =
        topic_records(&brokers, &format!("group.{group}.zone.red.responses"))
            .await
            .iter()
            .map(|v| serde_json::from_str::<Value>(v).unwrap())
            .filter(|e| e["type"] == "trace")
            .collect();
    assert!(
        red_spans.iter().any(|e| e["sender_id"] == "worker-r"
            && e["zone_id"] == "red"
            && e["payload"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("RED-ANSWER"))),
        "{red_spans:#?}"
    );
    let traces = topic_records(&brokers, &format!("group.{group}.traces")).await;
    assert!(
        !traces
            .iter()
            .any(|v| v.contains("RED-ANSWER") || v.contains("red logs")),
        "red work on the group's traces topic: {traces:#?}"
    );
    let (_, b_spans) = worker_b.get("/api/v1/group/traces?limit=1000").await;
    assert!(!b_spans.to_string().contains("RED-ANSWER"), "{b_spans:#}");

    // The outsider may not dispatch to red.
    let (status, body) = worker_b
        .post(
            "/api/v1/orchestrator/dispatch",
            json!({"description": "let me in", "target_zone": "red", "timeout_secs": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert!(!prompts(&llm_r).contains("let me in"));

    // The CLI reads the same graph with the boss's configuration.
    let out = kafclaw(&boss.dir)
        .args(["orchestrator", "status", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status_json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status_json["agent_id"], "boss");
    assert_eq!(status_json["role"], "orchestrator");
    assert_eq!(status_json["agent_count"], 3, "{status_json:#}");
    assert_eq!(ids(&status_json["my_zones"]), ["blue", "public", "red"]);

    // SIGTERM: worker-r stops its orchestrator, leaves the group and exits 0; red then
    // has no live member, and no one else answers for it.
    assert_eq!(worker_r.terminate(), Some(0));
    let left = boss
        .get_until("/api/v1/group/members", |m| {
            !m.to_string().contains("\"worker-r\"")
        })
        .await;
    assert!(!left.to_string().contains("worker-r"));
    // It left (announced `leave`) rather than expired: a reader with a 90 s expiry
    // window no longer lists it either.
    let out = kafclaw(&boss.dir)
        .args(["group", "members", "--json"])
        .env("KAFCLAW_GROUP_AGENT_ID", "roster-reader")
        .env("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS", "30")
        .env("KAFCLAW_GROUP_MISSED_HEARTBEATS", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members = String::from_utf8_lossy(&out.stdout);
    assert!(members.contains("\"worker-b\""), "{members}");
    assert!(!members.contains("\"worker-r\""), "{members}");
    let no_member = wait_until_async(PATIENCE, Duration::from_millis(500), || async {
        let (status, _) = boss
            .post(
                "/api/v1/orchestrator/dispatch",
                json!({"description": "anyone?", "target_zone": "red", "timeout_secs": 3}),
            )
            .await;
        status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(
        no_member,
        "red still had a live member after worker-r stopped"
    );
    assert!(!prompts(&llm_b).contains("anyone?"));
    assert!(llm_boss.requests().is_empty());
}

#[test]
fn bad_orchestrator_configuration_is_refused_at_start() {
    let llm_free = json!({"providers": {"openai": {"apiKey": "sk-test", "apiBase": "http://127.0.0.1:9"}},
        "model": {"name": "openai/gpt-test"}});
    for (orchestrator, key) in [
        (
            json!({"zones": {"red": {"visibility": "secret"}}}),
            "orchestrator.zones.red.visibility",
        ),
        (
            json!({"zones": {"a.b": {"visibility": "private"}}}),
            "orchestrator.zones.a.b",
        ),
        (json!({"role": "boss"}), "orchestrator.role"),
        // Not a file error: checked by the gateway with the agent id from group.agentId.
        (
            json!({"parentId": "a"}),
            "orchestrator configuration: orchestrator.parentId",
        ),
    ] {
        let mut config = json!({
            "group": {"enabled": true, "groupName": "g", "agentId": "a", "kafkaBrokers": "127.0.0.1:9"},
            "orchestrator": {"enabled": true},
        });
        if let (Some(o), Some(extra)) = (
            config["orchestrator"].as_object_mut(),
            orchestrator.as_object(),
        ) {
            o.extend(extra.clone());
        }
        if let (Some(c), Some(extra)) = (config.as_object_mut(), llm_free.as_object()) {
            c.extend(extra.clone());
        }
        let dir = home_with(&config);
        let out = kafclaw(&dir).args(["gateway"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{orchestrator}: {stderr}");
        assert!(stderr.contains(key), "{orchestrator}: {stderr}");
    }
}
