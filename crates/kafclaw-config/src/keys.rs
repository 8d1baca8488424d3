//! Dotted key paths over JSON trees: lookup, insert, remove, aliases of legacy names,
//! secret masking, and reading a text value according to the key's type.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::model::Config;

/// The default configuration as a JSON tree; it tells which type each key has.
pub(crate) static DEFAULTS: LazyLock<Value> =
    LazyLock::new(|| serde_json::to_value(Config::default()).unwrap_or(Value::Null));

/// Legacy keys that are read at a new place: (legacy, canonical).
pub(crate) const LEGACY_MOVES: &[(&str, &str)] = &[
    ("agents.defaults.workspace", "paths.workspace"),
    ("agents.defaults.workRepoPath", "paths.workRepoPath"),
    ("agents.defaults.systemRepoPath", "paths.systemRepoPath"),
    ("agents.defaults.model", "model.name"),
    ("agents.defaults.maxTokens", "model.maxTokens"),
    ("agents.defaults.temperature", "model.temperature"),
    (
        "agents.defaults.maxToolIterations",
        "model.maxToolIterations",
    ),
    ("agents.defaults.subagents", "tools.subagents"),
];

/// Other accepted spellings of keys (serde aliases), for `get`/`set`/`unset`: (alias, canonical).
pub(crate) const KEY_ALIASES: &[(&str, &str)] = &[
    ("providers.claude", "providers.anthropic"),
    ("providers.scalytics-copilot", "providers.scalyticsCopilot"),
    ("policy.maxAutoTier", "policy.owner.maxTier"),
    ("policy.externalMaxTier", "policy.external.maxTier"),
];

/// Replaces the prefix `from` of `key` with `to` when `key` is `from` or below it.
pub(crate) fn replace_prefix(key: &str, from: &str, to: &str) -> Option<String> {
    if key == from {
        Some(to.to_owned())
    } else {
        key.strip_prefix(from)
            .and_then(|rest| rest.strip_prefix('.'))
            .map(|rest| format!("{to}.{rest}"))
    }
}

/// True when `key` is `prefix` or lies below it.
pub(crate) fn is_under(key: &str, prefix: &str) -> bool {
    replace_prefix(key, prefix, "").is_some()
}

/// The canonical spelling of a dotted key (legacy and alias spellings mapped).
pub fn canonical_key(key: &str) -> String {
    LEGACY_MOVES
        .iter()
        .chain(KEY_ALIASES)
        .find_map(|(from, to)| replace_prefix(key, from, to))
        .unwrap_or_else(|| key.to_owned())
}

/// The value at a dotted key of a configuration tree (e.g. from [`crate::Config::to_json`]);
/// legacy and alias spellings are accepted, list elements are addressed by index.
pub fn lookup_key<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    lookup(tree, &canonical_key(key))
}

/// Splits a dotted key; `None` when a segment is empty.
pub(crate) fn split(key: &str) -> Option<Vec<&str>> {
    let segs: Vec<&str> = key.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        None
    } else {
        Some(segs)
    }
}

/// The value at a dotted key (list elements by index).
pub(crate) fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    let mut cur = root;
    for seg in split(key)? {
        cur = match cur {
            Value::Object(map) => map.get(seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The value at a dotted key of an object.
pub(crate) fn lookup_in<'a>(root: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let (first, rest) = match key.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (key, None),
    };
    let v = root.get(first)?;
    match rest {
        Some(rest) => lookup(v, rest),
        None => Some(v),
    }
}

/// Puts `value` at a dotted key, creating objects on the way.
pub(crate) fn insert(root: &mut Map<String, Value>, key: &str, value: Value) -> Result<(), String> {
    let segs = split(key).ok_or_else(|| "a key has no empty segments".to_owned())?;
    let (last, parents) = segs
        .split_last()
        .ok_or_else(|| "the key is empty".to_owned())?;
    let mut cur = root;
    let mut walked = Vec::new();
    for seg in parents {
        walked.push(*seg);
        let entry = cur
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        cur = match entry {
            Value::Object(map) => map,
            _ => {
                return Err(format!(
                    "{} holds a value that is not an object; set or unset it as a whole",
                    walked.join(".")
                ));
            }
        };
    }
    cur.insert((*last).to_owned(), value);
    Ok(())
}

/// Removes the value at a dotted key and then any objects left empty above it.
pub(crate) fn remove(root: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let segs = split(key)?;
    remove_in(root, &segs)
}

fn remove_in(map: &mut Map<String, Value>, segs: &[&str]) -> Option<Value> {
    let (first, rest) = segs.split_first()?;
    if rest.is_empty() {
        return map.shift_remove(*first);
    }
    let removed = match map.get_mut(*first)? {
        Value::Object(child) => {
            let removed = remove_in(child, rest)?;
            if child.is_empty() {
                map.shift_remove(*first);
            }
            removed
        }
        _ => return None,
    };
    Some(removed)
}

/// True for keys whose values are credentials (`apiKey`, `authToken`, `kafkaSaslPassword`, ...).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    ["apikey", "password", "token", "secret", "encryptkey"]
        .iter()
        .any(|s| last.ends_with(s))
}

/// The placeholder shown instead of a credential.
pub const MASK: &str = "********";

/// Replaces every non-empty credential in the tree by [`MASK`].
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_secret_key(k) && !s.is_empty() => {
                        *v = Value::String(MASK.to_owned());
                    }
                    _ => mask_secrets(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

/// Reads a text value (from the environment or the command line) as the type of the
/// key, which `like` shows (the key's default value; `None` for keys without one).
///
/// A value that cannot be read as that type is passed on as a string, so the typed
/// check reports it with the key's expected type.
pub(crate) fn interpret(raw: &str, like: Option<&Value>) -> Result<Value, String> {
    let trimmed = raw.trim();
    match like {
        Some(Value::String(_)) => Ok(Value::String(raw.to_owned())),
        Some(Value::Bool(_)) => Ok(match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => Value::String(raw.to_owned()),
        }),
        Some(Value::Number(_)) => Ok(match serde_json::from_str::<Value>(trimmed) {
            Ok(n @ Value::Number(_)) => n,
            _ => Value::String(raw.to_owned()),
        }),
        Some(Value::Array(_)) => {
            if trimmed.starts_with('[') {
                serde_json::from_str(trimmed).map_err(|e| format!("not a valid JSON list: {e}"))
            } else {
                Ok(Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ))
            }
        }
        Some(Value::Object(_)) => {
            serde_json::from_str(trimmed).map_err(|e| format!("not a valid JSON object: {e}"))
        }
        Some(Value::Null) | None => {
            Ok(serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(raw.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_keys() {
        assert_eq!(
            canonical_key("agents.defaults.maxToolIterations"),
            "model.maxToolIterations"
        );
        assert_eq!(
            canonical_key("agents.defaults.subagents.maxSpawnDepth"),
            "tools.subagents.maxSpawnDepth"
        );
        assert_eq!(
            canonical_key("providers.claude.apiKey"),
            "providers.anthropic.apiKey"
        );
        assert_eq!(canonical_key("gateway.port"), "gateway.port");
        assert_eq!(canonical_key("providers.claudeX"), "providers.claudeX");
    }

    #[test]
    fn insert_lookup_remove() {
        let mut doc = Map::new();
        insert(&mut doc, "group.kafkaBrokers", json!("b:9092")).unwrap();
        insert(&mut doc, "group.enabled", json!(true)).unwrap();
        let v = Value::Object(doc.clone());
        assert_eq!(lookup(&v, "group.kafkaBrokers"), Some(&json!("b:9092")));
        assert_eq!(
            remove(&mut doc, "group.kafkaBrokers"),
            Some(json!("b:9092"))
        );
        assert_eq!(remove(&mut doc, "group.enabled"), Some(json!(true)));
        assert!(doc.is_empty(), "empty parents are pruned: {doc:?}");
        insert(&mut doc, "gateway.port", json!(1)).unwrap();
        assert!(insert(&mut doc, "gateway.port.x", json!(1)).is_err());
        assert!(insert(&mut doc, "gateway..x", json!(1)).is_err());
        let list = json!({"a": [{"b": 1}]});
        assert_eq!(lookup(&list, "a.0.b"), Some(&json!(1)));
    }

    #[test]
    fn secrets_are_recognised() {
        for k in [
            "providers.openai.apiKey",
            "gateway.authToken",
            "group.kafkaSaslPassword",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["model.maxTokens", "gateway.tlsKey", "group.kafkaTlsKeyFile"] {
            assert!(!is_secret_key(k), "{k}");
        }
        let mut v = json!({"a": {"apiKey": "x", "apiBase": "y", "botToken": ""}});
        mask_secrets(&mut v);
        assert_eq!(
            v,
            json!({"a": {"apiKey": MASK, "apiBase": "y", "botToken": ""}})
        );
    }

    #[test]
    fn text_values_follow_the_key_type() {
        assert_eq!(interpret("42", Some(&json!(1))).unwrap(), json!(42));
        assert_eq!(interpret("abc", Some(&json!(1))).unwrap(), json!("abc"));
        assert_eq!(interpret("yes", Some(&json!(false))).unwrap(), json!(true));
        assert_eq!(interpret("42", Some(&json!(""))).unwrap(), json!("42"));
        assert_eq!(
            interpret("a, b,", Some(&json!([]))).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(interpret("[1,2]", Some(&json!([]))).unwrap(), json!([1, 2]));
        assert!(interpret("[1,", Some(&json!([]))).is_err());
        assert!(interpret("nope", Some(&json!({}))).is_err());
        assert_eq!(interpret("0.5", None).unwrap(), json!(0.5));
        assert_eq!(interpret("hello", None).unwrap(), json!("hello"));
    }
}
