//! web_fetch against real HTTP servers on loopback addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kafclaw_tools::{
    Error, HostLookup, RefusalRule, Tool, ToolOutput, WebFetchConfig, WebFetchTool,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::ctx;

#[derive(Clone)]
enum Resp {
    Ok(String),
    Redirect(String),
    /// Never answer; hold the connection until the client goes away.
    Hang,
}

/// A minimal HTTP/1.1 server; counts accepted connections.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start(ip: &str, routes: Vec<(&str, Resp)>) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let routes: Arc<HashMap<String, Resp>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect());
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let resp = match routes.get(&path).cloned() {
                        Some(Resp::Ok(body)) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        Some(Resp::Redirect(to)) => format!(
                            "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        ),
                        Some(Resp::Hang) => {
                            let _ = sock.read(&mut buf).await;
                            return;
                        }
                        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Self { addr, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Resolves every name in its table; used to make public-looking names point at loopback.
#[derive(Debug)]
struct Table(HashMap<String, IpAddr>);

#[async_trait]
impl HostLookup for Table {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        self.0
            .get(host)
            .map(|ip| vec![*ip])
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, host.to_owned()))
    }
}

fn table(entries: &[(&str, &str)]) -> Arc<Table> {
    Arc::new(Table(
        entries
            .iter()
            .map(|(h, ip)| ((*h).to_owned(), ip.parse().expect("ip")))
            .collect(),
    ))
}

fn allow_loopback_one() -> WebFetchConfig {
    WebFetchConfig {
        allow_cidrs: vec!["127.0.0.1/32".into()],
        ..WebFetchConfig::default()
    }
}

async fn fetch(tool: &WebFetchTool, url: &str) -> Result<ToolOutput, Error> {
    tool.execute(json!({ "url": url }), &ctx()).await
}

fn blocked(r: &Result<ToolOutput, Error>) -> String {
    match r.as_ref().err().and_then(|e| e.refusal()) {
        Some(refusal) => {
            assert_eq!(refusal.rule, RefusalRule::AddressBlocked, "{refusal}");
            refusal.reason.clone()
        }
        None => panic!("expected an address refusal, got {r:?}"),
    }
}

#[tokio::test]
async fn loopback_is_refused_by_default_and_allowed_when_listed() {
    let server = Server::start(
        "127.0.0.1",
        vec![("/", Resp::Ok("hello from loopback".into()))],
    )
    .await;
    let tool = WebFetchTool::new(WebFetchConfig::default()).expect("tool");
    let reason = blocked(&fetch(&tool, &server.url("/")).await);
    assert!(
        reason.contains("127.0.0.1") && reason.contains("loopback"),
        "{reason}"
    );
    assert_eq!(server.hits(), 0, "a refused fetch connected");

    let tool = WebFetchTool::new(allow_loopback_one()).expect("tool");
    let out = fetch(&tool, &server.url("/")).await.expect("allowed fetch");
    assert!(out.content.starts_with("HTTP 200 OK\n"), "{}", out.content);
    assert!(
        out.content.ends_with("\n\nhello from loopback"),
        "{}",
        out.content
    );
    assert!(!out.is_error);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn localhost_is_refused_after_system_dns_resolution() {
    let server = Server::start("127.0.0.1", vec![("/", Resp::Ok("local".into()))]).await;
    let url = format!("http://localhost:{}/", server.addr.port());
    let tool = WebFetchTool::new(WebFetchConfig::default()).expect("tool");
    let reason = blocked(&fetch(&tool, &url).await);
    assert!(reason.contains("localhost"), "{reason}");
    assert_eq!(server.hits(), 0);

    let tool = WebFetchTool::new(WebFetchConfig {
        allow_cidrs: vec!["127.0.0.0/8".into(), "::1/128".into()],
        ..WebFetchConfig::default()
    })
    .expect("tool");
    let out = fetch(&tool, &url).await.expect("allowed");
    assert!(out.content.ends_with("local"));
}

#[tokio::test]
async fn a_public_looking_name_resolving_to_loopback_is_refused_and_pinned() {
    let server = Server::start("127.0.0.1", vec![("/", Resp::Ok("pinned".into()))]).await;
    let lookup = table(&[("www.example.com", "127.0.0.1")]);
    let url = format!("http://www.example.com:{}/", server.addr.port());
    let tool = WebFetchTool::with_lookup(WebFetchConfig::default(), lookup.clone()).expect("tool");
    let reason = blocked(&fetch(&tool, &url).await);
    assert!(
        reason.contains("www.example.com") && reason.contains("127.0.0.1"),
        "{reason}"
    );
    assert_eq!(server.hits(), 0);

    // Allow-listed by name: the connection goes to exactly the address the resolver
    // returned (the server on 127.0.0.1), not to a second lookup.
    let tool = WebFetchTool::with_lookup(
        WebFetchConfig {
            allow_hosts: vec!["www.example.com".into()],
            ..WebFetchConfig::default()
        },
        lookup,
    )
    .expect("tool");
    let out = fetch(&tool, &url).await.expect("allowed by name");
    assert!(out.content.ends_with("pinned"));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn redirects_to_blocked_addresses_are_refused_on_every_hop() {
    // Targets on 127.0.0.2 and ::1 count connections; none may arrive.
    let other = Server::start(
        "127.0.0.2",
        vec![("/", Resp::Ok("should not be reached".into()))],
    )
    .await;
    let lookup = table(&[("internal.test", "127.0.0.2"), ("127.0.0.1", "127.0.0.1")]);
    let to_other_literal = other.url("/");
    let to_other_name = format!("http://internal.test:{}/", other.addr.port());
    let entry = Server::start(
        "127.0.0.1",
        vec![
            ("/to-literal", Resp::Redirect(to_other_literal.clone())),
            ("/to-name", Resp::Redirect(to_other_name)),
            ("/to-v6", Resp::Redirect("http://[::1]:9/".into())),
            ("/to-file", Resp::Redirect("file:///etc/passwd".into())),
            ("/hop1", Resp::Redirect("/hop2".into())),
            ("/hop2", Resp::Redirect("/final".into())),
            ("/final", Resp::Ok("after two hops".into())),
            ("/loop", Resp::Redirect("/loop".into())),
        ],
    )
    .await;
    let tool = WebFetchTool::with_lookup(allow_loopback_one(), lookup).expect("tool");

    let reason = blocked(&fetch(&tool, &entry.url("/to-literal")).await);
    assert!(reason.contains("127.0.0.2"), "{reason}");
    let reason = blocked(&fetch(&tool, &entry.url("/to-name")).await);
    assert!(reason.contains("internal.test"), "{reason}");
    let reason = blocked(&fetch(&tool, &entry.url("/to-v6")).await);
    assert!(reason.contains("::1"), "{reason}");
    assert_eq!(other.hits(), 0, "a redirect reached a blocked address");

    let r = fetch(&tool, &entry.url("/to-file")).await;
    assert_eq!(
        r.as_ref().err().and_then(|e| e.refusal()).map(|r| r.rule),
        Some(RefusalRule::UrlRefused),
        "{r:?}"
    );

    let out = fetch(&tool, &entry.url("/hop1"))
        .await
        .expect("allowed redirects");
    assert!(out.content.contains(&entry.url("/final")) && out.content.ends_with("after two hops"));

    let r = fetch(&tool, &entry.url("/loop")).await;
    assert_eq!(
        r.as_ref().err().and_then(|e| e.refusal()).map(|r| r.rule),
        Some(RefusalRule::TooManyRedirects),
        "{r:?}"
    );
}

#[tokio::test]
async fn body_size_and_time_are_capped() {
    let server = Server::start(
        "127.0.0.1",
        vec![
            ("/big", Resp::Ok("y".repeat(100_000))),
            ("/hang", Resp::Hang),
        ],
    )
    .await;
    let tool = WebFetchTool::new(WebFetchConfig {
        max_bytes: 1000,
        timeout_secs: 1,
        ..allow_loopback_one()
    })
    .expect("tool");
    let out = fetch(&tool, &server.url("/big")).await.expect("fetch");
    assert!(out.truncated);
    assert!(out.content.ends_with("\n[truncated at 1000 bytes]"));
    assert!(out.content.len() < 1200);
    let out = tool
        .execute(json!({"url": server.url("/big"), "max_bytes": 10}), &ctx())
        .await
        .expect("fetch");
    assert!(
        out.content
            .contains("\n\nyyyyyyyyyy\n[truncated at 10 bytes]")
    );

    match fetch(&tool, &server.url("/hang")).await {
        Err(Error::Fetch { problem, .. }) => assert!(problem.contains("timed out"), "{problem}"),
        other => panic!("{other:?}"),
    }
}
