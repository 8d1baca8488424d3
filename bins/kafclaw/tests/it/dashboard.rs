//! The dashboard page in a real browser. `kafclaw gateway --mode standalone` runs with
//! its model served by a scripted OpenAI-compatible server; headless Chromium is driven
//! through ChromeDriver's WebDriver HTTP API (W3C JSON over loopback, sent with reqwest).
//! The page must load without script errors, list the recent tasks and the pending
//! approvals, decide an approval when its button is clicked, and, when the gateway has a
//! token, ask for it and send it from then on.
//!
//! Needs `chromium` and `chromedriver` on PATH (Debian packages `chromium` and
//! `chromium-driver`, which `cargo xtask test` installs when it runs as root). Without
//! them the tests skip locally and fail when `CI` is true.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use kafclaw_testkit::{Reply, ScriptedLlm, Wire, wait_until_async};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Long enough for any step on a loaded machine; nothing asserts on time.
const WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);
/// Runs in every document before the page's own script: records script errors,
/// unhandled rejections and CSP violations in `window.__kafclawErrors`, and, when the
/// test has set the session flag `kafclaw-test-no-timer`, turns off the page's 5 s
/// refresh so that the page changes only when the test acts.
const HOOK: &str = r#"
window.__kafclawErrors = [];
window.addEventListener("error", (e) =>
    window.__kafclawErrors.push("error: " + e.message + " at " + e.filename + ":" + e.lineno));
window.addEventListener("unhandledrejection", (e) =>
    window.__kafclawErrors.push("unhandled rejection: " + String(e.reason)));
document.addEventListener("securitypolicyviolation", (e) =>
    window.__kafclawErrors.push("CSP violation: " + e.violatedDirective + " " + e.blockedURI));
if (sessionStorage.getItem("kafclaw-test-no-timer") === "1") window.setInterval = () => 0;
"#;
/// `--chat-timeout` of the gateway, and how long the test waits for a chat.
const CHAT_TIMEOUT: Duration = Duration::from_secs(600);
const TOKEN: &str = "dashboard-token-0123456789abcdef";
/// The key under which W3C WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Chromium and ChromeDriver, or `None` (with the reason on stderr) when one is
/// missing locally. Panics in CI, where a missing browser is a failure.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = on_path("chromium");
    let driver = on_path("chromedriver");
    if let (Some(c), Some(d)) = (&chromium, &driver) {
        return Some((c.clone(), d.clone()));
    }
    let missing: Vec<&str> = [("chromium", &chromium), ("chromedriver", &driver)]
        .into_iter()
        .filter(|(_, found)| found.is_none())
        .map(|(name, _)| name)
        .collect();
    let message = format!(
        "the dashboard browser test needs {} on PATH (Debian: apt-get install chromium chromium-driver; \
         `cargo xtask test` installs them when run as root)",
        missing.join(" and ")
    );
    if kafclaw_testkit::is_ci(|k| std::env::var(k).ok()) {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

/// A running `kafclaw gateway --mode standalone` in a temporary KAFCLAW_HOME.
struct Gateway {
    child: Child,
    dir: tempfile::TempDir,
    api: String,
    dash: String,
    token: Option<&'static str>,
    http: reqwest::Client,
}

impl Gateway {
    /// Starts the gateway on free ports, owner tool calls of tier 1 needing approval.
    fn start(llm: &ScriptedLlm, token: Option<&'static str>) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("kc");
        std::fs::create_dir_all(&home).unwrap();
        let config = json!({
            "providers": {"openai": {"apiKey": "sk-test", "apiBase": llm.base_url()}},
            "model": {"name": "openai/gpt-test", "maxAttempts": 1},
            "policy": {"owner": {"approvalTiers": [1]}},
        });
        std::fs::write(home.join("config.json"), config.to_string()).unwrap();
        let stderr_path = dir.path().join("gateway.stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.args(["gateway", "--mode", "standalone", "--chat-timeout"])
            .arg(CHAT_TIMEOUT.as_secs().to_string())
            .env_clear()
            .env("HOME", dir.path())
            .env("KAFCLAW_HOME", &home)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFCLAW_GATEWAY_PORT", free_port().to_string())
            .env("KAFCLAW_GATEWAY_DASHBOARD_PORT", free_port().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).unwrap());
        if let Some(t) = token {
            cmd.env("KAFCLAW_GATEWAY_AUTH_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("spawn kafclaw gateway");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keeps reading after the start line so the gateway never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let Ok(line) = rx.recv_timeout(WAIT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the gateway did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        };
        let url = |marker: &str| {
            let at = line
                .find(marker)
                .unwrap_or_else(|| panic!("no {marker:?} in the start line {line:?}"));
            let rest = &line[at + marker.len()..];
            format!("http://{}", rest.split_whitespace().next().unwrap())
        };
        let (api, dash) = (url("API http://"), url("dashboard http://"));
        Gateway {
            child,
            dir,
            api,
            dash,
            token,
            http: http_client(),
        }
    }

    fn work_dir(&self) -> PathBuf {
        self.dir.path().join("kc").join("work-repo")
    }

    fn authed(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// `GET` on the dashboard listener; the answer must be 200.
    async fn get(&self, path: &str) -> Value {
        let res = self
            .authed(self.http.get(format!("{}{path}", self.dash)))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// `POST /chat`; waits as long as the gateway's own chat timeout, since a parked
    /// task answers only after the browser has decided its approval.
    async fn chat(&self, message: &str, session: &str) -> (StatusCode, Value) {
        let res = self
            .authed(self.http.post(format!("{}/chat", self.api)))
            .timeout(CHAT_TIMEOUT)
            .json(&json!({"message": message, "session": session}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Decides an approval through the API, as another operator would.
    async fn decide(&self, approval_id: &str, approve: bool) {
        let res = self
            .authed(
                self.http
                    .post(format!("{}/api/v1/approvals/{approval_id}", self.dash)),
            )
            .json(&json!({"approve": approve}))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Waits until exactly one approval is pending and returns it.
    async fn pending_approval(&self) -> Value {
        let found = RefCell::new(Value::Null);
        let ok = wait_until_async(WAIT, POLL, || async {
            let body = self.get("/api/v1/approvals/pending").await;
            match body["approvals"].as_array() {
                Some(list) if list.len() == 1 => {
                    *found.borrow_mut() = list[0].clone();
                    true
                }
                _ => false,
            }
        })
        .await;
        assert!(ok, "no approval became pending");
        found.into_inner()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver error answer.
struct WdError {
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// ChromeDriver on a free loopback port with one headless Chromium session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // Its own process group, so Drop can end ChromeDriver and the browser together.
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.path().join("chromedriver.log")).unwrap())
            .spawn()
            .expect("spawn chromedriver");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http: http_client(),
            dir,
        };
        let ready = wait_until_async(WAIT, POLL, || async {
            match browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await
            {
                Ok(res) => res
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        assert!(
            ready,
            "chromedriver did not become ready on port {port}: {}",
            browser.driver_log()
        );
        let profile = browser.dir.path().join("profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1024",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = match browser.raw(Method::POST, "/session", Some(caps)).await {
            Ok(v) => v,
            Err(e) => panic!(
                "chromedriver could not start Chromium: {e}\n{}",
                browser.driver_log()
            ),
        };
        browser.session = created["sessionId"].as_str().unwrap().to_owned();
        browser
            .call(
                Method::POST,
                "/goog/cdp/execute",
                json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": HOOK}}),
            )
            .await;
        browser
    }

    fn driver_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// One WebDriver command on the driver (not the session); the `value` of the answer.
    async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.map_err(|e| WdError {
            error: "transport".into(),
            message: e.to_string(),
        })?;
        let ok = res.status().is_success();
        let v: Value = res.json().await.map_err(|e| WdError {
            error: "bad answer".into(),
            message: e.to_string(),
        })?;
        let value = v["value"].clone();
        if ok {
            Ok(value)
        } else {
            Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown").to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// A command on the session.
    async fn try_call(&self, method: Method, path: &str, body: Value) -> Result<Value, WdError> {
        let body = (method == Method::POST).then_some(body);
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {path}: {e}"),
        }
    }

    async fn open(&self, url: &str) {
        self.call(Method::POST, "/url", json!({"url": url})).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.call(
            Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// What the page shows: status line, error line, whether the token form is visible,
    /// the cells of the two tables, the errors the hook caught and the stored token.
    async fn snapshot(&self) -> Value {
        self.run(
            r#"const $ = (id) => document.getElementById(id);
            const rows = (id) => Array.from($(id).rows).map((tr) =>
                Array.from(tr.cells).map((td) => td.textContent));
            return {
                status: $("status").textContent,
                error: $("error").textContent,
                login: getComputedStyle($("login")).display !== "none",
                approvals: rows("approvals"),
                tasks: rows("tasks"),
                errors: window.__kafclawErrors === undefined ? null : window.__kafclawErrors,
                token: sessionStorage.getItem("kafclaw-token"),
            };"#,
        )
        .await
    }

    /// Polls the page until `cond` holds; on timeout fails with the last snapshot and
    /// the browser's log.
    async fn wait_for(&self, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let last = RefCell::new(Value::Null);
        let ok = wait_until_async(WAIT, POLL, || async {
            let snap = self.snapshot().await;
            let done = cond(&snap);
            *last.borrow_mut() = snap;
            done
        })
        .await;
        let last = last.into_inner();
        if !ok {
            let log = self.log().await;
            panic!("the page never showed {what}; last seen: {last:#}\nbrowser log: {log:#?}");
        }
        last
    }

    /// Finds an element by XPath and clicks it with a real (trusted) click. The page
    /// rebuilds its tables every few seconds, so a reference that went stale before the
    /// click is looked up again.
    async fn click(&self, xpath: &str) {
        let last = RefCell::new(String::new());
        let clicked = wait_until_async(WAIT, POLL, || async {
            let found = self
                .try_call(
                    Method::POST,
                    "/element",
                    json!({"using": "xpath", "value": xpath}),
                )
                .await;
            let result = match found {
                Ok(el) => {
                    let id = el[ELEMENT].as_str().unwrap().to_owned();
                    self.try_call(Method::POST, &format!("/element/{id}/click"), json!({}))
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(_) => true,
                Err(e) if e.error == "stale element reference" || e.error == "no such element" => {
                    *last.borrow_mut() = format!("{e}");
                    false
                }
                Err(e) => panic!("clicking {xpath}: {e}"),
            }
        })
        .await;
        assert!(clicked, "could not click {xpath}: {}", last.into_inner());
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .call(
                Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        let id = el[ELEMENT].as_str().unwrap().to_owned();
        self.call(
            Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// The browser's console and network log since the last call (ChromeDriver's log
    /// endpoint drains it).
    async fn log(&self) -> Vec<Value> {
        self.call(Method::POST, "/se/log", json!({"type": "browser"}))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Severe log entries, leaving out the favicon (the gateway has none) and the
    /// answers with one of the `expected` HTTP statuses (the 401s the page gets before
    /// it has the token, a 409 for a decision made elsewhere).
    async fn severe_log(&self, expected: &[u16]) -> Vec<String> {
        self.log()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| {
                format!(
                    "{}: {}",
                    e["source"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                )
            })
            .filter(|m| {
                let network = m.starts_with("network:");
                !(network
                    && (m.contains("/favicon.ico")
                        || expected
                            .iter()
                            .any(|code| m.contains(&format!("status of {code} ")))))
            })
            .collect()
    }

    async fn quit(&self) {
        let _ = self.try_call(Method::DELETE, "", json!(null)).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ChromeDriver and the Chromium it started share one process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The cells of a table in a snapshot.
fn rows(snap: &Value, table: &str) -> Vec<Vec<String>> {
    snap[table]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|c| c.as_str().unwrap_or_default().to_owned())
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the tasks table has the task of `trace` with `status` and `request`.
/// Columns: created, status, channel, sender, request, answer, trace.
fn shows_task(snap: &Value, trace: &str, status: &str, request: &str) -> bool {
    rows(snap, "tasks")
        .iter()
        .any(|r| r.len() == 7 && r[6] == trace && r[1] == status && r[4] == request)
}

/// Whether the approvals table lists a `tool` call whose arguments mention `arg`.
/// Columns: requested, tool, tier, arguments, sender, decision.
fn shows_approval(snap: &Value, tool: &str, arg: &str) -> bool {
    rows(snap, "approvals")
        .iter()
        .any(|r| r.len() == 6 && r[1] == tool && r[3].contains(arg) && r[5] == "ApproveDeny")
}

fn no_approvals(snap: &Value) -> bool {
    rows(snap, "approvals") == vec![vec!["none".to_owned()]]
}

fn hook_errors(snap: &Value) -> Vec<Value> {
    snap["errors"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("the error hook is not installed: {snap:#}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v:#}"))
}

/// The approval of `trace`, as the trace endpoint reports it after the decision.
async fn decided(g: &Gateway, trace: &str, approval_id: &str) -> Value {
    let t = g.get(&format!("/api/v1/trace/{trace}")).await;
    t["approvals"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["approval_id"] == approval_id))
        .cloned()
        .unwrap_or_else(|| panic!("approval {approval_id} not in the trace: {t:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_tasks_and_approvals_and_approve_resumes_the_task() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::text("hello from the model"),
            Reply::tool_call(
                "write_file",
                json!({"path": "a.txt", "content": "approved in the browser"}),
            ),
            Reply::text("a.txt is written"),
            Reply::tool_call("write_file", json!({"path": "c.txt", "content": "never"})),
            Reply::text("c.txt was denied"),
        ],
    )
    .await
    .unwrap();
    let g = Arc::new(Gateway::start(&llm, None));

    // A completed chat, and a task parked on an approval.
    let (status, chat) = g.chat("say hello", "dash-chat").await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let chat_trace = str_of(&chat, "trace_id").to_owned();
    let parked = tokio::spawn({
        let g = g.clone();
        async move { g.chat("write a.txt", "dash-write").await }
    });
    let approval = g.pending_approval().await;
    assert_eq!(approval["tool"], "write_file");
    let approval_id = str_of(&approval, "approval_id").to_owned();
    let parked_task = str_of(&approval, "task_id").to_owned();
    let parked_trace = str_of(&approval, "trace_id").to_owned();

    let b = Browser::start(&chromium, &chromedriver).await;
    b.open(&format!("{}/", g.dash)).await;
    let snap = b
        .wait_for("the chat's task and the pending approval", |s| {
            s["status"]
                .as_str()
                .is_some_and(|t| t.starts_with("mode standalone"))
                && shows_task(s, &chat_trace, "completed", "say hello")
                && shows_approval(s, "write_file", "a.txt")
        })
        .await;
    assert!(
        !snap["login"].as_bool().unwrap(),
        "no token, no login form: {snap:#}"
    );
    assert_eq!(snap["error"], "", "{snap:#}");
    assert_eq!(hook_errors(&snap), Vec::<Value>::new(), "{snap:#}");
    assert!(
        !parked.is_finished(),
        "the write must wait for the approval"
    );

    b.click(r#"//tbody[@id="approvals"]/tr[td[2]="write_file"]//button[.="Approve"]"#)
        .await;

    // The click decided it: the parked task resumes and finishes.
    let (status, reply) = parked.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["reply"], "a.txt is written");
    assert_eq!(reply["task_id"], parked_task.as_str());
    let pending = g.get("/api/v1/approvals/pending").await;
    assert_eq!(pending["approvals"], json!([]), "{pending}");
    let task = g.get(&format!("/api/v1/tasks/{parked_task}")).await;
    assert_eq!(task["status"], "completed", "{task}");
    let a = decided(&g, &parked_trace, &approval_id).await;
    assert_eq!(a["status"], "approved", "{a}");
    assert!(
        str_of(&a, "decided_by").starts_with("dashboard@127.0.0.1"),
        "{a}"
    );
    assert_eq!(
        std::fs::read_to_string(g.work_dir().join("a.txt")).unwrap(),
        "approved in the browser"
    );

    // The page catches up: nothing pending, the task completed.
    let snap = b
        .wait_for("no pending approval and the write completed", |s| {
            no_approvals(s) && shows_task(s, &parked_trace, "completed", "write a.txt")
        })
        .await;
    assert_eq!(snap["error"], "", "{snap:#}");
    assert_eq!(hook_errors(&snap), Vec::<Value>::new(), "{snap:#}");
    let severe = b.severe_log(&[]).await;
    assert!(severe.is_empty(), "browser log: {severe:#?}");

    // A click on an approval that someone else decided meanwhile is refused (409), and
    // the page keeps saying why. The page's timer is off for this part, so it still
    // shows the buttons after the other decision, as a page that has not refreshed yet.
    let parked = tokio::spawn({
        let g = g.clone();
        async move { g.chat("write c.txt", "dash-write-2").await }
    });
    let approval = g.pending_approval().await;
    let approval_id = str_of(&approval, "approval_id").to_owned();
    b.run(r#"sessionStorage.setItem("kafclaw-test-no-timer", "1"); return null;"#)
        .await;
    b.open(&format!("{}/", g.dash)).await;
    b.wait_for("the second approval", |s| {
        shows_approval(s, "write_file", "c.txt")
    })
    .await;
    g.decide(&approval_id, false).await;
    let (status, reply) = parked.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["reply"], "c.txt was denied");
    b.click(r#"//tbody[@id="approvals"]/tr[td[2]="write_file"]//button[.="Approve"]"#)
        .await;
    let snap = b
        .wait_for("the reason the click was refused", |s| {
            no_approvals(s)
                && s["error"]
                    == format!("Approve: approval request {approval_id} is already denied")
        })
        .await;
    assert_eq!(hook_errors(&snap), Vec::<Value>::new(), "{snap:#}");
    assert!(!g.work_dir().join("c.txt").exists());
    let severe = b.severe_log(&[409]).await;
    assert!(severe.is_empty(), "browser log: {severe:#?}");
    b.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_page_asks_for_it_and_then_sends_it() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let llm = ScriptedLlm::start(
        Wire::OpenAi,
        vec![
            Reply::text("hi there"),
            Reply::tool_call("write_file", json!({"path": "b.txt", "content": "no"})),
            Reply::text("b.txt was denied"),
        ],
    )
    .await
    .unwrap();
    let g = Arc::new(Gateway::start(&llm, Some(TOKEN)));
    let (status, chat) = g.chat("hello with a token", "dash-token-chat").await;
    assert_eq!(status, StatusCode::OK, "{chat}");
    let chat_trace = str_of(&chat, "trace_id").to_owned();
    let parked = tokio::spawn({
        let g = g.clone();
        async move { g.chat("write b.txt", "dash-token-write").await }
    });
    let approval = g.pending_approval().await;
    let approval_id = str_of(&approval, "approval_id").to_owned();
    let parked_trace = str_of(&approval, "trace_id").to_owned();

    let b = Browser::start(&chromium, &chromedriver).await;
    b.open(&format!("{}/", g.dash)).await;
    // The status is public; everything else needs the token, so the page asks for it
    // and shows no data.
    let snap = b
        .wait_for("the token form", |s| {
            s["login"] == true
                && s["status"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("mode standalone"))
                && s["error"]
                    .as_str()
                    .is_some_and(|t| t.contains("auth token"))
        })
        .await;
    assert!(rows(&snap, "tasks").is_empty(), "{snap:#}");
    assert!(rows(&snap, "approvals").is_empty(), "{snap:#}");
    assert_eq!(snap["token"], Value::Null, "{snap:#}");
    assert_eq!(hook_errors(&snap), Vec::<Value>::new(), "{snap:#}");

    b.type_into("#token", TOKEN).await;
    b.click(r#"//button[@id="save-token"]"#).await;
    let snap = b
        .wait_for("the data once the token is given", |s| {
            s["login"] == false
                && s["error"] == ""
                && shows_task(s, &chat_trace, "completed", "hello with a token")
                && shows_approval(s, "write_file", "b.txt")
        })
        .await;
    assert_eq!(snap["token"], TOKEN, "kept in sessionStorage: {snap:#}");
    // What the page logged before it had the token were the expected 401s.
    let severe = b.severe_log(&[401]).await;
    assert!(severe.is_empty(), "browser log: {severe:#?}");

    // Deciding needs the token too: Deny goes through and the task finishes.
    b.click(r#"//tbody[@id="approvals"]/tr[td[2]="write_file"]//button[.="Deny"]"#)
        .await;
    let (status, reply) = parked.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["reply"], "b.txt was denied");
    let pending = g.get("/api/v1/approvals/pending").await;
    assert_eq!(pending["approvals"], json!([]), "{pending}");
    let a = decided(&g, &parked_trace, &approval_id).await;
    assert_eq!(a["status"], "denied", "{a}");
    assert!(
        str_of(&a, "decided_by").starts_with("dashboard@127.0.0.1"),
        "{a}"
    );
    assert!(!g.work_dir().join("b.txt").exists());

    let snap = b
        .wait_for("no pending approval after the denial", |s| {
            no_approvals(s) && s["error"] == "" && s["login"] == false
        })
        .await;
    assert_eq!(hook_errors(&snap), Vec::<Value>::new(), "{snap:#}");
    // Every request since the token was given carried it: no more 401s.
    let severe = b.severe_log(&[]).await;
    assert!(severe.is_empty(), "browser log: {severe:#?}");
    b.quit().await;
}
