//! The TLS layer: the handshake with the transport's own rustls configuration, the
//! certificate chain the broker presented (subject, issuer, validity), and what a
//! TLS failure most likely means.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::report::{CertificateInfo, Status};

/// A certificate expiring within this many days makes the certificate check warn.
pub(crate) const EXPIRY_WARNING_DAYS: i64 = 30;

pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} is not a valid TLS server name: {e}"))
}

/// Performs the handshake over an open TCP connection.
pub(crate) async fn handshake(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let name = server_name(host).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(config).connect(name, tcp).await
}

/// Protocol version and cipher suite of an established session.
pub(crate) fn session_summary(stream: &TlsStream<TcpStream>) -> String {
    let conn = stream.get_ref().1;
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "unknown version".to_owned());
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "unknown cipher suite".to_owned());
    format!("{version}, {suite}")
}

/// The certificates the broker sent in an established session.
pub(crate) fn peer_chain(stream: &TlsStream<TcpStream>) -> Vec<CertificateDer<'static>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default()
}

/// Accepts any certificate and remembers it: used only to show which certificate a
/// broker presented after the real, verifying handshake failed. The connection is
/// closed right after the handshake; nothing is ever sent over it.
#[derive(Debug)]
struct Inspect {
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Inspect {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(end_entity.clone().into_owned());
            seen.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connects again without verifying, only to read the chain the broker presents.
pub(crate) async fn presented_chain(
    addr: SocketAddr,
    host: &str,
    timeout: Duration,
) -> Vec<CertificateDer<'static>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inspect = Arc::new(Inspect {
        provider: Arc::clone(&provider),
        seen: Mutex::new(Vec::new()),
    });
    let Ok(builder) =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return Vec::new();
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(inspect.clone())
        .with_no_client_auth();
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        handshake(tcp, host, Arc::new(config)).await
    };
    // The outcome does not matter (a broker that wants a client certificate may
    // abort): the verifier has seen the chain by then.
    let _ = tokio::time::timeout(timeout, attempt).await;
    inspect.seen.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Subject, issuer and validity of each certificate of a chain.
pub(crate) fn describe_chain(
    broker: &str,
    chain: &[CertificateDer<'_>],
    verified: bool,
    now_unix: i64,
) -> Vec<CertificateInfo> {
    chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            let position = u32::try_from(i).unwrap_or(u32::MAX);
            match x509_parser::parse_x509_certificate(der.as_ref()) {
                Ok((_, cert)) => {
                    let nb = cert.validity().not_before.timestamp();
                    let na = cert.validity().not_after.timestamp();
                    CertificateInfo {
                        broker: broker.to_owned(),
                        position,
                        subject: cert.subject().to_string(),
                        issuer: cert.issuer().to_string(),
                        not_before: rfc3339(nb),
                        not_after: rfc3339(na),
                        days_left: (na - now_unix).div_euclid(86_400),
                        verified,
                    }
                }
                Err(e) => CertificateInfo {
                    broker: broker.to_owned(),
                    position,
                    subject: format!("<unparsable certificate: {e}>"),
                    issuer: String::new(),
                    not_before: String::new(),
                    not_after: String::new(),
                    days_left: 0,
                    verified,
                },
            }
        })
        .collect()
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}

/// One line per certificate: `#0 CN=broker issued by CN=ca, valid until … (N days)`.
pub(crate) fn chain_summary(certs: &[CertificateInfo]) -> String {
    certs
        .iter()
        .map(|c| {
            format!(
                "#{} {} issued by {}, valid until {} ({} days)",
                c.position,
                blank_dash(&c.subject),
                blank_dash(&c.issuer),
                c.not_after,
                c.days_left
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn blank_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// The verdict on a verified chain: `fail` when a certificate has expired, `warn`
/// when one expires within [`EXPIRY_WARNING_DAYS`] (or there is none), else `ok`.
pub(crate) fn assess_chain(infos: &[CertificateInfo]) -> (Status, String, Option<String>) {
    let summary = chain_summary(infos);
    match infos.iter().map(|c| c.days_left).min() {
        None => (
            Status::Warn,
            "the broker presented no certificate".to_owned(),
            Some("check the listener's keystore".to_owned()),
        ),
        Some(d) if d < 0 => (
            Status::Fail,
            format!("expired: {summary}"),
            Some("renew the broker certificate (and check this machine's clock)".to_owned()),
        ),
        Some(d) if d < EXPIRY_WARNING_DAYS => (
            Status::Warn,
            format!("expires in {d} days: {summary}"),
            Some(format!(
                "a certificate of the chain expires within {EXPIRY_WARNING_DAYS} days: renew it before clients start failing"
            )),
        ),
        Some(_) => (
            Status::Ok,
            format!("chain of {}: {summary}", infos.len()),
            None,
        ),
    }
}

/// The rustls error inside an IO error, if any.
pub(crate) fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// What a TLS failure most likely means: `(detail, hint, certificate problem)`.
/// The last value says whether showing the presented chain would help.
pub(crate) fn explain(e: &io::Error, host: &str) -> Option<(String, String, bool)> {
    let err = rustls_error(e)?;
    let detail = format!("TLS: {err}");
    let (hint, cert) = match err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension => (
                "the broker certificate is not signed by a CA this client trusts: set --ca-file (ssl.ca.location, or ssl.truststore.location as PEM) to the CA that signed the broker certificate".to_owned(),
                true,
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                format!(
                    "the broker certificate does not name {host:?}: connect with a host name listed in its subject alternative names, or reissue the certificate for this name"
                ),
                true,
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "a certificate of the broker's chain has expired: renew the broker certificate (and check this machine's clock)".to_owned(),
                true,
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "the broker certificate is not valid yet: check the clocks of this machine and the broker".to_owned(),
                true,
            ),
            CertificateError::Revoked => (
                "the broker certificate has been revoked: reissue it".to_owned(),
                true,
            ),
            _ => (
                "the broker certificate was rejected: check --ca-file and the broker's keystore".to_owned(),
                true,
            ),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown,
        ) => (
            "the broker requires a client certificate it trusts (mutual TLS): set --cert-file and --key-file (ssl.certificate.location / ssl.key.location) to a certificate signed by a CA in the broker's truststore".to_owned(),
            false,
        ),
        rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => (
            "the broker refused the handshake: it may require a client certificate (--cert-file/--key-file), or no TLS version and cipher suite are common to both sides".to_owned(),
            false,
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            "the port did not answer with TLS: it is probably a PLAINTEXT or SASL_PLAINTEXT listener; check the port and --security-protocol".to_owned(),
            false,
        ),
        rustls::Error::NoCertificatesPresented => (
            "the broker presented no certificate: check the listener's keystore".to_owned(),
            false,
        ),
        _ => (
            "the TLS handshake failed: check that this is a TLS listener and that the CA and client certificate settings match the broker".to_owned(),
            false,
        ),
    };
    Some((detail, hint, cert))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_are_described_with_days_left() {
        let mut params = rcgen::CertificateParams::new(vec!["broker.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "broker.example");
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 1, 31);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-21T00:00:00Z")
            .unwrap()
            .timestamp();
        let info = describe_chain("b:1", &[cert.der().clone()], true, now);
        assert_eq!(info.len(), 1);
        assert!(info[0].subject.contains("broker.example"), "{info:?}");
        assert_eq!(info[0].not_after, "2026-01-31T00:00:00Z");
        assert_eq!(info[0].days_left, 10);
        let text = chain_summary(&info);
        assert!(text.contains("(10 days)"), "{text}");
        let garbage = describe_chain("b:1", &[CertificateDer::from(vec![1, 2, 3])], false, now);
        assert!(garbage[0].subject.contains("unparsable"), "{garbage:?}");
    }

    #[test]
    fn expiry_within_thirty_days_warns_and_expired_fails() {
        let cert = |days_left| CertificateInfo {
            broker: "b:1".into(),
            position: 0,
            subject: "CN=b".into(),
            issuer: "CN=ca".into(),
            not_before: String::new(),
            not_after: "2026-02-01T00:00:00Z".into(),
            days_left,
            verified: true,
        };
        assert_eq!(assess_chain(&[cert(400), cert(31)]).0, Status::Ok);
        let (status, detail, hint) = assess_chain(&[cert(400), cert(12)]);
        assert_eq!(status, Status::Warn);
        assert!(detail.contains("expires in 12 days"), "{detail}");
        assert!(hint.unwrap_or_default().contains("30 days"));
        assert_eq!(assess_chain(&[cert(-1)]).0, Status::Fail);
        assert_eq!(assess_chain(&[]).0, Status::Warn);
    }

    #[test]
    fn tls_errors_get_hints() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let (detail, hint, cert) = explain(&e, "h").unwrap();
        assert!(detail.contains("TLS"), "{detail}");
        assert!(hint.contains("--ca-file"), "{hint}");
        assert!(cert);
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
        );
        assert!(explain(&e, "h").unwrap().1.contains("--cert-file"));
        assert!(explain(&io::Error::from(io::ErrorKind::ConnectionRefused), "h").is_none());
    }
}
