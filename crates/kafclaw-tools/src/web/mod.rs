//! `web_fetch`: GET a URL with size and time caps, refusing non-public destinations
//! after DNS resolution and on every redirect.
//!
//! The address check lives in the client's DNS resolver: the addresses it returns
//! are the ones the connection uses, so the check and the connect cannot disagree
//! (no DNS rebinding between them). IP-literal hosts never reach a resolver, so they
//! are checked when the URL is checked. Redirects are followed here, one request at
//! a time, each URL checked again. Proxies from the environment are ignored.

mod addr;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kafclaw_policy::ToolTier;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::WebFetchConfig;
use crate::error::{Error, Refusal, RefusalRule, Result};
use crate::tool::{Tool, ToolContext, ToolOutput};
use addr::{Cidr, classify};

const TOOL: &str = "web_fetch";

/// Name resolution used by `web_fetch`. The default is the system resolver; tests
/// and special deployments may supply their own (the address policy still applies
/// to whatever it returns).
#[async_trait]
pub trait HostLookup: Send + Sync + std::fmt::Debug {
    /// All addresses of `host`.
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

#[async_trait]
impl HostLookup for SystemLookup {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` → `.example.com`
    Suffix(String),
}

fn normalize_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug)]
struct AddressPolicy {
    hosts: Vec<HostPattern>,
    cidrs: Vec<Cidr>,
}

impl AddressPolicy {
    fn from_config(cfg: &WebFetchConfig) -> Result<Self> {
        let mut hosts = Vec::new();
        for (i, h) in cfg.allow_hosts.iter().enumerate() {
            let h = normalize_host(h.trim());
            let wildcard_ok = h
                .strip_prefix("*.")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('*'));
            let bad = h.is_empty()
                || h.contains(['/', ':', ' ', '@'])
                || (h.contains('*') && !wildcard_ok);
            if bad {
                return Err(Error::Config {
                    key: format!("webFetch.allowHosts[{i}]"),
                    problem: format!("`{h}` must be a host name or `*.domain`"),
                });
            }
            hosts.push(match h.strip_prefix('*') {
                Some(suffix) => HostPattern::Suffix(suffix.to_owned()),
                None => HostPattern::Exact(h),
            });
        }
        let mut cidrs = Vec::new();
        for (i, c) in cfg.allow_cidrs.iter().enumerate() {
            cidrs.push(Cidr::parse(c).map_err(|problem| Error::Config {
                key: format!("webFetch.allowCidrs[{i}]"),
                problem,
            })?);
        }
        Ok(Self { hosts, cidrs })
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.hosts.iter().any(|p| match p {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
        })
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> std::result::Result<(), Refusal> {
        if self.cidrs.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        match classify(ip.to_canonical()) {
            None => Ok(()),
            Some(why) => {
                let target = if host.trim_matches(['[', ']']) == ip.to_string() {
                    format!("address {ip}")
                } else {
                    format!("host `{host}` resolves to {ip}, which")
                };
                Err(Refusal::new(
                    RefusalRule::AddressBlocked,
                    format!("{target} is {why}; not allowed by webFetch.allowCidrs/allowHosts"),
                ))
            }
        }
    }
}

/// The resolver handed to reqwest: looks up, then refuses if any address is not
/// allowed. The connection is made to exactly the addresses returned here.
#[derive(Debug)]
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    lookup: Arc<dyn HostLookup>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let ips = lookup.lookup(&host).await?;
            if ips.is_empty() {
                return Err(format!("no addresses for `{host}`").into());
            }
            if !policy.host_allowed(&host) {
                for ip in &ips {
                    policy
                        .check_ip(&host, *ip)
                        .map_err(|r| Box::new(r) as Box<dyn std::error::Error + Send + Sync>)?;
                }
            }
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The `web_fetch` tool (tier 2).
#[derive(Debug, Clone)]
pub struct WebFetchTool {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    cfg: WebFetchConfig,
}

#[derive(Deserialize)]
struct FetchArgs {
    url: String,
    max_bytes: Option<usize>,
}

impl WebFetchTool {
    /// A web_fetch tool using the system resolver.
    pub fn new(cfg: WebFetchConfig) -> Result<Self> {
        Self::with_lookup(cfg, Arc::new(SystemLookup))
    }

    /// A web_fetch tool with a custom name resolution.
    pub fn with_lookup(cfg: WebFetchConfig, lookup: Arc<dyn HostLookup>) -> Result<Self> {
        let policy = Arc::new(AddressPolicy::from_config(&cfg)?);
        let config_err = |key: &str, problem: String| Error::Config {
            key: key.to_owned(),
            problem,
        };
        if cfg.timeout_secs == 0 {
            return Err(config_err(
                "webFetch.timeoutSecs",
                "must be at least 1".into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| config_err("webFetch", format!("TLS verifier: {e}")))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err("webFetch", format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
                lookup,
            })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(Duration::from_secs(cfg.timeout_secs.min(10)))
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .build()
            .map_err(|e| config_err("webFetch", format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            policy,
            cfg,
        })
    }

    fn refuse(r: Refusal) -> Error {
        Error::refused(TOOL, r)
    }

    /// Check scheme, credentials and, for IP literals, the address.
    fn check_url(&self, url: &Url) -> Result<()> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::UrlRefused,
                format!(
                    "URL `{url}`: scheme `{}` is not http or https",
                    url.scheme()
                ),
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::UrlRefused,
                format!("URL `{}`: credentials in URLs are refused", redact(url)),
            )));
        }
        let Some(host) = url.host_str() else {
            return Err(Self::refuse(Refusal::new(
                RefusalRule::UrlRefused,
                format!("URL `{url}` has no host"),
            )));
        };
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>()
            && !self.policy.host_allowed(host)
        {
            self.policy.check_ip(host, ip).map_err(Self::refuse)?;
        }
        Ok(())
    }

    fn map_send_error(url: &Url, e: &reqwest::Error) -> Error {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(r) = s.downcast_ref::<Refusal>() {
                return Self::refuse(r.clone());
            }
            source = s.source();
        }
        let mut chain = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        Error::Fetch {
            tool: TOOL.into(),
            url: url.to_string(),
            problem: chain,
        }
    }

    async fn fetch(&self, start: Url, cap: usize) -> Result<ToolOutput> {
        let mut url = start;
        let mut hops = 0usize;
        loop {
            self.check_url(&url)?;
            let mut resp = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| Self::map_send_error(&url, &e))?;
            let status = resp.status();
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
                && let Some(loc) = resp.headers().get(reqwest::header::LOCATION)
            {
                let loc = loc.to_str().map_err(|_| Error::Fetch {
                    tool: TOOL.into(),
                    url: url.to_string(),
                    problem: "redirect Location header is not text".into(),
                })?;
                let next = url.join(loc).map_err(|e| Error::Fetch {
                    tool: TOOL.into(),
                    url: url.to_string(),
                    problem: format!("bad redirect Location `{loc}`: {e}"),
                })?;
                hops += 1;
                if hops > self.cfg.max_redirects {
                    return Err(Self::refuse(Refusal::new(
                        RefusalRule::TooManyRedirects,
                        format!(
                            "more than {} redirects (last to `{next}`)",
                            self.cfg.max_redirects
                        ),
                    )));
                }
                url = next;
                continue;
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let mut body: Vec<u8> = Vec::new();
            let mut truncated = false;
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Self::map_send_error(&url, &e))?
            {
                let room = cap.saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            let mut content =
                format!("HTTP {status}\nurl: {url}\ncontent-type: {content_type}\n\n");
            if body.iter().take(8192).any(|b| *b == 0) {
                content.push_str(&format!("[binary body, {} bytes; not shown]", body.len()));
            } else {
                content.push_str(&String::from_utf8_lossy(&body));
            }
            if truncated {
                content.push_str(&format!("\n[truncated at {cap} bytes]"));
            }
            return Ok(ToolOutput::text(content)
                .with_error(!status.is_success())
                .with_truncated(truncated));
        }
    }
}

fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

#[async_trait]
impl Tool for WebFetchTool {
    fn name(&self) -> &str {
        TOOL
    }
    fn description(&self) -> &str {
        "Fetch a public http(s) URL with GET and return status, content type and body (size- and time-capped). Private, loopback, link-local and cloud-metadata addresses are refused, also behind redirects."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "minLength": 1, "maxLength": 4096, "description": "http:// or https:// URL."},
                "max_bytes": {"type": "integer", "minimum": 1, "description": "Most body bytes to return (capped by configuration)."}
            },
            "required": ["url"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::HighRisk
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        let a: FetchArgs = serde_json::from_value(args).map_err(|e| Error::InvalidArgument {
            tool: TOOL.into(),
            argument: "(arguments)".into(),
            problem: e.to_string(),
        })?;
        let url = Url::parse(a.url.trim()).map_err(|e| Error::InvalidArgument {
            tool: TOOL.into(),
            argument: "url".into(),
            problem: format!("`{}` is not a valid URL: {e}", a.url),
        })?;
        let cap = a
            .max_bytes
            .unwrap_or(self.cfg.max_bytes)
            .min(self.cfg.max_bytes);
        let limit = Duration::from_secs(self.cfg.timeout_secs);
        match tokio::time::timeout(limit, self.fetch(url.clone(), cap)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Fetch {
                tool: TOOL.into(),
                url: url.to_string(),
                problem: format!("timed out after {} s", self.cfg.timeout_secs),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(Vec<IpAddr>);

    #[async_trait]
    impl HostLookup for Fixed {
        async fn lookup(&self, _host: &str) -> std::io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn resolver(ips: &[&str], cfg: WebFetchConfig) -> GuardedResolver {
        GuardedResolver {
            policy: Arc::new(AddressPolicy::from_config(&cfg).unwrap()),
            lookup: Arc::new(Fixed(ips.iter().map(|s| s.parse().unwrap()).collect())),
        }
    }

    async fn resolve(
        r: &GuardedResolver,
        host: &str,
    ) -> std::result::Result<Vec<SocketAddr>, String> {
        r.resolve(host.parse().map_err(|_| "bad name".to_owned())?)
            .await
            .map(|a| a.collect())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn resolver_refuses_private_results_without_connecting() {
        // Only the resolver runs here: no connection is attempted to these addresses.
        for ip in [
            "10.0.0.5",
            "192.168.0.10",
            "169.254.169.254",
            "fd00:ec2::254",
            "100.64.1.1",
        ] {
            let r = resolver(&[ip], WebFetchConfig::default());
            let e = resolve(&r, "innocent.example").await.unwrap_err();
            assert!(e.contains(ip) && e.contains("innocent.example"), "{e}");
        }
        // Mixed answers are refused as a whole.
        let r = resolver(&["93.184.216.34", "10.0.0.5"], WebFetchConfig::default());
        assert!(resolve(&r, "mixed.example").await.is_err());
        // Public answers pass.
        let r = resolver(&["93.184.216.34"], WebFetchConfig::default());
        assert_eq!(resolve(&r, "ok.example").await.unwrap().len(), 1);
        // Allow-listed CIDR and host.
        let cfg = WebFetchConfig {
            allow_cidrs: vec!["10.0.0.0/8".into()],
            ..WebFetchConfig::default()
        };
        assert!(
            resolve(&resolver(&["10.0.0.5"], cfg), "wiki.corp")
                .await
                .is_ok()
        );
        let cfg = WebFetchConfig {
            allow_hosts: vec!["*.corp.example".into()],
            ..WebFetchConfig::default()
        };
        let r = resolver(&["10.0.0.5"], cfg);
        assert!(resolve(&r, "wiki.corp.example").await.is_ok());
        assert!(resolve(&r, "corp.example").await.is_err());
    }

    #[test]
    fn url_checks_refuse_literals_and_schemes_before_any_request() {
        let tool = WebFetchTool::new(WebFetchConfig::default()).unwrap();
        for u in [
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://0/",
            "file:///etc/passwd",
            "ftp://example.com/",
            "gopher://example.com/",
            "http://user:pw@example.com/",
        ] {
            let url = Url::parse(u).unwrap();
            let e = tool.check_url(&url).unwrap_err();
            let r = e.refusal().unwrap_or_else(|| panic!("{u}: {e}"));
            assert!(!r.reason.is_empty());
        }
        assert!(
            tool.check_url(&Url::parse("https://example.com/x").unwrap())
                .is_ok()
        );
        assert!(
            tool.check_url(&Url::parse("http://8.8.8.8/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn bad_config_is_reported_with_its_key() {
        let cfg = WebFetchConfig {
            allow_cidrs: vec!["10.0.0.0/8".into(), "nonsense".into()],
            ..WebFetchConfig::default()
        };
        match WebFetchTool::new(cfg) {
            Err(Error::Config { key, .. }) => assert_eq!(key, "webFetch.allowCidrs[1]"),
            other => panic!("{other:?}"),
        }
        let cfg = WebFetchConfig {
            allow_hosts: vec!["a*b".into()],
            ..WebFetchConfig::default()
        };
        assert!(WebFetchTool::new(cfg).is_err());
    }
}
