//! Each broken setup fails at the right layer, with a hint, and skips what is above.

use std::time::Duration;

use kafclaw_kshark::{Layer, SaslMechanism, Status, TlsFiles};
use kafclaw_testkit::{TestBroker, maybe_skip_kafka, random_topic_name};

use crate::support::{
    assert_rest_skipped, assert_valid, check, free_port, plaintext, run, sasl, ssl,
};

#[tokio::test]
async fn a_wrong_port_fails_at_tcp() {
    let _broker = maybe_skip_kafka!();
    let addr = format!("127.0.0.1:{}", free_port());
    let report = run(plaintext(&addr), Some(random_topic_name("kshark-port"))).await;
    assert_eq!(check(&report, "dns").status, Status::Ok);
    let tcp = check(&report, "tcp");
    assert_eq!((tcp.status, tcp.layer), (Status::Fail, Layer::Tcp));
    assert!(tcp.latency_ms.is_some());
    let hint = tcp.hint.as_deref().expect("a hint");
    assert!(
        hint.contains("nothing listens") && hint.contains("port"),
        "{hint}"
    );
    let rest = assert_rest_skipped(&report, "tcp");
    let names: Vec<&str> = rest.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "api_versions",
            "metadata",
            "probe_topic",
            "produce",
            "consume"
        ]
    );
    assert!(report.failed());
    assert_valid(&serde_json::to_value(&report).expect("serialize"));
}

#[tokio::test]
async fn a_wrong_sasl_password_fails_at_sasl() {
    let broker = maybe_skip_kafka!();
    let ep = broker.sasl.clone().expect("SASL listener");
    for mech in [SaslMechanism::Plain, SaslMechanism::ScramSha512] {
        let report = run(sasl(&ep.brokers, mech, &ep.user, "not-the-password"), None).await;
        for ok in ["dns", "tcp", "api_versions"] {
            assert_eq!(check(&report, ok).status, Status::Ok, "{ok}");
        }
        let s = check(&report, "sasl");
        assert_eq!(s.status, Status::Fail, "{s:#?}");
        assert!(s.detail.contains("rejected"), "{}", s.detail);
        let hint = s.hint.as_deref().expect("a hint");
        assert!(hint.contains("password"), "{hint}");
        assert_eq!(
            assert_rest_skipped(&report, "sasl")
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["metadata"]
        );
    }
}

#[tokio::test]
async fn a_sasl_listener_without_credentials_fails_at_metadata_asking_for_sasl() {
    let broker = maybe_skip_kafka!();
    let ep = broker.sasl.clone().expect("SASL listener");
    let report = run(plaintext(&ep.brokers), None).await;
    assert_eq!(check(&report, "api_versions").status, Status::Ok);
    let m = check(&report, "metadata");
    assert_eq!(m.status, Status::Fail);
    assert!(
        m.hint.as_deref().unwrap_or("").contains("requires SASL"),
        "{m:#?}"
    );
}

#[tokio::test]
async fn an_untrusted_broker_certificate_fails_at_tls() {
    let broker = maybe_skip_kafka!();
    let tls = broker.tls.clone().expect("TLS listener");
    // A CA of our own, which did not sign the broker's certificate.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kshark test stranger CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let ca = params.self_signed(&key).expect("CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("stranger-ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write CA");

    let files = TlsFiles {
        ca_file: Some(ca_file),
        cert_file: None,
        key_file: None,
    };
    let report = run(
        ssl(&tls.brokers, files),
        Some(random_topic_name("kshark-ca")),
    )
    .await;
    assert_eq!(check(&report, "tcp").status, Status::Ok);
    let hs = check(&report, "tls_handshake");
    assert_eq!((hs.status, hs.layer), (Status::Fail, Layer::Tls));
    assert!(hs.detail.contains("UnknownIssuer"), "{}", hs.detail);
    // The detail shows which certificate the broker presented.
    assert!(hs.detail.contains("the broker presented"), "{}", hs.detail);
    let hint = hs.hint.as_deref().expect("a hint");
    assert!(
        hint.contains("--ca-file") && hint.contains("CA that signed"),
        "{hint}"
    );
    assert!(report.certificates.iter().all(|c| !c.verified));
    assert!(!report.certificates.is_empty());
    let names: Vec<&str> = assert_rest_skipped(&report, "tls_handshake")
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "tls_certificate",
            "api_versions",
            "metadata",
            "probe_topic",
            "produce",
            "consume"
        ]
    );
}

#[tokio::test]
async fn plaintext_to_a_tls_listener_is_told_to_use_tls() {
    let broker = maybe_skip_kafka!();
    let tls = broker.tls.clone().expect("TLS listener");
    let report = run(plaintext(&tls.brokers), None).await;
    let a = check(&report, "api_versions");
    assert_eq!(a.status, Status::Fail);
    assert!(a.hint.as_deref().unwrap_or("").contains("TLS"), "{a:#?}");
}

/// Stops the shared broker: takes the exclusive handle and always starts it again.
#[test]
fn a_stopped_broker_fails_at_tcp() {
    let Some(broker) = TestBroker::exclusive() else {
        return;
    };
    if broker.control().is_none() {
        // A broker not started by the xtask cannot be stopped from here.
        assert!(!kafclaw_testkit::is_ci(|k| std::env::var(k).ok()));
        eprintln!("skipping: the test broker cannot be controlled");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    broker.stop().expect("stop the broker");
    let report = runtime.block_on(run(plaintext(&broker.brokers), None));
    broker.start().expect("start the broker again");
    let tcp = check(&report, "tcp");
    assert_eq!(tcp.status, Status::Fail, "{tcp:#?}");
    assert!(
        tcp.hint.as_deref().unwrap_or("").contains("broker is down"),
        "{tcp:#?}"
    );
    assert_rest_skipped(&report, "tcp");
    // Up again: the same probe passes.
    let ok =
        kafclaw_testkit::wait_until(Duration::from_secs(60), Duration::from_millis(500), || {
            !runtime
                .block_on(run(plaintext(&broker.brokers), None))
                .failed()
        });
    assert!(ok, "the broker did not come back");
}
