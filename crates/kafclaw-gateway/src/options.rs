//! What the gateway is told at start: operating mode, bind address, ports, token,
//! allowed origins and limits, and the rule that refuses an exposed gateway without a token.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use kafclaw_config::{Config, GatewayConfig};

use crate::auth::AuthToken;
use crate::{Error, Result};

/// The operating modes of the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One agent, no Kafka.
    Standalone,
    /// Kafka group collaboration with peers.
    Group,
    /// Group plus the orchestrator.
    Full,
    /// `full` for servers: binds all interfaces and refuses to start without a token.
    Headless,
}

impl Mode {
    /// All modes, in the order of the seeds' table.
    pub const ALL: [Mode; 4] = [Mode::Standalone, Mode::Group, Mode::Full, Mode::Headless];

    /// The name used on the command line and in `/api/v1/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Group => "group",
            Mode::Full => "full",
            Mode::Headless => "headless",
        }
    }

    /// The mode the configuration implies when none is given: `full` when the
    /// orchestrator is enabled, `group` when the group is, `standalone` otherwise.
    pub fn from_config(config: &Config) -> Mode {
        if config.orchestrator.enabled {
            Mode::Full
        } else if config.group.enabled {
            Mode::Group
        } else {
            Mode::Standalone
        }
    }

    /// Whether the mode takes part in a Kafka group.
    pub fn uses_group(self) -> bool {
        !matches!(self, Mode::Standalone)
    }

    /// Whether the mode runs the orchestrator.
    pub fn uses_orchestrator(self) -> bool {
        matches!(self, Mode::Full | Mode::Headless)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| Error::InvalidOption {
                name: "mode",
                reason: format!("{s:?} is not one of standalone, group, full, headless"),
            })
    }
}

/// Everything the gateway needs besides the agent. Build it with
/// [`GatewayOptions::from_config`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Operating mode (reported by `/api/v1/status`).
    pub mode: Mode,
    /// Address both listeners bind.
    pub host: IpAddr,
    /// Port of the API (`POST /chat`); 0 picks a free one.
    pub api_port: u16,
    /// Port of the dashboard and its API; 0 picks a free one.
    pub dashboard_port: u16,
    /// The bearer token; `None` leaves the gateway open (loopback only).
    pub auth_token: Option<AuthToken>,
    /// Origins (`scheme://host[:port]`) that browsers may call the API from, besides the
    /// gateway's own. Empty: same-origin only.
    pub allowed_origins: Vec<String>,
    /// How long `POST /chat` waits for the task before answering 504 (the task goes on).
    pub chat_timeout: Duration,
    /// Largest accepted request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// How long running tasks get to finish at shutdown before they are left queued.
    pub shutdown_grace: Duration,
    /// The agent id shown by `/api/v1/status`.
    pub agent_id: String,
    /// The version shown by `/api/v1/status`.
    pub version: String,
}

impl GatewayOptions {
    /// Options from the `gateway` section of the configuration, for `mode`. In
    /// `headless` mode a loopback `gateway.host` is replaced by `0.0.0.0` (all
    /// interfaces); any other host is kept. Limits get their defaults (chat timeout 120 s,
    /// bodies up to 1 MiB, shutdown grace 30 s).
    pub fn from_config(gateway: &GatewayConfig, mode: Mode) -> Result<GatewayOptions> {
        let mut host = parse_host(&gateway.host)?;
        if mode == Mode::Headless && host.is_loopback() {
            host = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        }
        Ok(GatewayOptions {
            mode,
            host,
            api_port: gateway.port,
            dashboard_port: gateway.dashboard_port,
            auth_token: AuthToken::new(gateway.auth_token.expose()),
            allowed_origins: Vec::new(),
            chat_timeout: Duration::from_secs(120),
            max_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            agent_id: String::new(),
            version: String::new(),
        })
    }

    /// Loopback options without a token on free ports, for embedding and tests.
    pub fn loopback(mode: Mode) -> GatewayOptions {
        GatewayOptions {
            mode,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            api_port: 0,
            dashboard_port: 0,
            auth_token: None,
            allowed_origins: Vec::new(),
            chat_timeout: Duration::from_secs(120),
            max_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            agent_id: String::new(),
            version: String::new(),
        }
    }

    /// Checks the options: a token is required in headless mode and whenever the host is
    /// not a loopback address; allowed origins must be plain `scheme://host[:port]`
    /// (no wildcard); limits must be positive. Returns the normalised origins.
    pub fn check(&self) -> Result<()> {
        if self.auth_token.is_none() {
            if self.mode == Mode::Headless {
                return Err(Error::TokenRequired {
                    mode: self.mode.as_str(),
                    host: self.host.to_string(),
                    hint: "; headless mode always needs one",
                });
            }
            if !self.host.is_loopback() {
                return Err(Error::TokenRequired {
                    mode: self.mode.as_str(),
                    host: self.host.to_string(),
                    hint: ", or set gateway.host to 127.0.0.1",
                });
            }
        }
        for origin in &self.allowed_origins {
            normalize_origin(origin)?;
        }
        if self.api_port != 0 && self.api_port == self.dashboard_port {
            return Err(Error::InvalidOption {
                name: "gateway.dashboardPort",
                reason: format!("must differ from gateway.port ({})", self.api_port),
            });
        }
        if self.chat_timeout.is_zero() {
            return Err(Error::InvalidOption {
                name: "chat timeout",
                reason: "must be positive".into(),
            });
        }
        if self.max_body_bytes == 0 {
            return Err(Error::InvalidOption {
                name: "max body bytes",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }

    /// The API listener's address.
    pub fn api_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.api_port)
    }

    /// The dashboard listener's address.
    pub fn dashboard_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.dashboard_port)
    }
}

/// `gateway.host` as an address: an IP literal, or `localhost`.
fn parse_host(host: &str) -> Result<IpAddr> {
    let h = host.trim();
    if h.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    h.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| Error::InvalidOption {
            name: "gateway.host",
            reason: format!("{host:?} is not an IP address (or localhost)"),
        })
}

/// An allowed origin in the form browsers send it: lowercase `scheme://host[:port]`.
pub(crate) fn normalize_origin(origin: &str) -> Result<String> {
    let bad = |reason: String| Error::InvalidOption {
        name: "allowed origin",
        reason,
    };
    let o = origin.trim();
    if o.contains('*') {
        return Err(bad(format!(
            "{o:?}: wildcard origins are not allowed; list each origin"
        )));
    }
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"))
        .ok_or_else(|| bad(format!("{o:?} must start with http:// or https://")))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace)
    {
        return Err(bad(format!(
            "{o:?} must be scheme://host[:port] with nothing after the host and port"
        )));
    }
    Ok(o.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(host: &str, mode: Mode, token: &str) -> Result<GatewayOptions> {
        let cfg = GatewayConfig {
            host: host.into(),
            auth_token: kafclaw_config::Secret::new(token),
            ..GatewayConfig::default()
        };
        GatewayOptions::from_config(&cfg, mode)
    }

    #[test]
    fn loopback_without_token_is_accepted() {
        for mode in [Mode::Standalone, Mode::Group, Mode::Full] {
            let o = opts("127.0.0.1", mode, "").unwrap();
            o.check().unwrap();
            assert_eq!(o.api_addr().to_string(), "127.0.0.1:18790");
            assert_eq!(o.dashboard_addr().to_string(), "127.0.0.1:18791");
        }
        opts("::1", Mode::Standalone, "").unwrap().check().unwrap();
        opts("localhost", Mode::Standalone, "")
            .unwrap()
            .check()
            .unwrap();
    }

    #[test]
    fn beyond_loopback_without_token_is_refused_in_every_mode() {
        for mode in [Mode::Standalone, Mode::Group, Mode::Full] {
            for host in ["0.0.0.0", "192.168.1.20", "::"] {
                let err = opts(host, mode, "").unwrap().check().unwrap_err();
                let msg = err.to_string();
                assert!(matches!(err, Error::TokenRequired { .. }), "{msg}");
                assert!(msg.contains("gateway.authToken"), "{msg}");
                assert!(msg.contains(mode.as_str()), "{msg}");
            }
            opts("0.0.0.0", mode, "s3cret-token-of-some-length")
                .unwrap()
                .check()
                .unwrap();
        }
    }

    #[test]
    fn headless_binds_all_interfaces_and_needs_a_token() {
        let o = opts("127.0.0.1", Mode::Headless, "").unwrap();
        assert_eq!(o.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let msg = o.check().unwrap_err().to_string();
        assert!(msg.contains("headless"), "{msg}");
        let o = opts("10.1.2.3", Mode::Headless, "tok").unwrap();
        assert_eq!(o.host.to_string(), "10.1.2.3");
        o.check().unwrap();
    }

    #[test]
    fn bad_hosts_and_origins_are_named() {
        let msg = opts("my-laptop", Mode::Standalone, "")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("gateway.host") && msg.contains("my-laptop"),
            "{msg}"
        );
        let mut o = GatewayOptions::loopback(Mode::Standalone);
        for bad in [
            "*",
            "https://*.example.com",
            "example.com",
            "https://a.b/path",
        ] {
            o.allowed_origins = vec![bad.into()];
            let msg = o.check().unwrap_err().to_string();
            assert!(msg.contains("allowed origin"), "{bad}: {msg}");
        }
        o.allowed_origins = vec!["https://Ops.Example.com:8443".into()];
        o.check().unwrap();
        assert_eq!(
            normalize_origin(&o.allowed_origins[0]).unwrap(),
            "https://ops.example.com:8443"
        );
    }

    #[test]
    fn modes_parse_and_follow_the_config() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        let msg = "cluster".parse::<Mode>().unwrap_err().to_string();
        assert!(msg.contains("cluster") && msg.contains("headless"), "{msg}");
        let mut c = Config::default();
        assert_eq!(Mode::from_config(&c), Mode::Standalone);
        c.group.enabled = true;
        assert_eq!(Mode::from_config(&c), Mode::Group);
        c.orchestrator.enabled = true;
        assert_eq!(Mode::from_config(&c), Mode::Full);
    }
}
