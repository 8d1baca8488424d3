//! `kafclaw gateway` through the real binary: KAFCLAW_HOME in a temp dir, providers
//! pointed at scripted OpenAI-compatible and Anthropic servers on 127.0.0.1, the gateway
//! on free loopback ports. Covers chats with tool calls traced end to end, approvals
//! while another session works, the token and CORS rules, 4xx reasons, the OpenAPI
//! document against the running server, and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789abcdef";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn provider_config(llm: &ScriptedLlm) -> Value {
    match llm.wire() {
        Wire::OpenAi => json!({
            "providers": {"openai": {"apiKey": "sk-test", "apiBase": llm.base_url()}},
            "model": {"name": "openai/gpt-test", "maxAttempts": 1},
        }),
        Wire::Anthropic => json!({
            "providers": {"anthropic": {"apiKey": "sk-ant-test", "apiBase": llm.base_url()}},
            "model": {"name": "claude/claude-test", "maxAttempts": 1},
        }),
    }
}

/// Merges `extra` into `base` (objects key by key).
fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

/// A KAFCLAW_HOME with a config file.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &Value) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let h = Home { dir };
        std::fs::create_dir_all(h.path()).unwrap();
        std::fs::write(
            h.path().join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
        h
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("kc")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.arg("gateway")
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KAFCLAW_HOME", self.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A running gateway process.
struct Gateway {
    child: Child,
    api: String,
    dash: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Gateway {
    /// Starts `kafclaw gateway` on free ports and waits for its start line.
    fn start(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let (api_port, dash_port) = (free_port(), free_port());
        let (api_port, dash_port) = (api_port.to_string(), dash_port.to_string());
        let mut all_env = vec![
            ("KAFCLAW_GATEWAY_PORT", api_port.as_str()),
            ("KAFCLAW_GATEWAY_DASHBOARD_PORT", dash_port.as_str()),
        ];
        all_env.extend_from_slice(env);
        let mut child = home
            .command(args, &all_env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kafclaw gateway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "gateway did not start: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        assert!(line.starts_with("kafclaw gateway: mode "), "{line}");
        let url = |marker: &str| {
            let rest = &line[line.find(marker).unwrap() + marker.len()..];
            format!("http://{}", rest.split_whitespace().next().unwrap())
        };
        let api = url("API http://");
        let dash = url("dashboard http://");
        // Only loopback names pass the host check; keep the port the gateway chose.
        let loopback = |u: String| u.replace("0.0.0.0", "127.0.0.1");
        let token = env
            .iter()
            .find(|(k, _)| *k == "KAFCLAW_GATEWAY_AUTH_TOKEN")
            .map(|(_, v)| (*v).to_owned());
        Gateway {
            child,
            api: loopback(api),
            dash: loopback(dash),
            token,
            http: client(),
        }
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .authed(self.http.get(format!("{}{path}", self.dash)))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post_json(&self, base: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .authed(self.http.post(format!("{base}{path}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn chat(&self, message: &str, session: &str) -> (StatusCode, Value) {
        self.post_json(
            &self.api.clone(),
            "/chat",
            json!({"message": message, "session": session}),
        )
        .await
    }

    /// Sends SIGTERM and waits for the exit status.
    async fn terminate(&mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait_exit(Duration::from_secs(60)).await
    }

    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "gateway did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it returns `Some`, for at most 60 s.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn run_to_exit(home: &Home, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let out = home.command(args, env).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn headless_without_token_refuses_to_start() {
    let home = Home::new(&json!({}));
    let (status, stderr) = run_to_exit(&home, &["--mode", "headless"], &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("headless"), "{stderr}");
    assert!(stderr.contains("KAFCLAW_GATEWAY_AUTH_TOKEN"), "{stderr}");
    // Beyond loopback without a token is refused in the other modes too.
    for mode in ["standalone", "group", "full"] {
        let (status, stderr) = run_to_exit(
            &home,
            &["--mode", mode],
            &[("KAFCLAW_GATEWAY_HOST", "0.0.0.0")],
        );
        assert_eq!(status.code(), Some(2), "{mode}: {stderr}");
        assert!(
            stderr.contains("0.0.0.0") && stderr.contains("gateway.authToken"),
            "{stderr}"
        );
    }
    let (status, stderr) = run_to_exit(&home, &["--allow-origin", "*"], &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("wildcard"), "{stderr}");
}

/// A request for every route, with `{id}` filled in.
fn route_request(g: &Gateway, r: &kafclaw_gateway::Route) -> reqwest::RequestBuilder {
    let base = match r.listener {
        kafclaw_gateway::Listener::Api => &g.api,
        kafclaw_gateway::Listener::Dashboard => &g.dash,
    };
    let url = format!("{base}{}", r.path.replace("{id}", "no-such-id"));
    match r.method {
        "GET" => g.http.get(url),
        "POST" => g.http.post(url).json(&json!({})),
        other => panic!("unexpected method {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_route_but_the_public_ones_answers_401() {
    let llm = ScriptedLlm::start(Wire::OpenAi, vec![Reply::text("hello")])
        .await
        .unwrap();
    let home = Home::new(&provider_config(&llm));
    let g = Gateway::start(
        &home,
        &["--mode", "headless"],
        &[("KAFCLAW_GATEWAY_AUTH_TOKEN", TOKEN)],
    );
    assert!(g.dash.starts_with("http://127.0.0.1:"));
    let routes = kafclaw_gateway::routes();
    assert!(routes.len() >= 15);
    for r in &routes {
        let res = route_request(&g, r).send().await.unwrap();
        if r.public {
            assert_ne!(res.status(), StatusCode::UNAUTHORIZED, "{r:?}");
        } else {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{r:?}");
            assert!(res.headers().contains_key("www-authenticate"));
            let body: Value = res.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains("missing token"),
                "{body}"
            );
        }
        // A wrong token is refused the same way.
        let res = route_request(&g, r)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status() == StatusCode::UNAUTHORIZED,
            !r.public,
            "{r:?} with a wrong token"
        );
        // The right one passes the guard.
        let res = route_request(&g, r)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_ne!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{r:?} with the token"
        );
    }
    // Unknown paths do not reveal themselves without the token either.
    let res = g
        .http
        .get(format!("{}/api/v1/nope", g.dash))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = g.get("/api/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["mode"], "headless");
    assert_eq!(body["auth_required"], true);
    assert_eq!(body["group"]["wired"], false);
    // The token works for a chat, and the chat is the owner's.
    let (status, body) = g.chat("hi", "s1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "hello");
    let (_, task) = g
        .get(&format!(
            "/api/v1/tasks/{}",
            body["task_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(task["trust_class"], "owner");
    assert_eq!(task["channel"], "api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_requests_get_no_cors_grant() {
    let llm = ScriptedLlm::start(Wire::OpenAi, vec![]).await.unwrap();
    let home = Home::new(&provider_config(&llm));
    let g = Gateway::start(&home, &["--allow-origin", "https://ops.example.com"], &[]);
    let evil = "https://evil.example";
    // Preflight from a foreign origin: refused, nothing granted.
    for base in [&g.api, &g.dash] {
        let res = g
            .http
            .request(reqwest::Method::OPTIONS, format!("{base}/chat"))
            .header("Origin", evil)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(
            !res.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{:?}",
            res.headers()
        );
    }
    // A simple cross-site form post to /chat (no preflight in browsers) is refused too,
    // and reaches no model.
    let res = g
        .http
        .post(format!("{}/chat?message=rm%20-rf", g.api))
        .header("Origin", evil)
        .header("Content-Type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("evil.example"),
        "{body}"
    );
    assert!(llm.requests().is_empty());
    // Reads from a foreign origin are refused as well.
    let res = g
        .http
        .get(format!("{}/api/v1/tasks", g.dash))
        .header("Origin", evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    // A DNS-rebinding host name is refused on a loopback gateway.
    let res = g
        .http
        .get(format!("{}/api/v1/tasks", g.dash))
        .header("Host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The configured origin gets exactly its own origin back, never a wildcard.
    let res = g
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/tasks", g.dash))
        .header("Origin", "https://ops.example.com")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://ops.example.com"
    );
    let res = g
        .http
        .get(format!("{}/api/v1/tasks", g.dash))
        .header("Origin", "https://ops.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://ops.example.com"
    );
    // Same-origin calls (the dashboard page itself) work without any grant.
    let res = g
        .http
        .get(format!("{}/api/v1/tasks", g.dash))
        .header("Origin", g.dash.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The page is served with its hardening headers.
    let res = g.http.get(format!("{}/", g.dash)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
}

/// One conversation through `POST /chat` that calls a tool, checked in the timeline.
async fn chat_with_tool(wire: Wire) {
    let llm = ScriptedLlm::start(
        wire,
        vec![
            Reply::tool_call("read_file", json!({"path": "notes.txt"})),
            Reply::text("The notes say: ship it"),
            Reply::text("plain reply"),
        ],
    )
    .await
    .unwrap();
    let home = Home::new(&provider_config(&llm));
    std::fs::create_dir_all(home.path().join("work-repo")).unwrap();
    std::fs::write(home.path().join("work-repo/notes.txt"), "ship it\n").unwrap();
    let g = Gateway::start(&home, &[], &[]);

    let (status, body) = g.chat("what do my notes say?", "tool-session").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "The notes say: ship it");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["session"], "tool-session");
    let task_id = body["task_id"].as_str().unwrap().to_owned();
    let trace_id = body["trace_id"].as_str().unwrap().to_owned();
    // The tool result went back to the model.
    let second = &llm.requests()[1].body;
    assert!(second.to_string().contains("ship it"), "{second}");

    // One trace id holds the task, the model calls, the tool call and the decision.
    let (status, trace) = g.get(&format!("/api/v1/trace/{trace_id}")).await;
    assert_eq!(status, StatusCode::OK, "{trace}");
    assert_eq!(trace["tasks"][0]["task_id"], task_id.as_str());
    assert_eq!(trace["tasks"][0]["status"], "completed");
    let types: Vec<&str> = trace["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "llm_call").count(),
        2,
        "{types:?}"
    );
    assert!(types.contains(&"tool_call"), "{types:?}");
    for e in trace["events"].as_array().unwrap() {
        assert_eq!(e["trace_id"], trace_id.as_str());
    }
    let decisions = trace["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["tool"], "read_file");
    assert_eq!(decisions[0]["outcome"], "allow");
    assert_eq!(decisions[0]["task_id"], task_id.as_str());
    // The same records through the list endpoints and their filters.
    let (_, d) = g
        .get(&format!(
            "/api/v1/policy-decisions?trace_id={trace_id}&outcome=allow"
        ))
        .await;
    assert_eq!(d["decisions"].as_array().unwrap().len(), 1);
    let (_, ev) = g
        .get(&format!(
            "/api/v1/timeline?trace_id={trace_id}&event_type=tool_call"
        ))
        .await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 1, "{ev}");
    let (_, t) = g
        .get("/api/v1/tasks?status=completed&channel=api&limit=10")
        .await;
    assert_eq!(t["tasks"][0]["task_id"], task_id.as_str());

    // The Go form: query parameters in, text/plain out.
    let res = g
        .http
        .post(format!("{}/chat?message=hello&session=go-form", g.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(res.headers().contains_key("x-kafclaw-task-id"));
    assert_eq!(res.text().await.unwrap(), "plain reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_conversation_with_a_tool_call_is_traced() {
    chat_with_tool(Wire::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_conversation_with_a_tool_call_is_traced() {
    chat_with_tool(Wire::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_decided_through_the_api_while_another_session_works() {
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_call("write_file", json!({"path": "a.txt", "content": "from A"})),
            Reply::text("B answered"),
            Reply::text("A wrote the file"),
            Reply::tool_call("write_file", json!({"path": "c.txt", "content": "from C"})),
            Reply::text("C was denied"),
        ],
    )
    .await
    .unwrap();
    let mut config = provider_config(&llm);
    merge(
        &mut config,
        &json!({"policy": {"owner": {"approvalTiers": [1]}}}),
    );
    let home = Home::new(&config);
    let g = std::sync::Arc::new(Gateway::start(&home, &[], &[]));

    let pending_one = |g: std::sync::Arc<Gateway>| async move {
        until("a pending approval", || {
            let g = g.clone();
            async move {
                let (_, body) = g.get("/api/v1/approvals/pending").await;
                let list = body["approvals"].as_array().cloned().unwrap_or_default();
                (list.len() == 1).then(|| list[0].clone())
            }
        })
        .await
    };

    // Session A asks for a write; it waits for a human.
    let a = tokio::spawn({
        let g = g.clone();
        async move { g.chat("write a.txt", "session-a").await }
    });
    let approval = pending_one(g.clone()).await;
    assert_eq!(approval["tool"], "write_file");
    assert_eq!(approval["tier"], 1);
    assert_eq!(approval["args"]["path"], "a.txt");

    // Session B is answered meanwhile.
    let (status, body) = g.chat("hello", "session-b").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "B answered");
    assert!(!a.is_finished());

    // Approve A through the API: the task resumes and finishes.
    let id = approval["approval_id"].as_str().unwrap();
    let (status, decided) = g
        .post_json(
            &g.dash,
            &format!("/api/v1/approvals/{id}"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert!(
        decided["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("dashboard@127.0.0.1")
    );
    let (status, body) = a.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "A wrote the file");
    assert_eq!(
        std::fs::read_to_string(home.path().join("work-repo/a.txt")).unwrap(),
        "from A"
    );
    // Deciding twice is a conflict.
    let (status, body) = g
        .post_json(
            &g.dash,
            &format!("/api/v1/approvals/{id}"),
            json!({"approve": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Session C asks for a write and is denied.
    let c = tokio::spawn({
        let g = g.clone();
        async move { g.chat("write c.txt", "session-c").await }
    });
    let approval = pending_one(g.clone()).await;
    assert_eq!(approval["args"]["path"], "c.txt");
    let id = approval["approval_id"].as_str().unwrap();
    let (status, decided) = g
        .post_json(
            &g.dash,
            &format!("/api/v1/approvals/{id}"),
            json!({"approved": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "denied");
    let (status, body) = c.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "C was denied");
    assert!(!home.path().join("work-repo/c.txt").exists());
    let (_, pending) = g.get("/api/v1/approvals/pending").await;
    assert_eq!(pending["approvals"].as_array().unwrap().len(), 0);
    // An unknown approval id is a 404 that says so.
    let (status, body) = g
        .post_json(
            &g.dash,
            "/api/v1/approvals/no-such-approval",
            json!({"approve": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_reasons() {
    let llm = ScriptedLlm::start(Wire::OpenAi, vec![Reply::status(500)])
        .await
        .unwrap();
    let home = Home::new(&provider_config(&llm));
    let g = Gateway::start(&home, &["--max-body-bytes", "2048"], &[]);
    let chat = format!("{}/chat", g.api);
    let expect = |status: StatusCode, body: &Value, want: StatusCode, needle: &str| {
        assert_eq!(status, want, "{body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    };
    let send = |rb: reqwest::RequestBuilder| async move {
        let res = rb.send().await.unwrap();
        let s = res.status();
        (s, res.json::<Value>().await.unwrap_or(Value::Null))
    };

    let (s, b) = send(g.http.post(&chat).json(&json!({"session": "x"}))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "message is required");
    assert_eq!(b, json!({"error": "message is required"}));
    let (s, b) = send(g.http.post(&chat)).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "message is required");
    let (s, b) = send(
        g.http
            .post(&chat)
            .json(&json!({"message": "x", "colour": "red"})),
    )
    .await;
    expect(s, &b, StatusCode::BAD_REQUEST, "unknown field `colour`");
    let (s, b) = send(
        g.http
            .post(&chat)
            .header("content-type", "text/plain")
            .body("{\"message\":\"x\"}"),
    )
    .await;
    expect(
        s,
        &b,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    );
    let big = "x".repeat(4096);
    let (s, b) = send(g.http.post(&chat).json(&json!({"message": big}))).await;
    expect(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "2048 bytes");
    let (s, b) = send(g.http.post(format!("{chat}?message=hi&session=../../etc"))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "session must be");
    let (s, b) = send(g.http.post(format!("{chat}?mesage=hi"))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "\"mesage\"");
    let (s, b) = send(g.http.get(&chat)).await;
    expect(s, &b, StatusCode::METHOD_NOT_ALLOWED, "POST");

    // A provider failure is a 502 with the reason and the task id.
    let (s, b) = g.chat("hi", "failing").await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{b}");
    assert!(!b["error"].as_str().unwrap().is_empty());
    let task_id = b["task_id"].as_str().unwrap();
    let (_, task) = g.get(&format!("/api/v1/tasks/{task_id}")).await;
    assert_eq!(task["status"], "failed");

    for (path, needle) in [
        ("/api/v1/tasks?limit=0", "\"limit\""),
        ("/api/v1/tasks?limit=5000", "from 1 to 1000"),
        ("/api/v1/tasks?status=done", "\"status\""),
        ("/api/v1/tasks?colour=red", "\"colour\""),
        ("/api/v1/tasks?limit=1&limit=2", "more than once"),
        ("/api/v1/timeline?offset=-1", "\"offset\""),
        (
            "/api/v1/policy-decisions?outcome=maybe",
            "approval_required",
        ),
        ("/api/v1/settings?key=colour", "known settings are"),
    ] {
        let (s, b) = g.get(path).await;
        expect(s, &b, StatusCode::BAD_REQUEST, needle);
    }
    let (s, b) = g.get("/api/v1/tasks/no-such-task").await;
    expect(s, &b, StatusCode::NOT_FOUND, "no-such-task");
    let (s, b) = g.get("/api/v1/trace/no-such-trace").await;
    expect(s, &b, StatusCode::NOT_FOUND, "no-such-trace");
    let (s, b) = g.get("/api/v1/nothing-here").await;
    expect(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "no route for GET /api/v1/nothing-here",
    );

    // Settings: validated per key, secrets masked.
    let settings = format!("{}/api/v1/settings", g.dash);
    let (s, b) = send(
        g.http
            .post(&settings)
            .json(&json!({"key": "daily_token_limit", "value": "lots"})),
    )
    .await;
    expect(s, &b, StatusCode::BAD_REQUEST, "daily_token_limit");
    let (s, b) = send(g.http.post(&settings).json(&json!({"key": "silent_mode"}))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "value is required");
    let (s, b) = send(
        g.http
            .post(&settings)
            .json(&json!({"key": "silent_mode", "value": false, "x": 1})),
    )
    .await;
    expect(s, &b, StatusCode::BAD_REQUEST, "unknown field `x`");
    let (s, b) = send(
        g.http
            .post(&settings)
            .json(&json!({"key": "daily_token_limit", "value": 5000})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["value"], "5000");
    let (s, b) = send(
        g.http
            .post(&settings)
            .json(&json!({"key": "whatsapp_pair_token", "value": "pair-secret"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["value"], "********");
    let (_, all) = g.get("/api/v1/settings").await;
    assert!(!all.to_string().contains("pair-secret"), "{all}");
    assert!(all["known_keys"].as_array().unwrap().len() >= 12);
    let (_, one) = g.get("/api/v1/settings?key=daily_token_limit").await;
    assert_eq!(one["value"], "5000");

    // The approval endpoint checks its body.
    let approvals = format!("{}/api/v1/approvals/abc", g.dash);
    let (s, b) = send(g.http.post(&approvals).json(&json!({}))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "approve is required");
    let (s, b) = send(g.http.post(&approvals).json(&json!({"approve": "yes"}))).await;
    expect(s, &b, StatusCode::BAD_REQUEST, "invalid type");

    // Metrics count what happened.
    let text = g
        .http
        .get(format!("{}/metrics", g.dash))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("kafclaw_http_requests_total{server=\"api\",route=\"/chat\",method=\"POST\",status=\"400\"}"), "{text}");
    assert!(
        text.contains("kafclaw_chat_turns_total{outcome=\"failed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("kafclaw_tasks{status=\"failed\"} 1"),
        "{text}"
    );
    assert!(text.contains("kafclaw_queue_depth 0"), "{text}");
}

/// Rewrites the OpenAPI document's component schemas into a JSON Schema for one of them.
fn component_schema(doc: &Value, name: &str) -> Value {
    let schemas = doc["components"]["schemas"]
        .to_string()
        .replace("#/components/schemas/", "#/$defs/");
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": serde_json::from_str::<Value>(&schemas).unwrap(),
        "$ref": format!("#/$defs/{name}"),
    })
}

fn assert_valid(doc: &Value, name: &str, instance: &Value) {
    let schema = component_schema(doc, name);
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{instance}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_running_server() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::tool_call("list_dir", json!({"path": "."})),
            Reply::text("listed"),
        ],
    )
    .await
    .unwrap();
    let home = Home::new(&provider_config(&llm));
    let g = Gateway::start(&home, &[], &[]);

    // Every documented operation exists on the server (a 404 may only be a resource's).
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            if method == "servers" {
                continue;
            }
            let on_api = item["servers"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|s| s["url"].as_str().unwrap().ends_with(":18790"))
            });
            let base = if on_api { &g.api } else { &g.dash };
            let url = format!("{base}{}", path.replace("{id}", "doc-check"));
            let rb = match method.as_str() {
                "get" => g.http.get(url),
                "post" => g.http.post(url).json(&json!({})),
                m => panic!("unexpected method {m} in the document"),
            };
            let res = rb.send().await.unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert!(!body.contains("no route for"), "{method} {path}: {body}");
            // Documented status codes only.
            let documented = item[method]["responses"]
                .as_object()
                .unwrap()
                .contains_key(status.as_str());
            assert!(
                documented,
                "{method} {path} answered {status}, not documented: {body}"
            );
        }
    }
    // Every route of the server is documented.
    for r in kafclaw_gateway::routes() {
        let item = &doc["paths"][r.path];
        assert!(
            item[r.method.to_lowercase()].is_object(),
            "{r:?} is not documented"
        );
    }

    // Answers validate against their documented schemas.
    let (status, reply) = g.chat("list the files", "doc").await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_valid(&doc, "ChatReply", &reply);
    let trace_id = reply["trace_id"].as_str().unwrap();
    let task_id = reply["task_id"].as_str().unwrap();
    for (path, schema) in [
        ("/api/v1/status".to_owned(), "Status"),
        ("/api/v1/tasks".to_owned(), "TaskPage"),
        (format!("/api/v1/tasks/{task_id}"), "Task"),
        (format!("/api/v1/trace/{trace_id}"), "Trace"),
        ("/api/v1/timeline?limit=50".to_owned(), "EventPage"),
        ("/api/v1/policy-decisions".to_owned(), "PolicyDecisionPage"),
        ("/api/v1/approvals/pending".to_owned(), "ApprovalPage"),
        ("/api/v1/settings".to_owned(), "SettingList"),
        ("/api/v1/tasks?status=nope".to_owned(), "Error"),
    ] {
        let (_, body) = g.get(&path).await;
        assert_valid(&doc, schema, &body);
    }
    let (_, trace) = g.get(&format!("/api/v1/trace/{trace_id}")).await;
    assert!(!trace["events"].as_array().unwrap().is_empty());
    assert!(!trace["decisions"].as_array().unwrap().is_empty());
    let (_, setting) = g
        .post_json(
            &g.dash,
            "/api/v1/settings",
            json!({"key": "silent_mode", "value": "false"}),
        )
        .await;
    assert_valid(&doc, "Setting", &setting);
    let (_, err) = g.post_json(&g.api, "/chat", json!({"message": ""})).await;
    assert_valid(&doc, "Error", &err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_tasks_finish_or_stay_queued() {
    // 1. A task that finishes within the grace period answers its chat, then exit 0.
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![Reply::text("finished in time").delayed(Duration::from_millis(1500))],
    )
    .await
    .unwrap();
    let home = Home::new(&provider_config(&llm));
    let mut g = Gateway::start(&home, &["--shutdown-grace", "30"], &[]);
    let http = client();
    let api = g.api.clone();
    let chat = tokio::spawn(async move {
        let res = http
            .post(format!("{api}/chat"))
            .json(&json!({"message": "slow one", "session": "graceful"}))
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    });
    let l = &llm;
    until("the model call to start", || async move {
        (!l.requests().is_empty()).then_some(())
    })
    .await;
    let status = g.terminate().await;
    assert_eq!(status.code(), Some(0));
    let (s, body) = chat.await.unwrap();
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["reply"], "finished in time");

    // 2. A task that cannot finish in the grace period stays queued (503 with its id) and
    //    runs at the next start.
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![Reply::text("too late").delayed(Duration::from_secs(60))],
    )
    .await
    .unwrap();
    let home = Home::new(&provider_config(&llm));
    let mut g = Gateway::start(&home, &["--shutdown-grace", "1"], &[]);
    let http = client();
    let api = g.api.clone();
    let chat = tokio::spawn(async move {
        let res = http
            .post(format!("{api}/chat"))
            .json(&json!({"message": "very slow", "session": "requeue"}))
            .send()
            .await
            .unwrap();
        (res.status(), res.json::<Value>().await.unwrap())
    });
    let l = &llm;
    until("the model call to start", || async move {
        (!l.requests().is_empty()).then_some(())
    })
    .await;
    let status = g.terminate().await;
    assert_eq!(status.code(), Some(0));
    let (s, body) = chat.await.unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("shutting down"),
        "{body}"
    );
    let task_id = body["task_id"].as_str().unwrap().to_owned();
    let tl = kafclaw_timeline::Timeline::open(kafclaw_timeline::TimelineOptions::new(
        home.path().join("timeline.db"),
    ))
    .await
    .unwrap();
    let task = tl.get_task(&task_id).await.unwrap().unwrap();
    assert!(!task.status.is_terminal(), "{:?}", task.status);
    drop(tl);
    llm.push([Reply::text("done after restart")]);
    let g = Gateway::start(&home, &[], &[]);
    let gr = &g;
    let done = until("the re-queued task to complete", move || {
        let g = gr;
        let task_id = task_id.clone();
        async move {
            let (_, t) = g.get(&format!("/api/v1/tasks/{task_id}")).await;
            (t["status"] == "completed").then_some(t)
        }
    })
    .await;
    assert_eq!(done["content_out"], "done after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_timeout_idempotency_key_and_traceparent() {
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::text("slow answer").delayed(Duration::from_secs(3)),
            Reply::text("first answer"),
            Reply::text("must not be used"),
        ],
    )
    .await
    .unwrap();
    let home = Home::new(&provider_config(&llm));
    let g = Gateway::start(&home, &["--chat-timeout", "1"], &[]);

    // Longer than the chat timeout: 504 with the task id; the task goes on.
    let (s, body) = g.chat("take your time", "slow").await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("goes on"),
        "{body}"
    );
    assert_eq!(body["status"], "processing");
    let task_id = body["task_id"].as_str().unwrap().to_owned();
    let gr = &g;
    let done = until("the slow task to complete", move || {
        let task_id = task_id.clone();
        async move {
            let (_, t) = gr.get(&format!("/api/v1/tasks/{task_id}")).await;
            (t["status"] == "completed").then_some(t)
        }
    })
    .await;
    assert_eq!(done["content_out"], "slow answer");

    // A W3C traceparent is continued; an idempotency key makes a repeat return the first task.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let send = || {
        g.http
            .post(format!("{}/chat", g.api))
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .header("Idempotency-Key", "order-42")
            .json(&json!({"message": "once", "session": "idem"}))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["reply"], "first answer", "{first}");
    assert_eq!(first["trace_id"], trace);
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["task_id"], first["task_id"], "{again}");
    assert_eq!(again["reply"], "first answer");
    assert_eq!(llm.remaining(), 1, "the repeat reached the model");
    let res = g
        .http
        .post(format!("{}/chat", g.api))
        .header("traceparent", "not-a-trace")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("traceparent"),
        "{body}"
    );
}
