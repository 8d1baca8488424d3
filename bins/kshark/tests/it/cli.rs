//! The `kshark` binary end to end.

use kafclaw_testkit::{maybe_skip_kafka, random_group_name, random_topic_name};

use crate::support::{assert_valid, free_port, kshark, statuses, stderr, stdout};

#[test]
fn help_documents_the_flags_and_exit_codes() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = kshark(&["--help"], &[], home.path());
    assert!(out.status.success());
    let help = stdout(&out);
    for flag in [
        "--broker",
        "--props",
        "--auto",
        "--preset",
        "--topic",
        "--group",
        "--probe-topics",
        "--timeout",
        "--json",
        "--html",
        "--no-produce",
        "--security-protocol",
        "--sasl-mechanism",
        "--sasl-username",
        "--sasl-password",
        "KSHARK_SASL_PASSWORD",
        "--ca-file",
        "--cert-file",
        "--key-file",
        "Exit codes: 0",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn usage_and_input_errors_exit_2_naming_the_problem() {
    let home = tempfile::tempdir().expect("tempdir");
    let props = home.path().join("client.properties");
    std::fs::write(
        &props,
        "bootstrap.servers=127.0.0.1:9\n# fine\nnot a property line\n",
    )
    .expect("write props");
    let props = props.to_str().expect("utf-8 path");
    let cases: [(&[&str], &str); 5] = [
        (&[], "--broker"),
        (&["--props", props], "client.properties:3"),
        (
            &["--props", "/nonexistent/kshark.properties"],
            "/nonexistent/kshark.properties",
        ),
        (
            &["--broker", "h:1", "--sasl-mechanism", "GSSAPI"],
            "--sasl-mechanism",
        ),
        (&["--broker", "h:1", "--timeout", "forever"], "forever"),
    ];
    for (args, needle) in cases {
        let out = kshark(args, &[], home.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: nothing runs");
    }
}

#[test]
fn live_plaintext_exits_0_and_the_json_validates() {
    let broker = maybe_skip_kafka!();
    let home = tempfile::tempdir().expect("tempdir");
    let topic = random_topic_name("kshark-bin");
    let out = kshark(
        &[
            "--broker",
            &broker.brokers,
            "--topic",
            &topic,
            "--json",
            "-",
        ],
        &[],
        home.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("stdout is the JSON report");
    assert_valid(&report);
    let st = statuses(&report);
    assert!(st.len() >= 8, "{st:?}");
    assert!(st.iter().all(|(_, s)| s == "ok"), "{st:?}");
    assert!(
        report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["latency_ms"].as_f64().is_some()),
        "every check has a latency"
    );
    assert_eq!(report["tool"], "kshark");
    assert_eq!(report["config"]["probe_topic"], topic.as_str());
}

#[test]
fn a_wrong_port_exits_1_with_the_table_and_the_hint() {
    let _broker = maybe_skip_kafka!();
    let home = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let json = home.path().join("report.json");
    let html = home.path().join("report.html");
    let out = kshark(
        &[
            "--broker",
            &addr,
            "--json",
            json.to_str().expect("path"),
            "--html",
            html.to_str().expect("path"),
            "--progress",
        ],
        &[],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let table = stdout(&out);
    assert!(table.contains("FAIL") && table.contains("tcp"), "{table}");
    assert!(table.contains("hint: nothing listens"), "{table}");
    assert!(table.contains("SKIP"), "{table}");
    // Progress lines on stderr, as each check starts and ends.
    let progress = stderr(&out);
    assert!(
        progress.contains("..   tcp") && progress.contains("FAIL tcp"),
        "{progress}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json file")).expect("JSON");
    assert_valid(&report);
    let st = statuses(&report);
    assert_eq!(st[0], ("dns".to_owned(), "ok".to_owned()));
    assert_eq!(st[1], ("tcp".to_owned(), "fail".to_owned()));
    assert!(st[2..].iter().all(|(_, s)| s == "skipped"), "{st:?}");
    let page = std::fs::read_to_string(&html).expect("html file");
    assert!(page.contains("<html") && !page.contains("http://") && !page.contains("https://"));
    for (name, _) in &st {
        assert!(
            page.contains(&format!("<code>{name}</code>")),
            "{name} not in the page"
        );
    }
}

#[test]
fn a_properties_file_with_jaas_scram_authenticates() {
    let broker = maybe_skip_kafka!();
    let ep = broker.sasl.clone().expect("SASL listener");
    let home = tempfile::tempdir().expect("tempdir");
    let props = home.path().join("client.properties");
    std::fs::write(
        &props,
        format!(
            "# Java client settings\nbootstrap.servers={}\nsecurity.protocol=SASL_PLAINTEXT\n\
             sasl.mechanism=SCRAM-SHA-256\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"{}\" \\\n    password=\"{}\";\n\
             acks=all\n",
            ep.brokers, ep.user, ep.password
        ),
    )
    .expect("write props");
    let out = kshark(
        &[
            "--props",
            props.to_str().expect("path"),
            "--no-produce",
            "--json",
            "-",
        ],
        &[],
        home.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_valid(&report);
    assert!(statuses(&report).contains(&("sasl".to_owned(), "ok".to_owned())));
    assert_eq!(report["config"]["sasl_mechanism"], "SCRAM-SHA-256");
    let notes = report["notes"].to_string();
    assert!(notes.contains("acks"), "the unused key is noted: {notes}");
    assert!(!stdout(&out).contains(&ep.password));
}

#[test]
fn flags_override_the_properties_file_and_the_password_comes_from_the_environment() {
    let broker = maybe_skip_kafka!();
    let ep = broker.sasl.clone().expect("SASL listener");
    let home = tempfile::tempdir().expect("tempdir");
    let props = home.path().join("client.properties");
    // A wrong port and a wrong password in the file; the flags fix both.
    std::fs::write(
        &props,
        format!(
            "bootstrap.servers=127.0.0.1:{}\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username={}\nsasl.password=wrong\n",
            free_port(),
            ep.user
        ),
    )
    .expect("write props");
    let out = kshark(
        &[
            "--props",
            props.to_str().expect("path"),
            "--broker",
            &ep.brokers,
            "--no-produce",
        ],
        &[("KSHARK_SASL_PASSWORD", ep.password.as_str())],
        home.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `--auto` on an agent's machine: settings, group and agent id from the KafClaw
/// configuration, and the lag from its timeline.
#[test]
fn auto_takes_the_group_configuration_and_reads_the_agents_lag() {
    let broker = maybe_skip_kafka!();
    let ep = broker.sasl.clone().expect("SASL listener");
    let home = tempfile::tempdir().expect("tempdir");
    let group = random_group_name();
    let requests = format!("group.{group}.requests");
    let env = [
        ("KAFCLAW_GROUP_KAFKA_BROKERS", ep.brokers.as_str()),
        ("KAFCLAW_GROUP_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        ("KAFCLAW_GROUP_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ("KAFCLAW_GROUP_KAFKA_SASL_USERNAME", ep.user.as_str()),
        ("KAFCLAW_GROUP_KAFKA_SASL_PASSWORD", ep.password.as_str()),
        ("KAFCLAW_GROUP_GROUP_NAME", group.as_str()),
        ("KAFCLAW_GROUP_AGENT_ID", "agent-auto"),
    ];
    // The round trip on the group's requests topic creates it with one record.
    let out = kshark(&["--auto", "--topic", &requests], &env, home.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    // The agent has stored offset 0 for it: one record of lag.
    let db = home.path().join("kafclaw").join("timeline.db");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let tl = kafclaw_timeline::Timeline::open_path(&db)
            .await
            .expect("timeline");
        tl.set_offset("agent-auto", &requests, 0, 0)
            .await
            .expect("offset");
        tl.close().await;
    });
    let out = kshark(
        &["--auto", "--probe-topics", "--no-produce", "--json", "-"],
        &env,
        home.path(),
    );
    // Ten of the group's topics do not exist: the run fails, but says so per topic.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_valid(&report);
    assert_eq!(report["config"]["group"], group.as_str());
    assert!(
        !stdout(&out).contains(&ep.password),
        "the password is never reported"
    );
    assert_eq!(report["config"]["agent_id"], "agent-auto");
    assert!(
        report["config"]["sources"][0]
            .as_str()
            .is_some_and(|s| s.starts_with("auto:")),
        "{}",
        report["config"]["sources"]
    );
    let topics = report["topics"].as_array().expect("topics");
    assert_eq!(topics.len(), 11);
    let req = topics
        .iter()
        .find(|t| t["topic"] == requests.as_str())
        .expect("requests row");
    assert_eq!(req["exists"], true);
    assert_eq!(req["partitions"][0]["high_watermark"], 1);
    assert_eq!(req["partitions"][0]["committed"], 0);
    assert_eq!(req["partitions"][0]["lag"], 1);
    assert_eq!(req["total_lag"], 1);
    let missing = topics.iter().filter(|t| t["exists"] == false).count();
    assert_eq!(missing, 10);
    let fails: Vec<_> = statuses(&report)
        .into_iter()
        .filter(|(_, s)| s == "fail")
        .collect();
    assert_eq!(fails.len(), 10, "{fails:?}");
}

#[test]
fn a_wrong_password_and_an_untrusted_ca_exit_1_at_their_layers() {
    let broker = maybe_skip_kafka!();
    let home = tempfile::tempdir().expect("tempdir");
    let ep = broker.sasl.clone().expect("SASL listener");
    let out = kshark(
        &[
            "--broker",
            &ep.brokers,
            "--security-protocol",
            "SASL_PLAINTEXT",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            &ep.user,
            "--json",
            "-",
        ],
        &[("KSHARK_SASL_PASSWORD", "not-the-password")],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_valid(&report);
    let sasl = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "sasl")
        .expect("sasl check");
    assert_eq!(sasl["status"], "fail");
    assert!(
        sasl["hint"]
            .as_str()
            .is_some_and(|h| h.contains("password"))
    );

    // The client certificate is not the CA that signed the broker's certificate.
    let tls = broker.tls.clone().expect("TLS listener");
    let wrong_ca = tls.client_cert.clone().expect("client certificate");
    let out = kshark(
        &[
            "--broker",
            &tls.brokers,
            "--security-protocol",
            "SSL",
            "--ca-file",
            wrong_ca.to_str().expect("path"),
        ],
        &[],
        home.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    let failing: Vec<&str> = table.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(failing.len(), 1, "{table}");
    assert!(failing[0].contains("tls_handshake"), "{table}");
    assert!(
        table.contains("hint: the broker certificate is not signed by a CA"),
        "{table}"
    );
}
