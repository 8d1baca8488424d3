//! Start, stop and restart of the managed broker, and what it leaves on disk.

use std::net::TcpListener;
use std::time::Duration;

use kafclaw_testkit::probe;
use kafclaw_testkit::{Broker, Error, KafkaRuntime, StartOutcome, StopOutcome, TestBroker};

use crate::IO_TIMEOUT;

/// A PLAINTEXT port P with P..=P+4 free right now.
fn free_port_block() -> u16 {
    for _ in 0..100 {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p <= u16::MAX - 4 && (p..=p + 4).all(|q| TcpListener::bind(("127.0.0.1", q)).is_ok()) {
            return p;
        }
    }
    panic!("no free block of five ports");
}

#[test]
fn state_files_describe_the_running_broker() {
    let broker = kafclaw_testkit::maybe_skip_kafka!();
    let Some(control) = broker.control() else {
        eprintln!("skipping: the broker was not started by `cargo xtask test`");
        return;
    };
    let text = std::fs::read_to_string(control.state_json_path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["pid"].as_u64(), control.pid().map(u64::from), "{json}");
    assert_eq!(json["port"].as_u64(), Some(u64::from(control.port())));
    assert_eq!(json["bootstrap"], broker.brokers.as_str());
    let sasl = broker.sasl.as_ref().unwrap();
    assert_eq!(json["listeners"]["sasl_plaintext"], sasl.brokers.as_str());
    assert_eq!(json["sasl"]["users"][0]["name"], sasl.user.as_str());
    assert_eq!(json["sasl"]["users"][0]["password"], sasl.password.as_str());
    let tls = broker.tls.as_ref().unwrap();
    assert_eq!(json["listeners"]["ssl"], tls.brokers.as_str());
    assert_eq!(
        json["listeners"]["mtls"].as_str(),
        tls.mtls_brokers.as_deref()
    );
    for key in [
        "ca_cert",
        "client_cert",
        "client_key",
        "server_cert",
        "server_key",
    ] {
        let path = json["tls"][key].as_str().unwrap();
        assert!(std::path::Path::new(path).is_file(), "{key}: {path}");
    }
    assert_eq!(
        json["tls"]["ca_cert"]
            .as_str()
            .map(std::path::PathBuf::from),
        Some(tls.ca.clone())
    );
    // The env file holds the same values that the tests were given.
    let env = std::fs::read_to_string(control.env_file_path()).unwrap();
    for (k, v) in control.env_vars() {
        assert!(
            env.contains(&format!("{k}={v}\n")),
            "{k} missing from broker.env"
        );
        assert_eq!(std::env::var(k).ok().as_deref(), Some(v.as_str()), "{k}");
    }
}

#[test]
fn an_exclusive_test_can_restart_the_broker_and_data_survives() {
    let Some(broker) = TestBroker::exclusive() else {
        return;
    };
    let Some(control) = broker.control() else {
        eprintln!("skipping: the broker was not started by `cargo xtask test`");
        return;
    };
    let addr = broker.brokers.clone();
    let before = control.status().unwrap();
    let pid = control.pid().expect("the test broker's pid");

    let runtime = KafkaRuntime::ensure(&kafclaw_testkit::default_cache_dir()).unwrap();
    let topic = kafclaw_testkit::random_topic_name("survives-restart");
    let out = runtime
        .java("org.apache.kafka.tools.TopicCommand")
        .args(["--bootstrap-server", &addr, "--create", "--topic", &topic])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(broker.stop().unwrap(), StopOutcome::Stopped { pid });
    assert!(control.status().is_err(), "stopped broker still answers");
    assert_eq!(control.pid(), None);
    assert_eq!(broker.stop().unwrap(), StopOutcome::NotRunning);

    let StartOutcome::Started { pid: new_pid } = broker.start().unwrap() else {
        panic!("start after stop must start a new process");
    };
    assert_ne!(new_pid, pid);
    assert_eq!(
        broker.start().unwrap(),
        StartOutcome::AlreadyRunning { pid: new_pid }
    );
    let after = control.status().unwrap();
    assert_eq!(
        after.cluster_id, before.cluster_id,
        "same storage, same cluster"
    );
    // Wait for the topic's partition to have a leader again rather than assuming it.
    let back =
        kafclaw_testkit::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            let Ok(mut s) = probe::connect(&addr, IO_TIMEOUT) else {
                return false;
            };
            probe::topics_metadata_over(&mut s, &addr, &[&topic], false).is_ok_and(|md| {
                md.topics
                    .first()
                    .is_some_and(|t| t.error_code == 0 && t.partitions == 1)
            })
        });
    assert!(back, "topic {topic} is gone after the restart");
}

#[test]
fn start_refuses_ports_that_something_else_holds() {
    let port = free_port_block();
    let _squatter = TcpListener::bind(("127.0.0.1", port + 2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::new(dir.path(), port).unwrap();
    let err = broker.start().unwrap_err();
    match err {
        Error::PortInUse {
            port: p, listener, ..
        } => {
            assert_eq!(p, port + 2);
            assert_eq!(listener, "SASL_PLAINTEXT");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(broker.pid(), None);
}

#[test]
fn a_broker_that_dies_while_starting_fails_with_its_log() {
    // Needs Java and the Kafka jars, which the managed test broker guarantees.
    let _broker = kafclaw_testkit::maybe_skip_kafka!();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::new(dir.path(), free_port_block())
        .unwrap()
        .with_start_timeout(Duration::from_secs(120));
    // Storage that claims to belong to another node: Kafka refuses to run on it.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data").join("meta.properties"),
        "version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=99\n",
    )
    .unwrap();
    let err = broker.start().unwrap_err();
    match &err {
        Error::BrokerExited { log_tail, log, .. } => {
            assert_eq!(log, &broker.log_path());
            assert!(
                log_tail.contains("kafclaw-testkit: starting Apache Kafka"),
                "{log_tail}"
            );
            // Kafka's own reason, from the JVM's output.
            assert!(log_tail.contains("node id 99"), "{log_tail}");
        }
        other => panic!("expected BrokerExited, got {other}"),
    }
    assert!(
        err.to_string()
            .contains(&broker.log_path().display().to_string())
    );
    assert_eq!(broker.pid(), None, "no broker left behind");
}
