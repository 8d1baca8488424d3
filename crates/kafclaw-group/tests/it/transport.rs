//! The transport and the broadcast consumer against the real broker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, Decoding, Error, KafkaSettings, KafkaTransport,
    MemoryOffsetStore, OutRecord, StartAt, Subscription, TlsFiles, Transport,
};
use kafclaw_testkit::{maybe_skip_kafka, random_topic_name};

use crate::support::{EnvelopeRecorder, Recorder, connect};

const WAIT: Duration = Duration::from_secs(30);

fn json(i: usize, key: &str) -> Vec<u8> {
    format!(r#"{{"type":"request","seq":{i},"key":"{key}"}}"#).into_bytes()
}

#[tokio::test]
async fn same_key_in_order_across_three_partitions_and_two_consumers_get_everything() {
    let broker = maybe_skip_kafka!();
    let t = connect(&broker).await;
    let topic = random_topic_name("order");
    t.ensure_topic(&topic, 3, 1).await.unwrap();
    // Creating it again is fine.
    t.ensure_topic(&topic, 3, 1).await.unwrap();
    assert_eq!(t.partitions(&topic).await.unwrap(), vec![0, 1, 2]);

    let keys = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let per_key = 40;
    // Produce concurrently per key, sequentially within a key.
    let mut set = tokio::task::JoinSet::new();
    for key in keys {
        let t = Arc::clone(&t);
        let topic = topic.clone();
        set.spawn(async move {
            let mut partition = None;
            for i in 0..per_key {
                let p = t
                    .produce(&topic, OutRecord::keyed(key, json(i, key)))
                    .await
                    .unwrap();
                assert!(
                    partition.is_none() || partition == Some(p.partition),
                    "key {key} changed partition"
                );
                partition = Some(p.partition);
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }

    let mut consumers = Vec::new();
    let mut recorders = Vec::new();
    for id in ["agent-a", "agent-b"] {
        let rec = Recorder::new();
        let c = BroadcastConsumer::new(
            Arc::clone(&t),
            Arc::new(MemoryOffsetStore::new()),
            Arc::clone(&rec),
            ConsumerOptions::new(id),
        );
        c.subscribe(Subscription::resume(&topic, StartAt::Earliest))
            .await
            .unwrap();
        consumers.push(c);
        recorders.push(rec);
    }
    let total = keys.len() * per_key;
    for rec in &recorders {
        rec.wait_for(total, WAIT).await;
        let seen = rec.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), total, "no record twice");
        let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
        let mut partitions = std::collections::BTreeSet::new();
        for r in &seen {
            let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            by_key
                .entry(v["key"].as_str().unwrap().to_string())
                .or_default()
                .push(v["seq"].as_i64().unwrap());
            partitions.insert(r.partition);
        }
        for key in keys {
            let seqs = &by_key[key];
            assert_eq!(
                seqs,
                &(0..per_key as i64).collect::<Vec<_>>(),
                "order of key {key}"
            );
        }
        assert!(
            partitions.len() > 1,
            "five keys should spread over the partitions: {partitions:?}"
        );
    }
    for c in &consumers {
        let lag = c.lag();
        assert_eq!(lag.len(), 3);
        assert!(lag.iter().all(|l| l.lag == 0), "{lag:?}");
        c.shutdown().await;
    }
    t.delete_topic(&topic).await.unwrap();
}

#[tokio::test]
async fn restarted_consumer_resumes_after_the_last_handled_record() {
    let broker = maybe_skip_kafka!();
    let t = connect(&broker).await;
    let topic = random_topic_name("resume");
    t.ensure_topic(&topic, 1, 1).await.unwrap();
    let store = Arc::new(MemoryOffsetStore::new());
    for i in 0..10 {
        t.produce(
            &topic,
            OutRecord::keyed("k", json(i, "k")).with_message_id(&format!("m{i}")),
        )
        .await
        .unwrap();
    }
    let first = Recorder::new();
    let c = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::clone(&store),
        Arc::clone(&first),
        ConsumerOptions::new("me"),
    );
    c.subscribe(Subscription::resume(&topic, StartAt::Earliest))
        .await
        .unwrap();
    first.wait_for(10, WAIT).await;
    c.shutdown().await;

    for i in 10..15 {
        t.produce(
            &topic,
            OutRecord::keyed("k", json(i, "k")).with_message_id(&format!("m{i}")),
        )
        .await
        .unwrap();
    }
    // A re-delivered copy of an already handled message (a producer retry) is not handled again.
    t.produce(
        &topic,
        OutRecord::keyed("k", json(3, "k")).with_message_id("m3"),
    )
    .await
    .unwrap();

    let second = Recorder::new();
    let c = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::clone(&store),
        Arc::clone(&second),
        ConsumerOptions::new("me"),
    );
    c.subscribe(Subscription::resume(&topic, StartAt::Earliest))
        .await
        .unwrap();
    second.wait_for(5, WAIT).await;
    kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(20), || async {
        c.stats().duplicates == 1
    })
    .await;
    let seqs: Vec<i64> = second
        .values()
        .iter()
        .map(|v| {
            serde_json::from_str::<serde_json::Value>(v).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        vec![10, 11, 12, 13, 14],
        "resumed at k+1 with no loss and no double handling"
    );
    let stats = c.stats();
    assert_eq!((stats.handled, stats.duplicates), (5, 1), "{stats:?}");
    assert_eq!(first.len() + second.len(), 15);
    c.shutdown().await;
    t.delete_topic(&topic).await.unwrap();
}

#[tokio::test]
async fn records_that_are_not_envelopes_are_counted_and_skipped() {
    let broker = maybe_skip_kafka!();
    let t = connect(&broker).await;
    let group = kafclaw_envelope::GroupName::new(kafclaw_testkit::random_group_name()).unwrap();
    let topic = group.topic(kafclaw_envelope::GroupTopic::Requests);
    t.ensure_topic(&topic, 1, 1).await.unwrap();
    let envelope = |n: usize| {
        let request = kafclaw_envelope::TaskRequest::new(format!("t-{n}"), "agent-a", "d", "c");
        kafclaw_envelope::GroupEnvelope::new("agent-a", kafclaw_envelope::Message::Request(request))
            .to_json()
            .unwrap()
    };
    let values: Vec<Vec<u8>> = vec![
        envelope(0),
        vec![0xff, 0x00, 0x13, 0x37],
        b"{\"type\": truncated".to_vec(),
        b"[1,2,3]".to_vec(),
        Vec::new(),
        br#"{"kfs_lfs": "not-a-version"}"#.to_vec(),
        envelope(1),
    ];
    for v in values {
        t.produce(
            &topic,
            OutRecord {
                key: Some(b"k".to_vec()),
                value: v,
                headers: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
    }
    let rec = EnvelopeRecorder::new();
    let c = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::new(Decoding(Arc::clone(&rec))),
        ConsumerOptions::new("me"),
    );
    c.subscribe(Subscription::fresh(&topic, StartAt::Earliest))
        .await
        .unwrap();
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(20), || async {
        c.stats().malformed == 5
    })
    .await;
    assert!(ok, "{:?}", c.stats());
    assert_eq!(
        rec.task_ids(),
        vec!["t-0", "t-1"],
        "the envelopes around the garbage were handled"
    );
    assert_eq!(c.stats().handled, 2);
    assert_eq!(
        c.lag()[0].next_offset,
        7,
        "the consumer went past the garbage"
    );
    c.shutdown().await;
    t.delete_topic(&topic).await.unwrap();
}

#[tokio::test]
async fn look_back_skips_old_history_and_latest_sees_only_new_records() {
    let broker = maybe_skip_kafka!();
    let t = connect(&broker).await;
    let topic = random_topic_name("lookback");
    t.ensure_topic(&topic, 1, 1).await.unwrap();
    for i in 0..3 {
        t.produce(&topic, OutRecord::keyed("k", json(i, "old")))
            .await
            .unwrap();
    }
    // Everything so far is older than the look-back window once a second has passed.
    let cutoff = std::time::Instant::now();
    kafclaw_testkit::wait_until_async(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { cutoff.elapsed() > Duration::from_millis(1200) },
    )
    .await;
    t.produce(&topic, OutRecord::keyed("k", json(3, "recent")))
        .await
        .unwrap();

    let recent = Recorder::new();
    let c1 = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&recent),
        ConsumerOptions::new("a"),
    );
    c1.subscribe(Subscription::fresh(
        &topic,
        StartAt::LookBack(Duration::from_secs(1)),
    ))
    .await
    .unwrap();
    let latest = Recorder::new();
    let c2 = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&latest),
        ConsumerOptions::new("b"),
    );
    c2.subscribe(Subscription::fresh(&topic, StartAt::Latest))
        .await
        .unwrap();
    recent.wait_for(1, WAIT).await;
    t.produce(&topic, OutRecord::keyed("k", json(4, "new")))
        .await
        .unwrap();
    latest.wait_for(1, WAIT).await;
    recent.wait_for(2, WAIT).await;
    assert!(
        recent.values()[0].contains("recent"),
        "{:?}",
        recent.values()
    );
    assert_eq!(latest.len(), 1);
    assert!(latest.values()[0].contains("new"));
    c1.shutdown().await;
    c2.shutdown().await;
    t.delete_topic(&topic).await.unwrap();
}

#[tokio::test]
async fn topics_can_be_added_while_running() {
    let broker = maybe_skip_kafka!();
    let t = connect(&broker).await;
    let a = random_topic_name("dyn-a");
    let b = random_topic_name("dyn-b");
    t.ensure_topic(&a, 1, 1).await.unwrap();
    t.ensure_topic(&b, 2, 1).await.unwrap();
    let rec = Recorder::new();
    let c = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&rec),
        ConsumerOptions::new("me"),
    );
    c.subscribe(Subscription::fresh(&a, StartAt::Earliest))
        .await
        .unwrap();
    t.produce(&a, OutRecord::keyed("x", json(0, "x")))
        .await
        .unwrap();
    rec.wait_for(1, WAIT).await;
    c.subscribe(Subscription::fresh(&b, StartAt::Earliest))
        .await
        .unwrap();
    c.subscribe(Subscription::fresh(&b, StartAt::Earliest))
        .await
        .unwrap();
    t.produce(&b, OutRecord::keyed("y", json(1, "y")))
        .await
        .unwrap();
    rec.wait_for(2, WAIT).await;
    assert_eq!(c.topics().len(), 2);
    assert_eq!(c.lag().len(), 3);
    // A topic that does not exist is an error that names it.
    let missing = random_topic_name("missing");
    let err = c
        .subscribe(Subscription::fresh(&missing, StartAt::Earliest))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic { .. }) && err.to_string().contains(&missing),
        "{err}"
    );
    c.shutdown().await;
    t.delete_topic(&a).await.unwrap();
    t.delete_topic(&b).await.unwrap();
}

fn sasl_settings(
    brokers: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) -> Result<KafkaSettings, Error> {
    let mut s = KafkaSettings::from_keys(
        brokers,
        "SASL_PLAINTEXT",
        mechanism,
        user,
        password,
        TlsFiles::default(),
    )?;
    s.request_timeout = Duration::from_secs(5);
    Ok(s)
}

#[tokio::test]
async fn sasl_plain_and_scram_authenticate_and_produce() {
    let broker = maybe_skip_kafka!();
    let sasl = broker
        .sasl
        .clone()
        .expect("the test broker has a SASL listener");
    let topic = random_topic_name("sasl");
    let plain = connect(&broker).await;
    plain.ensure_topic(&topic, 1, 1).await.unwrap();
    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let s = sasl_settings(&sasl.brokers, mech, &sasl.user, &sasl.password).unwrap();
        let t = KafkaTransport::connect(&s)
            .await
            .unwrap_or_else(|e| panic!("{mech}: {e}"));
        let p = t
            .produce(&topic, OutRecord::keyed("k", json(0, mech)))
            .await
            .unwrap();
        let reader = t.reader(&topic, p.partition).await.unwrap();
        let batch = reader
            .fetch(p.offset, Duration::from_millis(100))
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&batch.records[0].value).contains(mech));
    }
    plain.delete_topic(&topic).await.unwrap();
}

#[tokio::test]
async fn wrong_port_password_and_mechanism_say_which() {
    let broker = maybe_skip_kafka!();
    let sasl = broker
        .sasl
        .clone()
        .expect("the test broker has a SASL listener");

    // Wrong port: a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = KafkaSettings::plaintext(&free.to_string());
    s.request_timeout = Duration::from_secs(2);
    let err = KafkaTransport::connect(&s).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains(&free.to_string()), "{err}");

    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let s = sasl_settings(&sasl.brokers, mech, &sasl.user, "not-the-password").unwrap();
        let err = KafkaTransport::connect(&s).await.unwrap_err();
        assert!(
            matches!(err, Error::Authentication { .. }),
            "{mech}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(mech) && text.contains(&sasl.user), "{text}");
    }

    // A mechanism we do not support is refused before any connection.
    let err = sasl_settings(&sasl.brokers, "GSSAPI", &sasl.user, &sasl.password).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                key: "group.kafkaSaslMechanism",
                ..
            }
        ),
        "{err:?}"
    );
    // SASL credentials against the PLAINTEXT listener: the broker does not speak SASL there.
    let s = sasl_settings(&broker.brokers, "PLAIN", &sasl.user, &sasl.password).unwrap();
    let err = KafkaTransport::connect(&s).await.unwrap_err();
    assert!(!matches!(err, Error::Config { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_and_mutual_tls_connect_and_untrusted_certificates_fail() {
    let broker = maybe_skip_kafka!();
    let tls = broker
        .tls
        .clone()
        .expect("the test broker has a TLS listener");
    let files = TlsFiles {
        ca_file: Some(tls.ca.clone()),
        cert_file: None,
        key_file: None,
    };
    let s = KafkaSettings::from_keys(&tls.brokers, "SSL", "", "", "", files.clone()).unwrap();
    let t = KafkaTransport::connect(&s).await.expect("TLS connect");
    let topic = random_topic_name("tls");
    t.ensure_topic(&topic, 1, 1).await.unwrap();
    t.produce(&topic, OutRecord::keyed("k", json(0, "tls")))
        .await
        .unwrap();

    let mtls = tls.mtls_brokers.clone().expect("mTLS listener");
    let with_cert = TlsFiles {
        cert_file: tls.client_cert.clone(),
        key_file: tls.client_key.clone(),
        ..files.clone()
    };
    let s = KafkaSettings::from_keys(&mtls, "SSL", "", "", "", with_cert).unwrap();
    let t2 = KafkaTransport::connect(&s).await.expect("mTLS connect");
    t2.produce(&topic, OutRecord::keyed("k", json(1, "mtls")))
        .await
        .unwrap();

    // Without a client certificate the mTLS listener refuses us.
    let mut s = KafkaSettings::from_keys(&mtls, "SSL", "", "", "", files).unwrap();
    s.request_timeout = Duration::from_secs(3);
    assert!(KafkaTransport::connect(&s).await.is_err());

    // A CA that did not sign the broker's certificate: the handshake fails as a TLS error.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca_path = dir.path().join("other-ca.pem");
    std::fs::write(&ca_path, other_ca.cert.pem()).unwrap();
    let untrusted = TlsFiles {
        ca_file: Some(ca_path),
        cert_file: None,
        key_file: None,
    };
    let mut s = KafkaSettings::from_keys(&tls.brokers, "SSL", "", "", "", untrusted).unwrap();
    s.request_timeout = Duration::from_secs(3);
    let err = KafkaTransport::connect(&s).await.unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    t.delete_topic(&topic).await.unwrap();
}
