//! Small JSON helpers: Go's null handling, value descriptions for messages, JSON pointers.

use serde_json::{Map, Value};

use crate::error::shorten;

/// Removes every object member whose value is `null`, at any depth, without recursion.
///
/// Go's decoder leaves a field at its zero value when it meets `null`; removing the
/// member and letting `#[serde(default)]` fill it in has the same effect.
pub(crate) fn strip_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, v| !v.is_null());
    let mut stack: Vec<&mut Value> = map.values_mut().collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(inner) => {
                inner.retain(|_, v| !v.is_null());
                stack.extend(inner.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// A short description of a JSON value for an error message: `42`, `"text"`,
/// `an object`, `an array`, `null`, `true`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => shorten(&n.to_string(), 40),
        Value::String(s) => format!("\"{}\"", shorten(s, 40)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Appends `key` to a JSON pointer, escaping `~` and `/`.
pub(crate) fn pointer_push(path: &str, key: &str) -> String {
    let escaped = key.replace('~', "~0").replace('/', "~1");
    format!("{path}/{escaped}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_are_removed_at_every_depth() {
        let mut value =
            json!({"a": null, "b": {"c": null, "d": [ {"e": null, "f": 1} ]}, "g": [null]});
        let Value::Object(map) = &mut value else {
            unreachable!()
        };
        strip_nulls(map);
        assert_eq!(value, json!({"b": {"d": [ {"f": 1} ]}, "g": [null]}));
    }

    #[test]
    fn descriptions_are_short() {
        assert_eq!(describe(&json!(42)), "42");
        assert_eq!(describe(&json!("x".repeat(100))).chars().count(), 43);
        assert_eq!(describe(&json!({})), "an object");
        assert_eq!(pointer_push("/a", "b/c~d"), "/a/b~1c~0d");
    }
}
