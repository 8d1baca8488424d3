//! Every listener of the test broker answers, and authenticates the way docs/testing.md says.

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use kafclaw_testkit::probe::{self, ClusterMetadata};
use kafclaw_testkit::{Error, KafkaRuntime, TestBroker, maybe_skip_kafka};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::IO_TIMEOUT;

fn port_of(addr: &str) -> i32 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("host:port")
}

/// The broker advertises itself on the listener that was asked, at the exported address.
fn assert_advertises(md: &ClusterMetadata, addr: &str) {
    assert_eq!(md.brokers.len(), 1, "{md:?}");
    assert_eq!(md.brokers[0].host, "127.0.0.1");
    assert_eq!(md.brokers[0].port, port_of(addr), "{md:?}");
    assert!(md.cluster_id.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(md.controller_id, md.brokers[0].node_id);
}

#[test]
fn plaintext_listener_answers_metadata() {
    let broker = maybe_skip_kafka!();
    let addr = &broker.bootstrap()[0];
    let md = probe::metadata(addr, IO_TIMEOUT).expect("metadata on PLAINTEXT");
    assert_advertises(&md, addr);
}

#[test]
fn topics_are_not_created_by_asking_for_them() {
    let broker = maybe_skip_kafka!();
    let addr = &broker.bootstrap()[0];
    let topic = kafclaw_testkit::random_topic_name("never-created");
    for _ in 0..2 {
        let mut s = probe::connect(addr, IO_TIMEOUT).unwrap();
        let md = probe::topics_metadata_over(&mut s, addr, &[&topic], true).unwrap();
        assert_eq!(md.topics.len(), 1);
        assert_eq!(md.topics[0].name, topic);
        assert_eq!(
            md.topics[0].error_code, 3,
            "UNKNOWN_TOPIC_OR_PARTITION: {md:?}"
        );
    }
}

#[test]
fn kafka_command_line_tools_run_against_the_broker() {
    let broker = maybe_skip_kafka!();
    let addr = broker.bootstrap()[0].clone();
    let runtime = KafkaRuntime::ensure(&kafclaw_testkit::default_cache_dir()).unwrap();
    let topic = kafclaw_testkit::random_topic_name("tools");
    let out = runtime
        .java("org.apache.kafka.tools.TopicCommand")
        .args(["--bootstrap-server", &addr, "--create", "--topic", &topic])
        .args(["--partitions", "3", "--replication-factor", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The metadata of a new topic reaches the broker's cache a moment after the command.
    let mut s = probe::connect(&addr, IO_TIMEOUT).unwrap();
    let mut md = None;
    let found = kafclaw_testkit::wait_until(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(100),
        || {
            let m = probe::topics_metadata_over(&mut s, &addr, &[&topic], false).unwrap();
            let ok = m.topics[0].error_code == 0;
            md = Some(m);
            ok
        },
    );
    let md = md.unwrap();
    assert!(found, "{md:?}");
    assert_eq!(md.topics[0].partitions, 3);
}

fn sasl(broker: &TestBroker) -> &kafclaw_testkit::SaslEndpoint {
    broker
        .sasl
        .as_ref()
        .expect("KAFCLAW_TEST_SASL_BROKERS is set by `cargo xtask test`")
}

#[test]
fn sasl_plain_accepts_both_test_users_and_then_serves_requests() {
    let broker = maybe_skip_kafka!();
    let sasl = sasl(&broker);
    let peer = sasl.peer.clone().expect("peer user exported");
    for (user, password) in [(sasl.user.clone(), sasl.password.clone()), peer] {
        let mut s = probe::connect(&sasl.brokers, IO_TIMEOUT).unwrap();
        probe::sasl_plain_over(&mut s, &sasl.brokers, &user, &password)
            .unwrap_or_else(|e| panic!("PLAIN login as {user}: {e}"));
        let md = probe::metadata_over(&mut s, &sasl.brokers).unwrap();
        assert_advertises(&md, &sasl.brokers);
    }
}

#[test]
fn sasl_plain_rejects_a_wrong_password() {
    let broker = maybe_skip_kafka!();
    let sasl = sasl(&broker);
    let mut s = probe::connect(&sasl.brokers, IO_TIMEOUT).unwrap();
    let err =
        probe::sasl_plain_over(&mut s, &sasl.brokers, &sasl.user, "not-the-password").unwrap_err();
    assert!(
        matches!(err, Error::Kafka { code: 58, .. }),
        "SASL_AUTHENTICATION_FAILED expected, got {err}"
    );
}

#[test]
fn sasl_listener_offers_plain_and_both_scram_mechanisms() {
    let broker = maybe_skip_kafka!();
    let sasl = sasl(&broker);
    let mut s = probe::connect(&sasl.brokers, IO_TIMEOUT).unwrap();
    let err = probe::sasl_handshake_over(&mut s, &sasl.brokers, "GSSAPI").unwrap_err();
    let Error::Kafka { code, message, .. } = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(code, 33, "UNSUPPORTED_SASL_MECHANISM");
    let message = message.unwrap_or_default();
    for m in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        assert!(message.contains(m), "{m} missing from {message}");
    }
}

/// Runs Kafka's own Java admin client over SCRAM (our raw probe does not speak SCRAM).
fn scram_describe_users(
    broker: &TestBroker,
    mechanism: &str,
    password: &str,
) -> std::process::Output {
    let sasl = sasl(broker);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("client.properties");
    std::fs::write(
        &config,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"{}\" password=\"{password}\";\n",
            sasl.user
        ),
    )
    .unwrap();
    let runtime = KafkaRuntime::ensure(&kafclaw_testkit::default_cache_dir()).unwrap();
    runtime
        .java("kafka.admin.ConfigCommand")
        .args(["--bootstrap-server", &sasl.brokers, "--command-config"])
        .arg(&config)
        .args(["--describe", "--entity-type", "users"])
        .output()
        .unwrap()
}

#[test]
fn scram_users_exist_and_log_in_with_both_mechanisms() {
    let broker = maybe_skip_kafka!();
    let password = sasl(&broker).password.clone();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let out = scram_describe_users(&broker, mechanism, &password);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mechanism}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for user in kafclaw_testkit::SASL_USERS {
            let line = stdout
                .lines()
                .find(|l| l.contains(&format!("user-principal '{}'", user.name)))
                .unwrap_or_else(|| panic!("{mechanism}: {} not listed: {stdout}", user.name));
            assert!(
                line.contains("SCRAM-SHA-256=") && line.contains("SCRAM-SHA-512="),
                "{line}"
            );
        }
    }
}

#[test]
fn scram_rejects_a_wrong_password() {
    let broker = maybe_skip_kafka!();
    let out = scram_describe_users(&broker, "SCRAM-SHA-512", "not-the-password");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("SaslAuthenticationException"), "{all}");
}

fn tls(broker: &TestBroker) -> &kafclaw_testkit::TlsEndpoint {
    broker
        .tls
        .as_ref()
        .expect("KAFCLAW_TEST_TLS_BROKERS is set by `cargo xtask test`")
}

fn tls_client(ca: Option<&Path>, client: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Metadata over TLS to `addr`, verifying the server as 127.0.0.1.
fn tls_metadata(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> kafclaw_testkit::Result<ClusterMetadata> {
    let tcp: TcpStream = probe::connect(addr, IO_TIMEOUT)?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    probe::metadata_over(&mut stream, addr)
}

#[test]
fn tls_listener_serves_a_certificate_for_127_0_0_1_signed_by_the_test_ca() {
    let broker = maybe_skip_kafka!();
    let tls = tls(&broker);
    let md = tls_metadata(&tls.brokers, tls_client(Some(&tls.ca), None)).expect("TLS metadata");
    assert_advertises(&md, &tls.brokers);
    // Without the test CA the same connection must not verify.
    let err = tls_metadata(&tls.brokers, tls_client(None, None)).unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[test]
fn mtls_listener_requires_the_client_certificate() {
    let broker = maybe_skip_kafka!();
    let tls = tls(&broker);
    let mtls = tls
        .mtls_brokers
        .as_deref()
        .expect("KAFCLAW_TEST_MTLS_BROKERS");
    let cert = tls.client_cert.as_deref().expect("client cert exported");
    let key = tls.client_key.as_deref().expect("client key exported");
    let md = tls_metadata(mtls, tls_client(Some(&tls.ca), Some((cert, key))))
        .expect("mTLS metadata with the client certificate");
    assert_advertises(&md, mtls);
    let err = tls_metadata(mtls, tls_client(Some(&tls.ca), None)).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}
