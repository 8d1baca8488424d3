//! `cargo xtask bench chat` (or `cargo bench -p kafclaw --bench chat`): the framework's
//! own cost per chat turn. Starts the scripted OpenAI-compatible server (answering at
//! once) and the real `kafclaw gateway` (release build) on loopback, then alternates two
//! kinds of calls with the same HTTP client:
//! - a direct call to the scripted server (`POST /v1/chat/completions`), and
//! - a `POST /chat` through the gateway (queue, timeline writes, context building,
//!   policy, one call to the same scripted server, reply).
//!
//! The difference of the two latency distributions is the gateway's overhead per turn.
//! A `GET /healthz` on the same listener shows what the HTTP layer alone costs.
//! Also reports the gateway's resident memory idle and after the measured chats.
//! Environment: `KAFCLAW_BENCH_CHATS` (default 1000), `KAFCLAW_BENCH_WARMUP` (100).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kafclaw_testkit::{Reply, ScriptedLlm, Wire};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let total: Duration = v.iter().sum();
    Stats {
        p50: percentile(&v, 0.50),
        p99: percentile(&v, 0.99),
        mean: total / u32::try_from(v.len().max(1)).unwrap_or(u32::MAX),
    }
}

struct Gateway {
    child: Child,
    api: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(home: &std::path::Path, llm: &ScriptedLlm) -> Gateway {
    let config = json!({
        "providers": {"openai": {"apiKey": "sk-bench", "apiBase": llm.base_url()}},
        "model": {"name": "openai/gpt-bench", "maxAttempts": 1},
    });
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(home).expect("create KAFCLAW_HOME");
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).expect("chmod home");
    let file = home.join("config.json");
    std::fs::write(&file, config.to_string()).expect("write config");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafclaw"))
        .args(["gateway", "--chat-timeout", "30"])
        .env_clear()
        .env("HOME", home)
        .env("KAFCLAW_HOME", home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KAFCLAW_GATEWAY_PORT", free_port().to_string())
        .env("KAFCLAW_GATEWAY_DASHBOARD_PORT", free_port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn kafclaw gateway");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the gateway printed no start line");
    let marker = "API http://";
    let at = line.find(marker).expect("start line names the API address") + marker.len();
    let addr = line[at..].split_whitespace().next().unwrap_or_default();
    Gateway {
        child,
        api: format!("http://{addr}"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let chats = env_usize("KAFCLAW_BENCH_CHATS", 1000);
    let warmup = env_usize("KAFCLAW_BENCH_WARMUP", 100);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let llm = ScriptedLlm::start(Wire::OpenAi, vec![])
        .await
        .expect("start the scripted server");
    // One reply per model call: warm-up and measured chats, plus the direct calls.
    llm.push((0..2 * (warmup + chats)).map(|_| Reply::text("ok")));
    let dir = tempfile::tempdir().expect("temp dir");
    let gw = start_gateway(&dir.path().join("kc"), &llm);
    let pid = gw.child.id();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("HTTP client");

    // Idle: listening, nothing chatted yet.
    let rss_idle = rss_kib(pid);

    let direct_body = json!({
        "model": "gpt-bench",
        "messages": [{"role": "system", "content": "You are a bench."}, {"role": "user", "content": "ping"}],
    });
    let direct_url = format!("{}/chat/completions", llm.base_url());
    let chat_url = format!("{}/chat", gw.api);
    let health_url = format!("{}/healthz", gw.api);
    let mut direct = Vec::with_capacity(chats);
    let mut through = Vec::with_capacity(chats);
    let mut health = Vec::with_capacity(chats);
    for i in 0..warmup + chats {
        let t = Instant::now();
        let res = http
            .post(&direct_url)
            .bearer_auth("sk-bench")
            .json(&direct_body)
            .send()
            .await
            .expect("direct call");
        assert!(res.status().is_success(), "direct call: {}", res.status());
        let _ = res.bytes().await;
        let d_direct = t.elapsed();

        let t = Instant::now();
        let res = http
            .post(&chat_url)
            .json(&json!({"message": format!("ping {i}")}))
            .send()
            .await
            .expect("POST /chat");
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST /chat: {status} {body}");
        let d_chat = t.elapsed();

        // The HTTP layer alone: a route that does no work, same listener and client.
        let t = Instant::now();
        let res = http.get(&health_url).send().await.expect("GET /healthz");
        assert!(res.status().is_success(), "GET /healthz: {}", res.status());
        let _ = res.bytes().await;
        let d_health = t.elapsed();
        if i >= warmup {
            direct.push(d_direct);
            through.push(d_chat);
            health.push(d_health);
        }
    }
    let rss_after = rss_kib(pid);
    let mut overhead: Vec<Duration> = through
        .iter()
        .zip(&direct)
        .map(|(c, d)| c.saturating_sub(*d))
        .collect();
    overhead.sort();
    let (g, d, h) = (stats(through), stats(direct), stats(health));

    println!();
    println!(
        "POST /chat through the gateway vs the scripted server alone ({chats} turns after {warmup} warm-up, sequential, keep-alive)"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "", "p50 ms", "p99 ms", "mean ms"
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "gateway POST /chat (1 model call)",
        ms(g.p50),
        ms(g.p99),
        ms(g.mean)
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "scripted server alone (direct)",
        ms(d.p50),
        ms(d.p99),
        ms(d.mean)
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "overhead (gateway - direct)",
        ms(g.p50.saturating_sub(d.p50)),
        ms(g.p99.saturating_sub(d.p99)),
        ms(g.mean.saturating_sub(d.mean))
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "of which HTTP layer (GET /healthz)",
        ms(h.p50),
        ms(h.p99),
        ms(h.mean)
    );
    println!(
        "{:<40} {:>10} {:>10}",
        "overhead per turn (paired difference)",
        ms(percentile(&overhead, 0.50)),
        ms(percentile(&overhead, 0.99))
    );
    println!(
        "ratio gateway/direct p50: {:.2}x",
        g.p50.as_secs_f64() / d.p50.as_secs_f64().max(1e-9)
    );
    let target = Duration::from_micros(2500);
    let over = g.p50.saturating_sub(d.p50);
    println!(
        "target overhead p50 < 2.5 ms: {} ({} ms)",
        if over < target { "met" } else { "NOT met" },
        ms(over)
    );
    println!(
        "gateway RSS: idle {:.1} MiB, after {} chats {:.1} MiB (+{:.1} MiB)",
        rss_idle as f64 / 1024.0,
        chats + warmup,
        rss_after as f64 / 1024.0,
        rss_after.saturating_sub(rss_idle) as f64 / 1024.0
    );
    drop(gw);
}
