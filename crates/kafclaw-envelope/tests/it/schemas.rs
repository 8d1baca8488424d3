//! The generated schemas: committed copies are current, they are valid draft 2020-12,
//! the examples validate against them, and the built-in validator agrees with jsonschema.

use kafclaw_envelope::{ValidateOptions, validate};
use serde_json::{Value, json};

use crate::support::{index, read_json, schema_errors, schemas_dir};

#[test]
fn committed_schemas_match_the_generated_ones() {
    for (name, value) in kafclaw_envelope::schema::all() {
        let path = schemas_dir().join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == kafclaw_envelope::schema::to_pretty(&value),
            "{} is out of date: run `cargo xtask schemas`",
            path.display()
        );
    }
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    let all = kafclaw_envelope::schema::all();
    let schemas: Vec<_> = all
        .iter()
        .filter(|(name, _)| name.ends_with(".schema.json"))
        .collect();
    assert_eq!(schemas.len(), 24);
    for (name, schema) in schemas {
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        if let Err(err) = jsonschema::draft202012::meta::validate(schema) {
            panic!("{name} is not a valid schema: {err}");
        }
    }
}

#[test]
fn every_example_validates_against_its_schema_and_the_envelope_schema() {
    let index = index();
    let mut checked = 0;
    for (type_name, entry) in index["types"].as_object().unwrap() {
        let schema = entry["schema"].as_str().unwrap();
        let family = entry["envelope"].as_str().unwrap();
        let envelope_schema = index["envelopes"][family]["schema"].as_str().unwrap();
        for example in entry["examples"].as_array().unwrap() {
            let example = example.as_str().unwrap();
            let value = read_json(example);
            assert_eq!(value["type"], type_name.as_str(), "{example}");
            for file in [schema, envelope_schema] {
                let errors = schema_errors(file, &value);
                assert!(errors.is_empty(), "{example} against {file}: {errors:?}");
            }
            checked += 1;
        }
    }
    for example in index["lfs_pointer"]["examples"].as_array().unwrap() {
        let value = read_json(example.as_str().unwrap());
        let errors = schema_errors(index["lfs_pointer"]["schema"].as_str().unwrap(), &value);
        assert!(errors.is_empty(), "{example}: {errors:?}");
        checked += 1;
    }
    assert_eq!(checked, 40);
}

#[test]
fn schemas_accept_what_go_writes() {
    // null arrays, null lfs_envelope, no extensions, offset timestamps
    let go = read_json("examples/go-memory.json");
    let mut item = go.clone();
    item["payload"]["lfs_envelope"] = Value::Null;
    item["payload"]["tags"] = Value::Null;
    for file in ["memory.schema.json", "group-envelope.schema.json"] {
        assert!(schema_errors(file, &item).is_empty());
    }
    let mut announce = read_json("examples/go-announce.json");
    announce["payload"]["identity"]["capabilities"] = Value::Null;
    announce["payload"]["identity"]["channels"] = Value::Null;
    assert!(schema_errors("announce.schema.json", &announce).is_empty());
    assert!(validate(&announce, &ValidateOptions::default()).is_empty());
}

/// Mutations of the golden examples that break exactly one rule.
fn broken_variants() -> Vec<(String, &'static str, Value)> {
    let mut out = Vec::new();
    let mut push = |example: &str, what: &'static str, f: &dyn Fn(&mut Value)| {
        let mut value = read_json(example);
        f(&mut value);
        out.push((example.to_owned(), what, value));
    };
    push("examples/request.json", "task_id number", &|v| {
        v["payload"]["task_id"] = json!(42)
    });
    push("examples/request.json", "missing payload", &|v| {
        v.as_object_mut().unwrap().remove("payload");
    });
    push("examples/request.json", "depth float", &|v| {
        v["payload"]["delegation_depth"] = json!(1.5)
    });
    push("examples/request.json", "depth too big", &|v| {
        v["payload"]["delegation_depth"] = json!(u64::MAX)
    });
    push("examples/request.json", "bad message_id", &|v| {
        v["message_id"] = json!("not-a-uuid")
    });
    push("examples/request.json", "schema_version 0", &|v| {
        v["schema_version"] = json!(0)
    });
    push("examples/request.json", "bad traceparent", &|v| {
        v["traceparent"] = json!("00-xyz")
    });
    push("examples/request.json", "bad timestamp", &|v| {
        v["timestamp"] = json!("yesterday")
    });
    push("examples/request.json", "sender null", &|v| {
        v["sender_id"] = Value::Null
    });
    push("examples/announce.json", "bad action", &|v| {
        v["payload"]["action"] = json!("wave")
    });
    push("examples/announce.json", "capability number", &|v| {
        v["payload"]["identity"]["capabilities"][1] = json!(7)
    });
    push("examples/announce.json", "bad public key", &|v| {
        v["payload"]["identity"]["public_key"] = json!("%%%")
    });
    push("examples/announce.json", "bad signature", &|v| {
        v["signature"]["sig"] = json!("abc")
    });
    push("examples/announce.json", "signature string", &|v| {
        v["signature"] = json!("sig")
    });
    push("examples/announce.json", "identity missing", &|v| {
        v["payload"].as_object_mut().unwrap().remove("identity");
    });
    push("examples/memory.json", "lfs string", &|v| {
        v["payload"]["lfs_envelope"] = json!("x")
    });
    push("examples/go-memory.json", "lfs size string", &|v| {
        v["payload"]["lfs_envelope"]["size"] = json!("big")
    });
    push("examples/go-memory.json", "lfs bucket empty", &|v| {
        v["payload"]["lfs_envelope"]["bucket"] = json!("")
    });
    push("examples/go-memory.json", "expires_at bad", &|v| {
        v["payload"]["expires_at"] = json!("2026-13-01T00:00:00Z")
    });
    push("examples/roster.json", "category bad", &|v| {
        v["payload"]["core_topics"][0]["category"] = json!("misc")
    });
    push("examples/roster.json", "version string", &|v| {
        v["payload"]["version"] = json!("2")
    });
    push("examples/orchestrator.json", "visibility bad", &|v| {
        v["payload"]["zones"][0]["visibility"] = json!("secret")
    });
    push("examples/orchestrator.json", "node missing", &|v| {
        v["payload"].as_object_mut().unwrap().remove("node");
    });
    push("examples/audit.json", "audit array", &|v| {
        v["payload"] = json!([1])
    });
    push("examples/audit.json", "event_type missing", &|v| {
        v["payload"].as_object_mut().unwrap().remove("event_type");
    });
    push("examples/task_status.json", "status bad", &|v| {
        v["payload"]["status"] = json!("done")
    });
    push("examples/heartbeat.json", "action bad", &|v| {
        v["payload"]["action"] = json!("create")
    });
    push("examples/knowledge-vote.json", "vote maybe", &|v| {
        v["payload"]["vote"] = json!("maybe")
    });
    push("examples/knowledge-decision.json", "outcome won", &|v| {
        v["payload"]["outcome"] = json!("won")
    });
    push("examples/knowledge-decision.json", "yes negative", &|v| {
        v["payload"]["yes"] = json!(-1)
    });
    push("examples/knowledge-fact.json", "version 0", &|v| {
        v["payload"]["version"] = json!(0)
    });
    push("examples/knowledge-fact.json", "subject blank", &|v| {
        v["payload"]["subject"] = json!("  ")
    });
    push("examples/knowledge-proposal.json", "claw missing", &|v| {
        v.as_object_mut().unwrap().remove("clawId");
    });
    push("examples/knowledge-proposal.json", "zero time", &|v| {
        v["timestamp"] = json!("0001-01-01T00:00:00Z")
    });
    push("examples/knowledge-presence.json", "type unknown", &|v| {
        v["type"] = json!("rumour")
    });
    push("examples/lfs-pointer.json", "key missing", &|v| {
        v.as_object_mut().unwrap().remove("key");
    });
    push("examples/lfs-pointer.json", "version 0", &|v| {
        v["kfs_lfs"] = json!(0)
    });
    push("examples/lfs-pointer.json", "headers not strings", &|v| {
        v["original_headers"]["x"] = json!(1)
    });
    out
}

fn schema_file_for(value: &Value) -> &'static str {
    use kafclaw_envelope::schema;
    if value.get("kfs_lfs").is_some() {
        return schema::LFS_FILE;
    }
    let type_name = value["type"].as_str().unwrap_or("");
    if let Some(k) = kafclaw_envelope::KnowledgeType::parse(type_name) {
        return schema::knowledge_file(k);
    }
    if value.get("clawId").is_some() || value.get("schemaVersion").is_some() {
        return schema::KNOWLEDGE_FILE;
    }
    match kafclaw_envelope::MessageType::parse(type_name) {
        Some(k) => schema::group_file(k),
        None => schema::GROUP_FILE,
    }
}

#[test]
fn built_in_validator_and_jsonschema_agree_on_broken_messages() {
    for (example, what, value) in broken_variants() {
        let ours = validate(&value, &ValidateOptions::default());
        let file = schema_file_for(&value);
        let theirs = schema_errors(file, &value);
        assert!(
            !ours.is_empty(),
            "{example} ({what}): the built-in validator accepted it"
        );
        assert!(
            !theirs.is_empty(),
            "{example} ({what}): jsonschema accepted it against {file}"
        );
        assert_eq!(
            ours.len(),
            1,
            "{example} ({what}): expected exactly one violation, got {ours:?}"
        );
    }
}

#[test]
fn violations_name_the_field_and_the_reason() {
    let cases: Vec<(&str, &str)> = broken_variants()
        .iter()
        .map(|(_, what, value)| {
            let found = validate(value, &ValidateOptions::default());
            (*what, found[0].to_string())
        })
        .map(|(what, text)| (what, Box::leak(text.into_boxed_str()) as &str))
        .collect();
    let expect = [
        (
            "task_id number",
            "/payload/task_id: expected a string, got 42",
        ),
        ("missing payload", "/payload: required field is missing"),
        (
            "depth float",
            "/payload/delegation_depth: expected an integer, got 1.5",
        ),
        (
            "depth too big",
            "/payload/delegation_depth: 18446744073709551615 is out of range for int64",
        ),
        ("bad message_id", "/message_id: must be a UUID like"),
        (
            "schema_version 0",
            "/schema_version: must be at least 1, got 0",
        ),
        ("bad traceparent", "/traceparent: must be a W3C traceparent"),
        (
            "bad timestamp",
            "/timestamp: expected an RFC 3339 timestamp",
        ),
        ("sender null", "/sender_id: expected a string, got null"),
        (
            "bad action",
            "/payload/action: must be one of \"join\", \"leave\", \"heartbeat\", got \"wave\"",
        ),
        (
            "capability number",
            "/payload/identity/capabilities/1: expected a string, got 7",
        ),
        (
            "bad public key",
            "/payload/identity/public_key: must be standard base64",
        ),
        ("bad signature", "/signature/sig: must be standard base64"),
        (
            "signature string",
            "/signature: expected an object or null, got \"sig\"",
        ),
        (
            "identity missing",
            "/payload/identity: required field is missing",
        ),
        (
            "lfs string",
            "/payload/lfs_envelope: expected an object or null",
        ),
        (
            "lfs size string",
            "/payload/lfs_envelope/size: expected an integer",
        ),
        (
            "lfs bucket empty",
            "/payload/lfs_envelope/bucket: must not be empty",
        ),
        (
            "expires_at bad",
            "/payload/expires_at: expected an RFC 3339 timestamp",
        ),
        (
            "category bad",
            "/payload/core_topics/0/category: must be one of",
        ),
        (
            "version string",
            "/payload/version: expected an integer, got \"2\"",
        ),
        (
            "visibility bad",
            "/payload/zones/0/visibility: must be one of",
        ),
        ("node missing", "/payload/node: required field is missing"),
        ("audit array", "/payload: expected an object, got an array"),
        (
            "event_type missing",
            "/payload/event_type: required field is missing",
        ),
        ("status bad", "/payload/status: must be one of"),
        (
            "action bad",
            "/payload/action: must be one of \"ensure_topic\"",
        ),
        ("vote maybe", "/payload/vote: must be yes or no"),
        (
            "outcome won",
            "/payload/outcome: must be approved, rejected or expired",
        ),
        ("yes negative", "/payload/yes: must be at least 0, got -1"),
        ("version 0", "/payload/version: must be at least 1, got 0"),
        (
            "subject blank",
            "/payload/subject: must not be empty or only whitespace",
        ),
        ("claw missing", "/clawId: required field is missing"),
        ("zero time", "/timestamp: must not be the zero time"),
        ("type unknown", "/type: must be one of"),
        ("key missing", "/key: required field is missing"),
        ("version 0", "/kfs_lfs: must be at least 1, got 0"),
        (
            "headers not strings",
            "/original_headers/x: expected a string, got 1",
        ),
    ];
    assert_eq!(cases.len(), expect.len());
    for ((what, got), (want_what, want)) in cases.iter().zip(expect) {
        assert_eq!(*what, want_what);
        assert!(
            got.starts_with(want),
            "{what}: got {got:?}, want prefix {want:?}"
        );
    }
}
