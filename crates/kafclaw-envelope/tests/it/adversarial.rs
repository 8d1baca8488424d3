//! Hostile and odd input: decoding and validation never panic and say what is wrong.

use kafclaw_envelope::{
    Decoded, Error, GroupEnvelope, Message, Timestamp, TopicKind, ValidateOptions, decode_record,
    decode_record_on, validate, validate_record,
};
use serde_json::json;

use crate::support::read_json;

fn decode(topic: Option<&str>, bytes: &[u8]) -> kafclaw_envelope::Result<Decoded> {
    match topic {
        Some(t) => decode_record_on(t, bytes),
        None => decode_record(None, bytes),
    }
}

fn group(decoded: Decoded) -> (GroupEnvelope, Option<String>) {
    match decoded {
        Decoded::Group {
            envelope,
            declared_type,
        } => (*envelope, declared_type),
        other => panic!("expected a group envelope, got {other:?}"),
    }
}

#[test]
fn every_truncation_of_every_example_is_an_error_not_a_panic() {
    let index = crate::support::index();
    for entry in index["types"].as_object().unwrap().values() {
        for example in entry["examples"].as_array().unwrap() {
            let value = read_json(example.as_str().unwrap());
            let bytes = serde_json::to_vec(&value).unwrap();
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                match decode(None, prefix) {
                    Err(Error::NotJson { .. }) => {}
                    other => panic!("{example} cut at {cut}: {other:?}"),
                }
                let found = validate_record(prefix, &ValidateOptions::default());
                assert_eq!(found.len(), 1, "{example} cut at {cut}");
            }
        }
    }
}

#[test]
fn not_json_reports_the_position() {
    let err = decode(None, b"{\"type\": \"request\",\n \"payload\": {]}").unwrap_err();
    match &err {
        Error::NotJson { line, column, .. } => {
            assert_eq!((*line, *column), (2, 14));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("record is not valid JSON at line 2, column 14")
    );
    assert!(matches!(decode(None, b""), Err(Error::NotJson { .. })));
    assert!(matches!(decode(None, b"   "), Err(Error::NotJson { .. })));
    assert!(matches!(
        decode(None, b"\xff\xfe{}"),
        Err(Error::NotJson { .. })
    ));
    assert!(matches!(
        decode(None, b"{\"a\":\"\xff\"}"),
        Err(Error::NotJson { .. })
    ));
    assert!(matches!(
        decode(None, b"hello world"),
        Err(Error::NotJson { .. })
    ));
    assert!(matches!(decode(None, b"1e999"), Err(Error::NotJson { .. })));
}

#[test]
fn deep_nesting_hits_the_recursion_limit() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let depth = 100_000;
        let text = format!("{}{}", open.repeat(depth), close.repeat(depth));
        let err = decode(None, text.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
        let found = validate_record(text.as_bytes(), &ValidateOptions::default());
        assert!(found[0].reason.contains("recursion limit"), "{found:?}");
        // Inside a payload as well.
        let inside = format!(
            "{{\"type\":\"audit\",\"payload\":{}{}}}",
            open.repeat(depth),
            close.repeat(depth)
        );
        assert!(decode(Some("group.g.observe.audit"), inside.as_bytes()).is_err());
    }
    // 120 levels is fine and kept as it came (an unknown type's payload).
    let nested = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let text = format!(
        "{{\"type\":\"future\",\"correlation_id\":\"\",\"sender_id\":\"a\",\"timestamp\":\"2026-11-21T10:00:00Z\",\"payload\":{nested}}}"
    );
    let (envelope, _) = group(decode(None, text.as_bytes()).unwrap());
    assert!(matches!(envelope.message, Message::Unknown { .. }));
    assert!(validate_record(text.as_bytes(), &ValidateOptions::default()).is_empty());
}

#[test]
fn ten_megabyte_strings_are_fine() {
    let big = "x".repeat(10 * 1024 * 1024);
    let value = json!({
        "type": "request", "correlation_id": "t", "sender_id": "a",
        "timestamp": "2026-11-21T10:00:00Z",
        "payload": {"task_id": "t", "description": "d", "content": big, "requester_id": "a"}
    });
    let bytes = serde_json::to_vec(&value).unwrap();
    let (envelope, _) = group(decode(Some("group.g.requests"), &bytes).unwrap());
    let Message::Request(request) = envelope.message else {
        panic!("not a request")
    };
    assert_eq!(request.content.len(), 10 * 1024 * 1024);
    assert!(validate_record(&bytes, &ValidateOptions::default()).is_empty());
    let mut bad = value.clone();
    bad["payload"]["task_id"] = json!(big);
    bad["payload"]["delegation_depth"] = json!(big);
    let found = validate(&bad, &ValidateOptions::default());
    assert_eq!(found.len(), 1);
    assert!(
        found[0].reason.len() < 200,
        "long values are shortened in messages"
    );
}

#[test]
fn wrong_types_name_the_field() {
    let cases = [
        (json!({"type": 5}), "/type: expected a string, got 5"),
        (
            json!({"type": "request", "timestamp": "noon"}),
            "/timestamp: expected an RFC 3339 timestamp, got \"noon\"",
        ),
        (
            json!({"type": "request", "payload": "do it"}),
            "/payload: expected an object, got \"do it\"",
        ),
        (
            json!({"type": "request", "payload": {"task_id": 42}}),
            "/payload/task_id: expected a string, got 42",
        ),
        (
            json!({"type": "announce", "payload": {"identity": {"capabilities": ["a", 7]}}}),
            "/payload/identity/capabilities/1: expected a string, got 7",
        ),
        (
            json!({"type": "memory", "payload": {"created_at": "2026-02-30T00:00:00Z"}}),
            "/payload/created_at: expected an RFC 3339 timestamp",
        ),
        (
            json!({"type": "memory", "payload": {"lfs_envelope": {"size": "big"}}}),
            "/payload/lfs_envelope/size: expected an integer, got \"big\"",
        ),
        (
            json!({"type": "request", "payload": {"delegation_depth": 1.5}}),
            "/payload/delegation_depth: expected an integer, got 1.5",
        ),
        (
            json!({"type": "request", "schema_version": "1"}),
            "/schema_version: expected a non-negative integer, got \"1\"",
        ),
        (
            json!({"type": "request", "signature": {"sig": 1}}),
            "/signature/sig: expected a string, got 1",
        ),
        (
            json!({"type": "request", "message_id": 7}),
            "/message_id: expected a string, got 7",
        ),
        (
            json!({"type": "proposal", "payload": {"tags": "x"}}),
            "/payload/tags: expected an array or null, got \"x\"",
        ),
        (
            json!({"type": "vote", "timestamp": 1}),
            "/timestamp: expected a string, got 1",
        ),
    ];
    for (value, want) in cases {
        let bytes = serde_json::to_vec(&value).unwrap();
        let err = decode(None, &bytes).unwrap_err().to_string();
        assert!(err.starts_with(want), "{value}: got {err:?}, want {want:?}");
    }
    let err = decode(None, br#"{"kfs_lfs": 1, "bucket": "b"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid LFS pointer record: /key: required field is missing or empty"
    );
    let err = decode(None, br#"{"kfs_lfs": "one"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid LFS pointer record: /kfs_lfs: expected an integer, got \"one\""
    );
}

#[test]
fn missing_and_null_fields_take_go_zero_values() {
    let (envelope, _) = group(decode(None, br#"{"type":"announce"}"#).unwrap());
    assert_eq!(envelope.timestamp, Timestamp::zero());
    assert_eq!(envelope.correlation_id, "");
    let Message::Announce(payload) = envelope.message else {
        panic!("not an announce")
    };
    assert_eq!(payload.identity.agent_id, "");
    let text = br#"{"type":"request","correlation_id":null,"sender_id":null,"timestamp":null,
        "payload":{"task_id":null,"delegation_depth":null,"unknown":{"deep":[1,2]}},"extra":true}"#;
    let (envelope, _) = group(decode(None, text).unwrap());
    assert_eq!(envelope.timestamp.to_string(), "0001-01-01T00:00:00Z");
    let Message::Request(request) = envelope.message else {
        panic!("not a request")
    };
    assert_eq!(
        (request.task_id.as_str(), request.delegation_depth),
        ("", 0)
    );
    // Validation is stricter than decoding: it reports what Go would silently zero.
    let found = validate_record(text, &ValidateOptions::default());
    assert!(
        found
            .iter()
            .any(|v| v.to_string() == "/sender_id: expected a string, got null")
    );
    assert!(
        found
            .iter()
            .any(|v| v.to_string() == "/payload/task_id: expected a string, got null")
    );
}

#[test]
fn unknown_types_are_kept_raw() {
    let text = br#"{"type":"gossip","correlation_id":"c","sender_id":"s","timestamp":"2026-11-21T10:00:00Z","payload":{"x":[1,{"y":null}]}}"#;
    let (envelope, declared) = group(decode(None, text).unwrap());
    assert_eq!(declared, None);
    assert_eq!(
        envelope.message,
        Message::Unknown {
            r#type: "gossip".into(),
            payload: json!({"x": [1, {"y": null}]})
        }
    );
    let again: serde_json::Value = serde_json::from_slice(&envelope.to_json().unwrap()).unwrap();
    assert_eq!(
        again,
        serde_json::from_slice::<serde_json::Value>(text).unwrap()
    );
    assert!(validate_record(text, &ValidateOptions::default()).is_empty());
    let strict = validate_record(
        text,
        &ValidateOptions {
            topic: None,
            strict: true,
        },
    );
    assert!(
        strict
            .iter()
            .any(|v| v.path == "/type" && v.reason.starts_with("unknown message type"))
    );
    // Non-object JSON is not an envelope but not an error either.
    assert_eq!(decode(None, b"[1,2]").unwrap(), Decoded::Raw(json!([1, 2])));
    assert_eq!(
        decode(None, b"\"blob\"").unwrap(),
        Decoded::Raw(json!("blob"))
    );
}

#[test]
fn the_topic_decides_like_the_go_router() {
    // An ensure-topic heartbeat on requests stays a heartbeat, not an empty task.
    let hb =
        br#"{"type":"heartbeat","payload":{"action":"ensure_topic","topic":"group.g.requests"}}"#;
    let (envelope, declared) = group(decode(Some("group.g.requests"), hb).unwrap());
    assert!(matches!(envelope.message, Message::Heartbeat(_)));
    assert_eq!(declared, None);
    // A mismatched type: the topic wins and the declared type is reported.
    let odd = br#"{"type":"announce","payload":{"task_id":"t1","content":"c"}}"#;
    let (envelope, declared) = group(decode(Some("group.g.requests"), odd).unwrap());
    let Message::Request(request) = envelope.message else {
        panic!("not a request")
    };
    assert_eq!(request.task_id, "t1");
    assert_eq!(declared.as_deref(), Some("announce"));
    // A type-less record on a skill topic is a skill request.
    let (envelope, declared) = group(
        decode(
            Some("group.g.skill.web.requests"),
            br#"{"payload":{"task_id":"t2"}}"#,
        )
        .unwrap(),
    );
    assert!(matches!(envelope.message, Message::SkillRequest(_)));
    assert_eq!(declared.as_deref(), Some(""));
    // A knowledge topic always carries knowledge envelopes, whatever the type says.
    let topic = TopicKind::parse("group.g.knowledge.votes").unwrap();
    let decoded = decode_record(Some(&topic), br#"{"type":"request","clawId":"c"}"#).unwrap();
    assert!(matches!(decoded, Decoded::Knowledge(_)));
    // An LFS pointer whose kfs_lfs key is not in the first bytes is still one.
    let late = br#"{"bucket":"b","key":"k","size":1,"sha256":"s","content_type":"application/json","kfs_lfs":1}"#;
    assert!(!kafclaw_envelope::looks_like_lfs_pointer(late));
    assert!(matches!(
        decode(Some("group.g.requests"), late).unwrap(),
        Decoded::LfsPointer(_)
    ));
    // A topic that is not ours decodes by type.
    let (envelope, _) = group(decode(Some("orders"), hb).unwrap());
    assert!(matches!(envelope.message, Message::Heartbeat(_)));
}

#[test]
fn validation_never_panics_on_odd_values() {
    let odd = [
        json!(null),
        json!([]),
        json!(""),
        json!({}),
        json!({"type": null}),
        json!({"type": "roster", "payload": {"core_topics": [null, 1, "x", {"consumers": [[]]}]}}),
        json!({"type": "orchestrator", "payload": {"zones": {"a": 1}, "node": []}}),
        json!({"type": "fact", "payload": null}),
        json!({"kfs_lfs": null}),
        json!({"type": "request", "payload": {"delegation_depth": -9223372036854775808i64}}),
        json!({"type": "request", "payload": {"delegation_depth": 18446744073709551615u64}}),
        json!({"type": "request", "payload": {"delegation_depth": 1e300}}),
    ];
    for value in odd {
        for strict in [false, true] {
            for topic in [
                None,
                Some("group.g.requests"),
                Some("group.g.knowledge.facts"),
                Some("bad"),
            ] {
                let _ = validate(&value, &ValidateOptions { topic, strict });
            }
        }
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = decode(None, &bytes);
        let _ = decode(Some("group.g.control.roster"), &bytes);
    }
}
