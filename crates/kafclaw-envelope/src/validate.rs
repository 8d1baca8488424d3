//! Strict validation: which field of a record is wrong and why, checked against the generated schemas.
//!
//! The structural rules come from the JSON Schemas this crate generates (one
//! source of truth with the Rust types); a small evaluator walks the subset of
//! JSON Schema those schemas use. Strict mode adds rules for our extensions.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, shorten};
use crate::jsonutil::{describe, pointer_push};
use crate::patterns::Pattern;
use crate::schema;
use crate::{
    KNOWLEDGE_SCHEMA_VERSION, KnowledgeType, MessageType, SCHEMA_VERSION, Timestamp, TopicKind,
};

/// How to validate.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOptions<'a> {
    /// The topic the record was (or will be) written to: checks that its type is
    /// allowed there and decides the envelope family as the Go router does.
    pub topic: Option<&'a str>,
    /// Also require our extensions (message id, schema version, ...) and reject
    /// unknown types. Without it, any message a Go agent writes is valid.
    pub strict: bool,
}

/// One problem found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending field (`/payload/identity/agent_id`); empty for the whole record.
    pub path: String,
    /// What is wrong, e.g. `expected a string, got 42`.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Validates one record value. An empty result means valid.
///
/// Decides what the record is like [`crate::decode_record`] (LFS pointer, knowledge
/// or group envelope), checks it against the matching generated schema, then,
/// with `topic`, that its type is allowed on that topic, and with `strict`, our
/// extension rules. Never panics, whatever the input.
pub fn validate(value: &Value, opts: &ValidateOptions<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let topic = match opts.topic.map(TopicKind::parse) {
        None => None,
        Some(Ok(kind)) => Some(kind),
        Some(Err(err)) => {
            out.push(violation("", err.to_string()));
            return out;
        }
    };
    let Value::Object(map) = value else {
        out.push(violation(
            "",
            format!(
                "expected a JSON object (an envelope), got {}",
                describe(value)
            ),
        ));
        return out;
    };
    let reg = registry();
    if map.contains_key("kfs_lfs") {
        reg.check(schema::LFS_FILE, value, &mut out);
        return out;
    }
    let type_name = map.get("type").and_then(Value::as_str);
    let knowledge = match &topic {
        Some(kind) => kind.is_knowledge(),
        None => crate::knowledge::looks_like_knowledge(map),
    };
    if knowledge {
        let known = type_name.and_then(KnowledgeType::parse);
        let file = known.map_or(schema::KNOWLEDGE_FILE, schema::knowledge_file);
        reg.check(file, value, &mut out);
        check_topic(topic.as_ref(), type_name, &mut out);
        if opts.strict {
            strict_knowledge(map, &mut out);
        }
    } else {
        let known = type_name.and_then(MessageType::parse);
        let file = known.map_or(schema::GROUP_FILE, schema::group_file);
        reg.check(file, value, &mut out);
        check_topic(topic.as_ref(), type_name, &mut out);
        if opts.strict {
            strict_group(map, type_name, known, &mut out);
        }
    }
    out
}

/// Parses `record` as JSON and validates it; a parse failure is one violation
/// giving the position.
pub fn validate_record(record: &[u8], opts: &ValidateOptions<'_>) -> Vec<Violation> {
    match serde_json::from_slice::<Value>(record) {
        Ok(value) => validate(&value, opts),
        Err(err) => vec![violation("", Error::not_json(&err).to_string())],
    }
}

fn violation(path: &str, reason: impl Into<String>) -> Violation {
    Violation {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn check_topic(topic: Option<&TopicKind>, type_name: Option<&str>, out: &mut Vec<Violation>) {
    let (Some(topic), Some(type_name)) = (topic, type_name) else {
        return;
    };
    let allowed = topic.allowed_type_names();
    if !allowed.contains(&type_name) {
        out.push(violation(
            "/type",
            format!(
                "type \"{}\" is not allowed on topic {} (allowed: {})",
                shorten(type_name, 40),
                topic.name(),
                allowed.join(", ")
            ),
        ));
    }
}

fn strict_group(
    map: &serde_json::Map<String, Value>,
    type_name: Option<&str>,
    known: Option<MessageType>,
    out: &mut Vec<Violation>,
) {
    if let (Some(t), None) = (type_name, known) {
        out.push(violation(
            "/type",
            format!(
                "unknown message type \"{}\" (strict mode accepts only: {})",
                shorten(t, 40),
                MessageType::NAMES.join(", ")
            ),
        ));
    }
    match map.get("message_id") {
        None | Some(Value::Null) => out.push(violation(
            "/message_id",
            "required in strict mode: a UUIDv7 that identifies this message",
        )),
        Some(Value::String(id)) => {
            if let Ok(uuid) = uuid::Uuid::parse_str(id)
                && crate::patterns::is_uuid_text(id)
                && uuid.get_version_num() != 7
            {
                out.push(violation(
                    "/message_id",
                    format!(
                        "must be a version 7 UUID in strict mode, got version {}",
                        uuid.get_version_num()
                    ),
                ));
            }
        }
        Some(_) => {} // the schema already reported the type
    }
    match map.get("schema_version") {
        None | Some(Value::Null) => out.push(violation(
            "/schema_version",
            format!("required in strict mode (current version is {SCHEMA_VERSION})"),
        )),
        Some(Value::Number(n)) => {
            if n.as_u64().is_some_and(|v| v > u64::from(SCHEMA_VERSION)) {
                out.push(violation(
                    "/schema_version",
                    format!(
                        "version {n} is newer than this validator understands ({SCHEMA_VERSION})"
                    ),
                ));
            }
        }
        Some(_) => {}
    }
    if let Some(Value::String(tp)) = map.get("traceparent")
        && Pattern::TraceParent.check(tp)
    {
        let parts: Vec<&str> = tp.split('-').collect();
        if parts[0] == "ff" {
            out.push(violation("/traceparent", "version ff is not allowed"));
        }
        if parts[1].bytes().all(|b| b == b'0') {
            out.push(violation("/traceparent", "trace id must not be all zeros"));
        }
        if parts[2].bytes().all(|b| b == b'0') {
            out.push(violation("/traceparent", "parent id must not be all zeros"));
        }
    }
    if let Some(Value::String(ts)) = map.get("timestamp")
        && Timestamp::parse(ts).is_ok_and(|t| t.is_zero())
    {
        out.push(violation(
            "/timestamp",
            "must not be the zero time in strict mode",
        ));
    }
    match map.get("sender_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) => {
            out.push(violation("/sender_id", "must not be empty in strict mode"))
        }
        _ => {}
    }
}

fn strict_knowledge(map: &serde_json::Map<String, Value>, out: &mut Vec<Violation>) {
    if let Some(Value::String(v)) = map.get("schemaVersion")
        && v != KNOWLEDGE_SCHEMA_VERSION
    {
        out.push(violation(
            "/schemaVersion",
            format!(
                "must be \"{KNOWLEDGE_SCHEMA_VERSION}\" in strict mode, got \"{}\"",
                shorten(v, 40)
            ),
        ));
    }
    if let Some(Value::String(ts)) = map.get("timestamp")
        && Timestamp::parse(ts).is_ok_and(|t| t.is_zero())
        && Pattern::NotZeroTime.check(ts)
    {
        out.push(violation("/timestamp", "must not be the zero time"));
    }
}

/// Finds the field that made a typed payload decode fail.
pub(crate) fn locate_payload_error(kind: MessageType, payload: &Value) -> Option<Error> {
    registry()
        .first_decode_error(
            schema::group_file(kind),
            &["properties", "payload"],
            payload,
            "/payload",
        )
        .map(|v| Error::field(v.path, v.reason))
}

/// Finds the field that made a knowledge payload decode fail.
pub(crate) fn locate_knowledge_payload_error(
    kind: KnowledgeType,
    payload: &Value,
) -> Option<Error> {
    registry()
        .first_decode_error(
            schema::knowledge_file(kind),
            &["properties", "payload"],
            payload,
            "/payload",
        )
        .map(|v| Error::field(v.path, v.reason))
}

/// Finds the field that made a signature decode fail.
pub(crate) fn locate_signature_error(signature: &Value) -> Option<Error> {
    registry()
        .first_decode_error(
            schema::GROUP_FILE,
            &["properties", "signature"],
            signature,
            "/signature",
        )
        .map(|v| Error::field(v.path, v.reason))
}

/// Finds the field that made an LFS pointer decode fail.
pub(crate) fn locate_lfs_error(pointer: &Value) -> Option<Error> {
    registry()
        .first_decode_error(schema::LFS_FILE, &[], pointer, "")
        .map(|v| Error::InvalidLfsPointer {
            path: v.path,
            reason: v.reason,
        })
}

struct Registry {
    files: HashMap<String, Value>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry {
        files: schema::all().into_iter().collect(),
    })
}

impl Registry {
    fn check(&self, file: &str, value: &Value, out: &mut Vec<Violation>) {
        let Some(root) = self.files.get(file) else {
            out.push(violation("", format!("internal error: no schema {file}")));
            return;
        };
        let mut eval = Eval::new(root);
        eval.eval(root, value, "", 0);
        out.extend(eval.found.into_iter().map(|(_, v)| v));
    }

    fn first_decode_error(
        &self,
        file: &str,
        at: &[&str],
        value: &Value,
        path: &str,
    ) -> Option<Violation> {
        let root = self.files.get(file)?;
        let schema = at.iter().try_fold(root, |node, key| node.get(*key))?;
        let mut eval = Eval::new(root);
        eval.eval(schema, value, path, 0);
        eval.found
            .into_iter()
            .find(|(kind, _)| matches!(kind, Kind::Type | Kind::Format))
            .map(|(_, v)| v)
    }
}

/// What sort of rule a violation breaks; type and format errors are the ones
/// that also make decoding fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Type,
    Format,
    Required,
    Value,
}

/// Schemas are ours and shallow; this only guards against a mistake in them.
const MAX_SCHEMA_DEPTH: usize = 48;

struct Eval<'s> {
    root: &'s Value,
    found: Vec<(Kind, Violation)>,
}

impl<'s> Eval<'s> {
    fn new(root: &'s Value) -> Self {
        Eval {
            root,
            found: Vec::new(),
        }
    }

    fn push(&mut self, kind: Kind, path: &str, reason: String) {
        self.found.push((kind, violation(path, reason)));
    }

    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// Follows `$ref`s to the schema's declared `type` list, if any.
    fn declared_types(&self, mut schema: &'s Value) -> Option<Vec<&'s str>> {
        for _ in 0..8 {
            if let Some(types) = schema.get("type") {
                return Some(match types {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                });
            }
            schema = self.resolve(schema.get("$ref")?.as_str()?)?;
        }
        None
    }

    fn eval(&mut self, schema: &'s Value, value: &Value, path: &str, depth: usize) {
        if depth > MAX_SCHEMA_DEPTH {
            self.push(Kind::Value, path, "schema nesting too deep".to_owned());
            return;
        }
        let obj = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                self.push(Kind::Value, path, "no value is allowed here".to_owned());
                return;
            }
            Value::Object(obj) => obj,
            _ => return,
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) => self.eval(target, value, path, depth + 1),
                None => {
                    self.push(
                        Kind::Value,
                        path,
                        format!("internal error: unresolved schema reference {reference}"),
                    );
                    return;
                }
            }
        }
        if let Some(types) = obj.get("type") {
            let types: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.iter().any(|t| type_matches(t, value)) {
                self.push(
                    Kind::Type,
                    path,
                    format!("expected {}, got {}", type_phrase(&types), describe(value)),
                );
                return;
            }
        }
        if let Some(Value::Array(options)) = obj.get("enum")
            && !options.contains(value)
        {
            let listed: Vec<String> = options.iter().map(describe).collect();
            self.push(
                Kind::Value,
                path,
                format!(
                    "must be one of {}, got {}",
                    listed.join(", "),
                    describe(value)
                ),
            );
        }
        if let Some(expected) = obj.get("const")
            && expected != value
        {
            self.push(
                Kind::Value,
                path,
                format!("must be {}, got {}", describe(expected), describe(value)),
            );
        }
        match value {
            Value::String(text) => self.eval_string(obj, text, path),
            Value::Number(n) => self.eval_number(obj, n, path),
            Value::Object(members) => {
                if let Some(Value::Array(required)) = obj.get("required") {
                    for name in required.iter().filter_map(Value::as_str) {
                        if !members.contains_key(name) {
                            self.push(
                                Kind::Required,
                                &pointer_push(path, name),
                                "required field is missing".to_owned(),
                            );
                        }
                    }
                }
                let properties = obj.get("properties").and_then(Value::as_object);
                for (name, member) in members {
                    let child = pointer_push(path, name);
                    match properties.and_then(|p| p.get(name)) {
                        Some(sub) => self.eval(sub, member, &child, depth + 1),
                        None => {
                            if let Some(extra) = obj.get("additionalProperties") {
                                self.eval(extra, member, &child, depth + 1);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.eval(item_schema, item, &format!("{path}/{i}"), depth + 1);
                    }
                }
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
                    && (items.len() as u64) < min
                {
                    self.push(
                        Kind::Value,
                        path,
                        format!("must have at least {min} items, got {}", items.len()),
                    );
                }
            }
            _ => {}
        }
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            for branch in branches {
                self.eval(branch, value, path, depth + 1);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(key) {
                self.eval_any_of(branches, value, path, depth);
            }
        }
        if let Some(condition) = obj.get("if") {
            let mut probe = Eval::new(self.root);
            probe.eval(condition, value, path, depth + 1);
            let next = if probe.found.is_empty() {
                obj.get("then")
            } else {
                obj.get("else")
            };
            if let Some(next) = next {
                self.eval(next, value, path, depth + 1);
            }
        }
    }

    fn eval_any_of(&mut self, branches: &'s [Value], value: &Value, path: &str, depth: usize) {
        let mut attempts = Vec::new();
        for branch in branches {
            let mut probe = Eval::new(self.root);
            probe.eval(branch, value, path, depth + 1);
            if probe.found.is_empty() {
                return;
            }
            attempts.push((branch, probe.found));
        }
        // Report the branch meant for this kind of value, if there is one.
        for (branch, found) in &mut attempts {
            if self
                .declared_types(branch)
                .is_none_or(|types| types.iter().any(|t| type_matches(t, value)))
            {
                self.found.append(found);
                return;
            }
        }
        let mut types: Vec<&str> = Vec::new();
        for (branch, _) in &attempts {
            for t in self.declared_types(branch).unwrap_or_default() {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        self.push(
            Kind::Type,
            path,
            format!("expected {}, got {}", type_phrase(&types), describe(value)),
        );
    }

    fn eval_string(&mut self, obj: &serde_json::Map<String, Value>, text: &str, path: &str) {
        if let Some(regex) = obj.get("pattern").and_then(Value::as_str) {
            match Pattern::from_regex(regex) {
                Some(pattern) if pattern.check(text) => {}
                Some(pattern) => self.push(
                    Kind::Value,
                    path,
                    format!("{}, got \"{}\"", pattern.explain(), shorten(text, 40)),
                ),
                None => self.push(
                    Kind::Value,
                    path,
                    format!("internal error: unknown pattern {regex}"),
                ),
            }
        }
        let len = text.chars().count() as u64;
        if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            let reason = if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters long")
            };
            self.push(Kind::Value, path, reason);
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            self.push(
                Kind::Value,
                path,
                format!("must be at most {max} characters long, got {len}"),
            );
        }
        if obj.get("format").and_then(Value::as_str) == Some("date-time")
            && let Err(Error::InvalidTimestamp { reason, .. }) = Timestamp::parse(text)
        {
            self.push(
                    Kind::Format,
                    path,
                    format!(
                        "expected an RFC 3339 timestamp like 2026-11-21T10:15:30.123456789+01:00, got \"{}\" ({reason})",
                        shorten(text, 40)
                    ),
                );
        }
    }

    fn eval_number(
        &mut self,
        obj: &serde_json::Map<String, Value>,
        n: &serde_json::Number,
        path: &str,
    ) {
        if let Some(format) = obj.get("format").and_then(Value::as_str)
            && let Some((lo, hi)) = integer_range(format)
        {
            let fits = match as_i128(n) {
                Some(v) => v >= lo && v <= hi,
                None => true, // a float; the type check decides
            };
            if !fits {
                self.push(
                    Kind::Type,
                    path,
                    format!("{n} is out of range for {format}"),
                );
                return;
            }
        }
        let checks: [BoundCheck; 4] = [
            ("minimum", |o| o != Ordering::Less, "at least"),
            ("maximum", |o| o != Ordering::Greater, "at most"),
            (
                "exclusiveMinimum",
                |o| o == Ordering::Greater,
                "greater than",
            ),
            ("exclusiveMaximum", |o| o == Ordering::Less, "less than"),
        ];
        for (key, ok, words) in checks {
            let Some(Value::Number(bound)) = obj.get(key) else {
                continue;
            };
            if compare(n, bound).is_some_and(|o| !ok(o)) {
                self.push(
                    Kind::Value,
                    path,
                    format!("must be {words} {bound}, got {n}"),
                );
            }
        }
    }
}

/// A numeric bound keyword, the orderings it accepts, and how to say it.
type BoundCheck = (&'static str, fn(Ordering) -> bool, &'static str);

fn as_i128(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Compares two JSON numbers exactly when both are integers.
fn compare(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    match (as_i128(a), as_i128(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn integer_range(format: &str) -> Option<(i128, i128)> {
    Some(match format {
        "int8" => (i128::from(i8::MIN), i128::from(i8::MAX)),
        "int16" => (i128::from(i16::MIN), i128::from(i16::MAX)),
        "int32" => (i128::from(i32::MIN), i128::from(i32::MAX)),
        "int64" => (i128::from(i64::MIN), i128::from(i64::MAX)),
        "uint8" => (0, i128::from(u8::MAX)),
        "uint16" => (0, i128::from(u16::MAX)),
        "uint32" => (0, i128::from(u32::MAX)),
        "uint64" => (0, i128::from(u64::MAX)),
        _ => return None,
    })
}

/// JSON Schema types, except that `integer` means what Go's decoder accepts:
/// a number written without fraction or exponent.
fn type_matches(type_name: &str, value: &Value) -> bool {
    match type_name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => false,
    }
}

fn type_phrase(types: &[&str]) -> String {
    let words: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "null" => "null",
            "boolean" => "a boolean",
            "string" => "a string",
            "object" => "an object",
            "array" => "an array",
            "number" => "a number",
            "integer" => "an integer",
            _ => "a value",
        })
        .collect();
    match words.as_slice() {
        [] => "a value".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reasons(value: &Value, opts: &ValidateOptions<'_>) -> Vec<String> {
        validate(value, opts)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn wrong_type_names_the_field() {
        let msg = json!({
            "type": "request", "correlation_id": "t1", "sender_id": "a",
            "timestamp": "2026-11-21T10:00:00Z",
            "payload": {"task_id": 42, "description": "", "content": "", "requester_id": "a"}
        });
        assert_eq!(
            reasons(&msg, &ValidateOptions::default()),
            ["/payload/task_id: expected a string, got 42"]
        );
    }

    #[test]
    fn integers_must_be_written_as_integers() {
        let msg = json!({
            "type": "trace", "correlation_id": "t", "sender_id": "a",
            "timestamp": "2026-11-21T10:00:00Z",
            "payload": {"trace_id": "t", "span_id": "", "parent_span_id": "", "span_type": "TASK",
                        "title": "", "content": "", "started_at": "", "ended_at": "", "duration_ms": 1.5}
        });
        assert_eq!(
            reasons(&msg, &ValidateOptions::default()),
            ["/payload/duration_ms: expected an integer, got 1.5"]
        );
    }

    #[test]
    fn nullable_struct_reports_the_inner_field() {
        let msg = json!({
            "type": "memory", "correlation_id": "m", "sender_id": "a",
            "timestamp": "2026-11-21T10:00:00Z",
            "payload": {"item_id": "m", "author_id": "a", "title": "t", "content_type": "text/plain",
                        "tags": null, "created_at": "2026-11-21T10:00:00Z",
                        "lfs_envelope": {"kfs_lfs": 1, "bucket": "b", "key": "k", "size": "big", "sha256": "s"}}
        });
        assert_eq!(
            reasons(&msg, &ValidateOptions::default()),
            ["/payload/lfs_envelope/size: expected an integer, got \"big\""]
        );
        let msg2 = json!({
            "type": "memory", "correlation_id": "m", "sender_id": "a",
            "timestamp": "2026-11-21T10:00:00Z",
            "payload": {"item_id": "m", "author_id": "a", "title": "t", "content_type": "text/plain",
                        "tags": null, "created_at": "2026-11-21T10:00:00Z", "lfs_envelope": "x"}
        });
        assert_eq!(
            reasons(&msg2, &ValidateOptions::default()),
            ["/payload/lfs_envelope: expected an object or null, got \"x\""]
        );
    }

    #[test]
    fn topic_and_strict_rules() {
        let msg = json!({
            "type": "announce", "correlation_id": "hb-1", "sender_id": "a",
            "timestamp": "2026-11-21T10:00:00Z",
            "payload": {"action": "heartbeat", "identity": {"agent_id": "a", "agent_name": "A",
                "soul_summary": "", "capabilities": null, "channels": ["cli"], "model": "m",
                "joined_at": "", "status": "active"}}
        });
        assert!(validate(&msg, &ValidateOptions::default()).is_empty());
        let on_requests = ValidateOptions {
            topic: Some("group.g.requests"),
            strict: false,
        };
        assert_eq!(
            reasons(&msg, &on_requests),
            [
                "/type: type \"announce\" is not allowed on topic group.g.requests (allowed: request, heartbeat)"
            ]
        );
        let strict = ValidateOptions {
            topic: None,
            strict: true,
        };
        assert_eq!(
            reasons(&msg, &strict),
            [
                "/message_id: required in strict mode: a UUIDv7 that identifies this message",
                "/schema_version: required in strict mode (current version is 1)"
            ]
        );
        let bad_topic = ValidateOptions {
            topic: Some("orders"),
            strict: false,
        };
        assert_eq!(validate(&msg, &bad_topic).len(), 1);
    }

    #[test]
    fn not_json_gives_the_position() {
        let found = validate_record(b"{\"type\": ", &ValidateOptions::default());
        assert_eq!(found.len(), 1);
        assert!(found[0].reason.contains("line 1, column 9"), "{}", found[0]);
    }
}
