//! Connection settings with the Go project's keys and their validation.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// `group.kafkaSecurityProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[default]
    Plaintext,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
    /// TLS, optionally with a client certificate (mutual TLS).
    Ssl,
}

impl SecurityProtocol {
    /// Parses the Kafka spelling (`PLAINTEXT`, `SASL_PLAINTEXT`, `SASL_SSL`, `SSL`), case-insensitively.
    /// An empty string means PLAINTEXT.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "" | "PLAINTEXT" => Ok(Self::Plaintext),
            "SASL_PLAINTEXT" => Ok(Self::SaslPlaintext),
            "SASL_SSL" => Ok(Self::SaslSsl),
            "SSL" => Ok(Self::Ssl),
            other => Err(Error::Config {
                key: "group.kafkaSecurityProtocol",
                reason: format!(
                    "unsupported security protocol {other:?} (expected PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL)"
                ),
            }),
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::SaslSsl | Self::Ssl)
    }
}

/// `group.kafkaSaslMechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616).
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// Parses `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (case-insensitive). Anything else,
    /// GSSAPI and OAUTHBEARER included, is a configuration error: we never fall back to an
    /// unauthenticated connection.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Ok(Self::Plain),
            "SCRAM-SHA-256" => Ok(Self::ScramSha256),
            "SCRAM-SHA-512" => Ok(Self::ScramSha512),
            "" => Err(Error::Config {
                key: "group.kafkaSaslMechanism",
                reason: "a SASL security protocol needs a mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)".into(),
            }),
            other => Err(Error::Config {
                key: "group.kafkaSaslMechanism",
                reason: format!(
                    "unsupported SASL mechanism {other:?} (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
                ),
            }),
        }
    }

    /// The IANA name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// PEM files for TLS (`group.kafkaTlsCAFile`, `kafkaTlsCertFile`, `kafkaTlsKeyFile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle that signs the broker certificate; `None` uses the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Client private key for mutual TLS.
    pub key_file: Option<PathBuf>,
}

/// Everything needed to connect to the brokers.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// Bootstrap addresses, `host:port`.
    pub brokers: Vec<String>,
    /// Client id sent to the broker (the agent id is a good choice).
    pub client_id: String,
    /// Security protocol.
    pub security_protocol: SecurityProtocol,
    /// SASL mechanism, required for the SASL protocols.
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    pub sasl_username: String,
    /// SASL password.
    pub sasl_password: String,
    /// TLS files.
    pub tls: TlsFiles,
    /// How long connecting (and every retried request) may take before it fails.
    pub request_timeout: Duration,
}

impl KafkaSettings {
    /// PLAINTEXT settings for a comma-separated broker list.
    pub fn plaintext(brokers: &str) -> Self {
        Self {
            brokers: split_brokers(brokers),
            client_id: "kafclaw".into(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: String::new(),
            sasl_password: String::new(),
            tls: TlsFiles::default(),
            request_timeout: Duration::from_secs(10),
        }
    }

    /// Builds settings from the Go configuration keys' string values, validating each.
    #[allow(clippy::too_many_arguments)]
    pub fn from_keys(
        brokers: &str,
        security_protocol: &str,
        sasl_mechanism: &str,
        sasl_username: &str,
        sasl_password: &str,
        tls: TlsFiles,
    ) -> Result<Self> {
        let protocol = SecurityProtocol::parse(security_protocol)?;
        let mechanism = if protocol.uses_sasl() {
            Some(SaslMechanism::parse(sasl_mechanism)?)
        } else {
            None
        };
        let settings = Self {
            security_protocol: protocol,
            sasl_mechanism: mechanism,
            sasl_username: sasl_username.to_string(),
            sasl_password: sasl_password.to_string(),
            tls,
            ..Self::plaintext(brokers)
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the combination of settings, naming the key that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.brokers.is_empty() {
            return Err(Error::Config {
                key: "group.kafkaBrokers",
                reason: "no broker address given".into(),
            });
        }
        for b in &self.brokers {
            let ok = b
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(Error::Config {
                    key: "group.kafkaBrokers",
                    reason: format!("{b:?} is not host:port"),
                });
            }
        }
        if self.security_protocol.uses_sasl() {
            if self.sasl_mechanism.is_none() {
                return Err(Error::Config {
                    key: "group.kafkaSaslMechanism",
                    reason: "a SASL security protocol needs a mechanism".into(),
                });
            }
            if self.sasl_username.is_empty() {
                return Err(Error::Config {
                    key: "group.kafkaSaslUsername",
                    reason: "a SASL security protocol needs a user name".into(),
                });
            }
        } else if self.sasl_mechanism.is_some() {
            return Err(Error::Config {
                key: "group.kafkaSaslMechanism",
                reason: "a SASL mechanism is set but the security protocol does not use SASL"
                    .into(),
            });
        }
        let t = &self.tls;
        if t.cert_file.is_some() != t.key_file.is_some() {
            return Err(Error::Config {
                key: "group.kafkaTlsCertFile",
                reason: "mutual TLS needs both kafkaTlsCertFile and kafkaTlsKeyFile".into(),
            });
        }
        if !self.security_protocol.uses_tls() && (t.ca_file.is_some() || t.cert_file.is_some()) {
            return Err(Error::Config {
                key: "group.kafkaSecurityProtocol",
                reason: "TLS files are set but the security protocol is not SSL or SASL_SSL".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn uses_tls(&self) -> bool {
        self.security_protocol.uses_tls()
    }

    pub(crate) fn brokers_label(&self) -> String {
        self.brokers.join(",")
    }
}

fn split_brokers(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_mechanism_is_a_config_error() {
        let err = KafkaSettings::from_keys(
            "h:1",
            "SASL_PLAINTEXT",
            "GSSAPI",
            "u",
            "p",
            TlsFiles::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("group.kafkaSaslMechanism"),
            "{err}"
        );
        assert!(err.to_string().contains("GSSAPI"), "{err}");
    }

    #[test]
    fn sasl_without_mechanism_is_refused() {
        let err = KafkaSettings::from_keys("h:1", "SASL_SSL", "", "u", "p", TlsFiles::default())
            .unwrap_err();
        assert!(err.to_string().contains("needs a mechanism"), "{err}");
    }

    #[test]
    fn bad_protocol_and_broker_are_named() {
        let err = KafkaSettings::from_keys("h:1", "SASL_TLS", "", "", "", TlsFiles::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("group.kafkaSecurityProtocol"),
            "{err}"
        );
        let err = KafkaSettings::from_keys("nohostport", "", "", "", "", TlsFiles::default())
            .unwrap_err();
        assert!(err.to_string().contains("group.kafkaBrokers"), "{err}");
    }

    #[test]
    fn plaintext_ignores_mechanism_string_but_mechanism_without_sasl_is_refused() {
        let s = KafkaSettings::from_keys(
            "a:1, b:2",
            "plaintext",
            "PLAIN",
            "",
            "",
            TlsFiles::default(),
        )
        .unwrap();
        assert_eq!(s.brokers, vec!["a:1", "b:2"]);
        assert_eq!(s.sasl_mechanism, None);
        let mut s = KafkaSettings::plaintext("a:1");
        s.sasl_mechanism = Some(SaslMechanism::Plain);
        assert!(s.validate().is_err());
    }

    #[test]
    fn mtls_needs_both_files() {
        let tls = TlsFiles {
            ca_file: None,
            cert_file: Some("c.pem".into()),
            key_file: None,
        };
        let err = KafkaSettings::from_keys("h:1", "SSL", "", "", "", tls).unwrap_err();
        assert!(err.to_string().contains("kafkaTlsKeyFile"), "{err}");
    }
}
