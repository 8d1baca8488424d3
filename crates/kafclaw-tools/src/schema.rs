//! Validation of tool arguments against the declared parameter schema.
//!
//! Tools declare a small, closed subset of JSON Schema; [`check_schema`] refuses a
//! schema that uses anything outside it (so no keyword is silently ignored), and
//! [`validate`] reports the first problem together with the argument it concerns.

use serde_json::{Map, Value};

const SUPPORTED: &[&str] = &[
    "$schema",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "description",
    "title",
    "default",
    "examples",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
];

const TYPES: &[&str] = &[
    "object", "string", "integer", "number", "boolean", "array", "null",
];

/// Check that `schema` only uses supported keywords and is well-formed. The top
/// level must be `{"type": "object", ...}`. Returns the offending location and problem.
pub(crate) fn check_schema(schema: &Value) -> Result<(), String> {
    let obj = schema
        .as_object()
        .ok_or_else(|| "parameters schema must be a JSON object".to_owned())?;
    if obj.get("type").and_then(Value::as_str) != Some("object") {
        return Err("parameters schema must have \"type\": \"object\"".to_owned());
    }
    check_node(schema, "parameters")
}

fn check_node(node: &Value, at: &str) -> Result<(), String> {
    let obj = node
        .as_object()
        .ok_or_else(|| format!("{at}: schema node must be an object"))?;
    for (key, value) in obj {
        if !SUPPORTED.contains(&key.as_str()) {
            return Err(format!("{at}: unsupported schema keyword `{key}`"));
        }
        match key.as_str() {
            "type" => check_type_decl(value).map_err(|p| format!("{at}.type: {p}"))?,
            "properties" => {
                let props = value
                    .as_object()
                    .ok_or_else(|| format!("{at}.properties must be an object"))?;
                for (name, sub) in props {
                    check_node(sub, &format!("{at}.properties.{name}"))?;
                }
            }
            "required" => {
                let ok = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return Err(format!("{at}.required must be an array of strings"));
                }
            }
            "additionalProperties" if !value.is_boolean() => {
                return Err(format!(
                    "{at}.additionalProperties must be true or false (schemas are not supported)"
                ));
            }
            "items" => check_node(value, &format!("{at}.items"))?,
            "enum" if !value.is_array() => {
                return Err(format!("{at}.enum must be an array"));
            }
            "minimum" | "maximum" if !value.is_number() => {
                return Err(format!("{at}.{key} must be a number"));
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" if !value.is_u64() => {
                return Err(format!("{at}.{key} must be a non-negative integer"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_type_decl(value: &Value) -> Result<(), String> {
    let names: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for n in names {
        match n.as_str() {
            Some(t) if TYPES.contains(&t) => {}
            _ => return Err(format!("unknown type {n}")),
        }
    }
    Ok(())
}

/// Validate `args` against `schema` (already accepted by [`check_schema`]).
/// On failure returns `(argument, problem)`.
pub(crate) fn validate(schema: &Value, args: &Value) -> Result<(), (String, String)> {
    validate_node(schema, args, "")
}

fn label(at: &str) -> String {
    if at.is_empty() {
        "(arguments)".to_owned()
    } else {
        at.to_owned()
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn matches_type(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => false,
    }
}

fn validate_node(schema: &Value, v: &Value, at: &str) -> Result<(), (String, String)> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    let fail = |problem: String| Err((label(at), problem));

    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        if !allowed.iter().any(|t| matches_type(t, v)) {
            return fail(format!(
                "expected {}, got {}",
                allowed.join(" or "),
                type_name(v)
            ));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        return fail(format!("must be one of {}, got {v}", list.join(", ")));
    }
    match v {
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                return fail(format!("must be at least {min} characters long"));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                return fail(format!("must be at most {max} characters long, got {len}"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && (x.is_nan() || x < min)
            {
                return fail(format!("must be >= {min}, got {n}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && (x.is_nan() || x > max)
            {
                return fail(format!("must be <= {max}, got {n}"));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                return fail(format!("must have at least {min} items"));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                return fail(format!("must have at most {max} items, got {len}"));
            }
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate_node(item_schema, item, &format!("{}[{i}]", label_raw(at)))?;
                }
            }
        }
        Value::Object(map) => validate_object(s, map, at)?,
        _ => {}
    }
    Ok(())
}

fn label_raw(at: &str) -> &str {
    if at.is_empty() { "(arguments)" } else { at }
}

fn validate_object(
    s: &Map<String, Value>,
    map: &Map<String, Value>,
    at: &str,
) -> Result<(), (String, String)> {
    let join = |name: &str| {
        if at.is_empty() {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = s.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                return Err((join(name), "missing required argument".to_owned()));
            }
        }
    }
    let additional = s
        .get("additionalProperties")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    for (name, value) in map {
        match props.and_then(|p| p.get(name)) {
            Some(sub) => validate_node(sub, value, &join(name))?,
            None if !additional => {
                let known: Vec<&str> = props
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                return Err((
                    join(name),
                    format!(
                        "unknown argument (accepted: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "minLength": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
            },
            "required": ["path"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_valid_arguments() {
        assert!(check_schema(&schema()).is_ok());
        assert!(validate(&schema(), &json!({"path": "x", "limit": 3, "tags": ["a"]})).is_ok());
        assert!(validate(&schema(), &json!({"path": "x", "limit": 3.0})).is_ok());
    }

    #[test]
    fn errors_name_the_argument() {
        let s = schema();
        let e = validate(&s, &json!({})).unwrap_err();
        assert_eq!(e.0, "path");
        assert!(e.1.contains("missing"));
        let e = validate(&s, &json!({"path": 3})).unwrap_err();
        assert_eq!(e, ("path".into(), "expected string, got integer".into()));
        let e = validate(&s, &json!({"path": "x", "limit": 11})).unwrap_err();
        assert_eq!(e.0, "limit");
        let e = validate(&s, &json!({"path": "x", "limit": 1.5})).unwrap_err();
        assert_eq!(e.0, "limit");
        let e = validate(&s, &json!({"path": "x", "mode": "c"})).unwrap_err();
        assert_eq!(e.0, "mode");
        let e = validate(&s, &json!({"path": "x", "pth": 1})).unwrap_err();
        assert_eq!(e.0, "pth");
        assert!(e.1.contains("unknown argument"), "{}", e.1);
        let e = validate(&s, &json!({"path": "x", "tags": ["a", 1]})).unwrap_err();
        assert_eq!(e.0, "tags[1]");
        let e = validate(&s, &json!({"path": ""})).unwrap_err();
        assert_eq!(e.0, "path");
        let e = validate(&s, &json!([1])).unwrap_err();
        assert_eq!(e.0, "(arguments)");
    }

    #[test]
    fn unsupported_keywords_are_rejected() {
        let e = check_schema(
            &json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}),
        )
        .unwrap_err();
        assert!(e.contains("pattern"), "{e}");
        assert!(check_schema(&json!({"type": "string"})).is_err());
        assert!(check_schema(&json!({"type": "object", "additionalProperties": {}})).is_err());
        assert!(
            check_schema(&json!({"type": "object", "properties": {"a": {"type": "text"}}}))
                .is_err()
        );
    }
}
