//! Connection settings and their sources: flags over a preset over a properties
//! file over the KafClaw group configuration (`--auto`).

use std::fmt;
use std::path::{Path, PathBuf};

use kafclaw_group::{KafkaSettings, SaslMechanism, SecurityProtocol, TlsFiles};

use crate::error::{Error, Result};

/// Settings from one source; `None` means "not set here, ask the next source".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SettingsLayer {
    /// Where these settings came from, e.g. `flags` or `props:client.properties`.
    pub source: String,
    /// Bootstrap addresses.
    pub brokers: Option<Vec<String>>,
    /// Security protocol.
    pub security_protocol: Option<SecurityProtocol>,
    /// SASL mechanism.
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user.
    pub sasl_username: Option<String>,
    /// SASL password.
    pub sasl_password: Option<String>,
    /// CA bundle (PEM).
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM).
    pub cert_file: Option<PathBuf>,
    /// Client private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Kafka client id.
    pub client_id: Option<String>,
}

impl fmt::Debug for SettingsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsLayer")
            .field("source", &self.source)
            .field("brokers", &self.brokers)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl SettingsLayer {
    /// An empty layer named `source`.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            ..Self::default()
        }
    }

    /// True when the layer sets nothing.
    pub fn is_empty(&self) -> bool {
        *self
            == Self {
                source: self.source.clone(),
                ..Self::default()
            }
    }
}

/// SASL credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuth {
    /// Mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for SaslAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuth")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// What to connect to and how: the resolved, validated settings of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bootstrap addresses, `host:port`.
    pub brokers: Vec<String>,
    /// Security protocol.
    pub security_protocol: SecurityProtocol,
    /// SASL credentials (set exactly when the protocol uses SASL).
    pub sasl: Option<SaslAuth>,
    /// TLS files (used when the protocol uses TLS).
    pub tls: TlsFiles,
    /// Kafka client id.
    pub client_id: String,
}

/// The Kafka spelling of a security protocol.
pub fn protocol_name(p: SecurityProtocol) -> &'static str {
    match p {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
        SecurityProtocol::Ssl => "SSL",
    }
}

pub(crate) fn uses_tls(p: SecurityProtocol) -> bool {
    matches!(p, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
}

pub(crate) fn uses_sasl(p: SecurityProtocol) -> bool {
    matches!(
        p,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    )
}

/// Parses a security protocol, naming `key` when it is not one Kafka knows.
pub fn parse_protocol(key: &str, value: &str) -> Result<SecurityProtocol> {
    match value.trim().to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        "SSL" => Ok(SecurityProtocol::Ssl),
        other => Err(Error::setting(
            key,
            format!(
                "{other:?} is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
            ),
        )),
    }
}

/// Parses a SASL mechanism, naming `key` when it is not supported.
pub fn parse_mechanism(key: &str, value: &str) -> Result<SaslMechanism> {
    match value.trim().to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslMechanism::Plain),
        "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
        "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
        other => Err(Error::setting(
            key,
            format!(
                "{other:?} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; GSSAPI and OAUTHBEARER are not)"
            ),
        )),
    }
}

/// Splits a comma-separated broker list and checks every entry is `host:port`.
pub fn parse_brokers(key: &str, value: &str) -> Result<Vec<String>> {
    let brokers: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            // Java clients accept a scheme prefix such as SASL_SSL://host:port.
            s.split_once("://").map_or(s, |(_, rest)| rest).to_owned()
        })
        .collect();
    if brokers.is_empty() {
        return Err(Error::setting(key, "no broker address given"));
    }
    for b in &brokers {
        if split_host_port(b).is_none() {
            return Err(Error::setting(
                key,
                format!("{b:?} is not host:port (IPv6 as [addr]:port)"),
            ));
        }
    }
    Ok(brokers)
}

/// `host:port` → (host, port); IPv6 literals in brackets lose them.
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || (host.contains(':') && !addr.starts_with('[')) {
        return None;
    }
    Some((host, port))
}

impl Target {
    /// Merges the layers (earlier layers win, field by field) and validates the result.
    /// Remarks that are not errors (settings the protocol ignores) go to `notes`.
    pub fn resolve(layers: &[SettingsLayer], notes: &mut Vec<String>) -> Result<Self> {
        fn pick<T: Clone>(
            layers: &[SettingsLayer],
            f: impl Fn(&SettingsLayer) -> &Option<T>,
        ) -> Option<T> {
            layers.iter().find_map(|l| f(l).clone())
        }
        let brokers = pick(layers, |l| &l.brokers).ok_or_else(|| {
            Error::setting(
                "--broker",
                "no broker given: use --broker HOST:PORT, bootstrap.servers in --props, or --auto",
            )
        })?;
        let protocol = pick(layers, |l| &l.security_protocol).unwrap_or_default();
        let mechanism = pick(layers, |l| &l.sasl_mechanism);
        let username = pick(layers, |l| &l.sasl_username);
        let password = pick(layers, |l| &l.sasl_password);
        let tls = TlsFiles {
            ca_file: pick(layers, |l| &l.ca_file),
            cert_file: pick(layers, |l| &l.cert_file),
            key_file: pick(layers, |l| &l.key_file),
        };
        let client_id = pick(layers, |l| &l.client_id).unwrap_or_else(|| "kshark".to_owned());

        let sasl = if uses_sasl(protocol) {
            let mechanism = mechanism.ok_or_else(|| {
                Error::setting(
                    "--sasl-mechanism",
                    format!(
                        "security protocol {} needs a SASL mechanism: set --sasl-mechanism or sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)",
                        protocol_name(protocol)
                    ),
                )
            })?;
            let username = username.filter(|u| !u.is_empty()).ok_or_else(|| {
                Error::setting(
                    "--sasl-username",
                    "SASL needs a user name: set --sasl-username, or sasl.username / sasl.jaas.config in the properties file",
                )
            })?;
            let password = password.unwrap_or_default();
            if password.is_empty() {
                notes.push(format!(
                    "no SASL password given for user {username:?} (--sasl-password or KSHARK_SASL_PASSWORD)"
                ));
            }
            Some(SaslAuth {
                mechanism,
                username,
                password,
            })
        } else {
            if mechanism.is_some() || username.is_some() {
                notes.push(format!(
                    "SASL settings are ignored: security protocol {} does not use SASL",
                    protocol_name(protocol)
                ));
            }
            None
        };
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return Err(Error::setting(
                if tls.cert_file.is_some() {
                    "--key-file"
                } else {
                    "--cert-file"
                },
                "mutual TLS needs both a client certificate and its key (--cert-file and --key-file)",
            ));
        }
        let tls = if uses_tls(protocol) {
            for (key, path) in [
                ("--ca-file", &tls.ca_file),
                ("--cert-file", &tls.cert_file),
                ("--key-file", &tls.key_file),
            ] {
                if let Some(p) = path {
                    check_readable(key, p)?;
                }
            }
            tls
        } else {
            if tls != TlsFiles::default() {
                notes.push(format!(
                    "TLS files are ignored: security protocol {} does not use TLS",
                    protocol_name(protocol)
                ));
            }
            TlsFiles::default()
        };
        Ok(Target {
            brokers,
            security_protocol: protocol,
            sasl,
            tls,
            client_id,
        })
    }

    /// Whether the connection uses TLS.
    pub fn uses_tls(&self) -> bool {
        uses_tls(self.security_protocol)
    }

    /// The transport settings for the round trip and the topic probes.
    pub(crate) fn kafka_settings(&self, timeout: std::time::Duration) -> KafkaSettings {
        let mut s = KafkaSettings::plaintext(&self.brokers.join(","));
        s.client_id = self.client_id.clone();
        s.security_protocol = self.security_protocol;
        if let Some(sasl) = &self.sasl {
            s.sasl_mechanism = Some(sasl.mechanism);
            s.sasl_username = sasl.username.clone();
            s.sasl_password = sasl.password.clone();
        }
        s.tls = self.tls.clone();
        s.request_timeout = timeout;
        s
    }
}

fn check_readable(key: &str, path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::setting(
            key,
            format!("{} is not a file", path.display()),
        )),
        Err(e) => Err(Error::setting(key, format!("{}: {e}", path.display()))),
    }
}

/// Named combinations of protocol and mechanism, as the Go kshark offered them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// PLAINTEXT: no TLS, no SASL (a local or development broker).
    Plaintext,
    /// SASL_SSL with PLAIN and the system roots (Confluent Cloud style API key/secret).
    CcPlain,
    /// SASL_SSL with SCRAM-SHA-512 (a self-managed cluster with SCRAM users).
    SelfScram,
}

impl Preset {
    /// The settings the preset stands for.
    pub fn layer(self) -> SettingsLayer {
        let (name, protocol, mechanism) = match self {
            Preset::Plaintext => ("plaintext", SecurityProtocol::Plaintext, None),
            Preset::CcPlain => (
                "cc-plain",
                SecurityProtocol::SaslSsl,
                Some(SaslMechanism::Plain),
            ),
            Preset::SelfScram => (
                "self-scram",
                SecurityProtocol::SaslSsl,
                Some(SaslMechanism::ScramSha512),
            ),
        };
        SettingsLayer {
            security_protocol: Some(protocol),
            sasl_mechanism: mechanism,
            ..SettingsLayer::new(format!("preset:{name}"))
        }
    }
}

/// The settings of the KafClaw group configuration (`--auto`).
pub fn auto_layer(
    group: &kafclaw_config::GroupConfig,
    config_file: &Path,
    notes: &mut Vec<String>,
) -> Result<SettingsLayer> {
    use kafclaw_config::{SaslMechanism as CfgMech, SecurityProtocol as CfgProto};
    let brokers = parse_brokers("group.kafkaBrokers", &group.kafka_brokers)?;
    let protocol = match group.security_protocol() {
        CfgProto::Plaintext => SecurityProtocol::Plaintext,
        CfgProto::Ssl => SecurityProtocol::Ssl,
        CfgProto::SaslPlaintext => SecurityProtocol::SaslPlaintext,
        CfgProto::SaslSsl => SecurityProtocol::SaslSsl,
    };
    let mut mechanism = group.sasl_mechanism().map(|m| match m {
        CfgMech::Plain => SaslMechanism::Plain,
        CfgMech::ScramSha256 => SaslMechanism::ScramSha256,
        CfgMech::ScramSha512 => SaslMechanism::ScramSha512,
    });
    if uses_sasl(protocol) && mechanism.is_none() {
        notes.push(
            "--auto: group.kafkaSaslMechanism is empty; using PLAIN as KafClaw agents do"
                .to_owned(),
        );
        mechanism = Some(SaslMechanism::Plain);
    }
    let path = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
    let agent = group.agent_id.trim();
    Ok(SettingsLayer {
        brokers: Some(brokers),
        security_protocol: Some(protocol),
        sasl_mechanism: mechanism,
        sasl_username: (!group.kafka_sasl_username.is_empty())
            .then(|| group.kafka_sasl_username.clone()),
        sasl_password: (!group.kafka_sasl_password.is_empty())
            .then(|| group.kafka_sasl_password.expose().to_owned()),
        ca_file: path(&group.kafka_tls_ca_file),
        cert_file: path(&group.kafka_tls_cert_file),
        key_file: path(&group.kafka_tls_key_file),
        client_id: (!agent.is_empty()).then(|| format!("kshark-{agent}")),
        ..SettingsLayer::new(format!("auto:{}", config_file.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(source: &str) -> SettingsLayer {
        SettingsLayer::new(source)
    }

    #[test]
    fn earlier_layers_win_field_by_field() {
        let flags = SettingsLayer {
            brokers: Some(vec!["a:1".into()]),
            ..layer("flags")
        };
        let props = SettingsLayer {
            brokers: Some(vec!["b:2".into()]),
            security_protocol: Some(SecurityProtocol::SaslPlaintext),
            sasl_mechanism: Some(SaslMechanism::ScramSha256),
            sasl_username: Some("u".into()),
            sasl_password: Some("p".into()),
            ..layer("props")
        };
        let mut notes = Vec::new();
        let t = Target::resolve(&[flags, props], &mut notes).unwrap();
        assert_eq!(t.brokers, ["a:1"]);
        assert_eq!(t.security_protocol, SecurityProtocol::SaslPlaintext);
        let sasl = t.sasl.unwrap();
        assert_eq!(
            (
                sasl.mechanism,
                sasl.username.as_str(),
                sasl.password.as_str()
            ),
            (SaslMechanism::ScramSha256, "u", "p")
        );
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn missing_pieces_name_the_flag() {
        let mut notes = Vec::new();
        let err = Target::resolve(&[layer("flags")], &mut notes).unwrap_err();
        assert!(err.to_string().contains("--broker"), "{err}");
        let sasl = SettingsLayer {
            brokers: Some(vec!["a:1".into()]),
            security_protocol: Some(SecurityProtocol::SaslSsl),
            ..layer("flags")
        };
        let err = Target::resolve(std::slice::from_ref(&sasl), &mut notes).unwrap_err();
        assert!(err.to_string().contains("--sasl-mechanism"), "{err}");
        let err = Target::resolve(
            &[SettingsLayer {
                sasl_mechanism: Some(SaslMechanism::Plain),
                ..sasl
            }],
            &mut notes,
        )
        .unwrap_err();
        assert!(err.to_string().contains("--sasl-username"), "{err}");
    }

    #[test]
    fn ignored_settings_are_noted_and_dropped() {
        let mut notes = Vec::new();
        let t = Target::resolve(
            &[SettingsLayer {
                brokers: Some(vec!["a:1".into()]),
                sasl_username: Some("u".into()),
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..layer("flags")
            }],
            &mut notes,
        )
        .unwrap();
        assert_eq!(t.security_protocol, SecurityProtocol::Plaintext);
        assert!(t.sasl.is_none() && t.tls == TlsFiles::default());
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn tls_files_must_exist_and_pair() {
        let mut notes = Vec::new();
        let base = SettingsLayer {
            brokers: Some(vec!["a:1".into()]),
            security_protocol: Some(SecurityProtocol::Ssl),
            ..layer("flags")
        };
        let err = Target::resolve(
            &[SettingsLayer {
                ca_file: Some("/nonexistent/ca.pem".into()),
                ..base.clone()
            }],
            &mut notes,
        )
        .unwrap_err();
        assert!(err.to_string().contains("--ca-file"), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
        let err = Target::resolve(
            &[SettingsLayer {
                cert_file: Some("/nonexistent/c.pem".into()),
                ..base
            }],
            &mut notes,
        )
        .unwrap_err();
        assert!(err.to_string().contains("--key-file"), "{err}");
    }

    #[test]
    fn brokers_are_checked() {
        assert_eq!(
            parse_brokers("--broker", " a:1, SASL_SSL://b.example:9093 ,[::1]:9092").unwrap(),
            ["a:1", "b.example:9093", "[::1]:9092"]
        );
        for bad in ["", "a", "a:", ":1", "a:99999", "::1:9092"] {
            let err = parse_brokers("--broker", bad).unwrap_err();
            assert!(err.to_string().contains("--broker"), "{bad}: {err}");
        }
        assert_eq!(split_host_port("[::1]:9092"), Some(("::1", 9092)));
    }

    #[test]
    fn names_parse_case_insensitively_and_errors_name_the_key() {
        assert_eq!(
            parse_protocol("k", "sasl_ssl").unwrap(),
            SecurityProtocol::SaslSsl
        );
        assert_eq!(
            parse_mechanism("k", "scram-sha-512").unwrap(),
            SaslMechanism::ScramSha512
        );
        let err = parse_mechanism("sasl.mechanism", "GSSAPI").unwrap_err();
        assert!(err.to_string().contains("sasl.mechanism"), "{err}");
        let err = parse_protocol("security.protocol", "TLS").unwrap_err();
        assert!(err.to_string().contains("security.protocol"), "{err}");
    }

    #[test]
    fn presets_set_protocol_and_mechanism() {
        let l = Preset::SelfScram.layer();
        assert_eq!(l.security_protocol, Some(SecurityProtocol::SaslSsl));
        assert_eq!(l.sasl_mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(
            Preset::Plaintext.layer().security_protocol,
            Some(SecurityProtocol::Plaintext)
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let l = SettingsLayer {
            sasl_password: Some("hunter2".into()),
            ..layer("flags")
        };
        assert!(!format!("{l:?}").contains("hunter2"));
        let a = SaslAuth {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
