//! The committed JSON Schema of the report: up to date with the code, and a valid
//! draft 2020-12 schema. `KAFCLAW_BLESS=1 cargo test -p kafclaw-kshark schema`
//! rewrites the file after an intended change.

use crate::support::schema_path;

#[test]
fn committed_schema_matches_the_code() {
    let generated = kafclaw_kshark::report_schema_text();
    let path = schema_path();
    if std::env::var("KAFCLAW_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the report types; rerun with KAFCLAW_BLESS=1 and commit it",
        path.display()
    );
}

#[test]
fn committed_schema_is_valid_draft_2020_12() {
    let text = std::fs::read_to_string(schema_path()).expect("read the schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    jsonschema::draft202012::meta::validate(&schema).expect("a valid 2020-12 schema");
    let validator = jsonschema::draft202012::new(&schema).expect("compiles");
    // The schema rejects what the report never contains.
    assert!(!validator.is_valid(&serde_json::json!({"schema_version": 1})));
    let mut bad = sample();
    bad["checks"][0]["status"] = "great".into();
    assert!(!validator.is_valid(&bad));
    assert!(validator.is_valid(&sample()));
}

fn sample() -> serde_json::Value {
    let checks = vec![kafclaw_kshark::Check {
        name: "tcp".into(),
        layer: kafclaw_kshark::Layer::Tcp,
        target: "h:1".into(),
        status: kafclaw_kshark::Status::Fail,
        latency_ms: Some(0.2),
        detail: "refused".into(),
        hint: Some("broker down".into()),
    }];
    let report = kafclaw_kshark::Report {
        schema_version: kafclaw_kshark::REPORT_SCHEMA_VERSION,
        tool: "kshark".into(),
        tool_version: "0".into(),
        started_at: "2026-01-01T00:00:00.000Z".into(),
        finished_at: "2026-01-01T00:00:00.001Z".into(),
        duration_ms: 1.0,
        config: kafclaw_kshark::ConfigEcho::default(),
        summary: kafclaw_kshark::Summary::of(&checks),
        checks,
        cluster: None,
        certificates: Vec::new(),
        topics: Vec::new(),
        notes: Vec::new(),
    };
    serde_json::to_value(report).expect("serialize")
}
