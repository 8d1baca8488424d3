//! Against the live broker every check passes, with a latency, on each listener.

use kafclaw_kshark::{Layer, SaslMechanism, Status, TlsFiles, render_html};
use kafclaw_testkit::{maybe_skip_kafka, random_topic_name};

use crate::support::{assert_all_ok, assert_valid, check, plaintext, run, sasl, ssl};

#[tokio::test]
async fn plaintext_every_layer_ok_with_latencies_and_a_valid_json_report() {
    let broker = maybe_skip_kafka!();
    let topic = random_topic_name("kshark-live");
    let report = run(plaintext(&broker.brokers), Some(topic.clone())).await;
    let names = assert_all_ok(&report);
    assert_eq!(
        names,
        [
            "dns",
            "tcp",
            "api_versions",
            "metadata",
            "kafka_client",
            "probe_topic",
            "produce",
            "consume"
        ]
    );
    assert!(check(&report, "probe_topic").detail.contains("created"));
    assert!(check(&report, "consume").detail.contains("round trip"));
    let cluster = report.cluster.as_ref().expect("cluster info");
    assert!(cluster.controller_id >= 0);
    assert!(!cluster.brokers.is_empty());
    assert_eq!(report.config.security_protocol, "PLAINTEXT");
    assert_eq!(report.summary.status, Status::Ok);

    // The JSON form validates against the committed schema and round-trips.
    let json = serde_json::to_value(&report).expect("serialize");
    assert_valid(&json);
    let back: kafclaw_kshark::Report = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, report);

    // A second run finds the probe topic instead of creating it.
    let again = run(plaintext(&broker.brokers), Some(topic)).await;
    assert_all_ok(&again);
    assert!(check(&again, "probe_topic").detail.contains("exists"));
}

#[tokio::test]
async fn sasl_plain_and_both_scram_mechanisms_authenticate() {
    let broker = maybe_skip_kafka!();
    let Some(ep) = broker.sasl.clone() else {
        panic!("the test broker has no SASL listener");
    };
    for mech in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        let report = run(
            sasl(&ep.brokers, mech, &ep.user, &ep.password),
            Some(random_topic_name("kshark-sasl")),
        )
        .await;
        let names = assert_all_ok(&report);
        assert!(names.contains(&"sasl".to_owned()), "{names:?}");
        let c = check(&report, "sasl");
        assert_eq!(c.layer, Layer::Sasl);
        assert!(c.detail.contains(mech.as_str()), "{}", c.detail);
        assert!(c.detail.contains(&ep.user), "{}", c.detail);
        assert_eq!(report.config.sasl_mechanism.as_deref(), Some(mech.as_str()));
        assert!(report.config.sasl_password_set);
        let json = serde_json::to_string(&report).expect("serialize");
        assert!(
            !json.contains(&ep.password),
            "the password must never be reported"
        );
    }
}

#[tokio::test]
async fn tls_and_mutual_tls_verify_the_chain() {
    let broker = maybe_skip_kafka!();
    let Some(tls) = broker.tls.clone() else {
        panic!("the test broker has no TLS listener");
    };
    let files = TlsFiles {
        ca_file: Some(tls.ca.clone()),
        cert_file: None,
        key_file: None,
    };
    let report = run(
        ssl(&tls.brokers, files),
        Some(random_topic_name("kshark-tls")),
    )
    .await;
    let names = assert_all_ok(&report);
    assert!(names.contains(&"tls_handshake".to_owned()), "{names:?}");
    let cert = check(&report, "tls_certificate");
    assert!(cert.detail.contains("issued by"), "{}", cert.detail);
    assert!(!report.certificates.is_empty());
    assert!(
        report
            .certificates
            .iter()
            .all(|c| c.verified && c.days_left > 30)
    );

    let mtls = tls.mtls_brokers.clone().expect("mTLS listener");
    let files = TlsFiles {
        ca_file: Some(tls.ca.clone()),
        cert_file: tls.client_cert.clone(),
        key_file: tls.client_key.clone(),
    };
    let report = run(ssl(&mtls, files), None).await;
    assert_all_ok(&report);
    assert_valid(&serde_json::to_value(&report).expect("serialize"));
}

#[tokio::test]
async fn html_report_is_a_standalone_page_naming_every_check() {
    let broker = maybe_skip_kafka!();
    let report = run(
        plaintext(&broker.brokers),
        Some(random_topic_name("kshark-html")),
    )
    .await;
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<html"));
    assert!(html.contains("<style>"), "CSS is inline");
    for forbidden in ["http://", "https://", "<script", "<link", " src="] {
        assert!(!html.contains(forbidden), "{forbidden} in the page");
    }
    for c in &report.checks {
        assert!(
            html.contains(&format!("<code>{}</code>", c.name)),
            "{}",
            c.name
        );
    }
    assert!(html.contains(&report.config.brokers[0]));
}
