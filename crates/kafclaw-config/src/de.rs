//! A serde deserializer over a parsed JSON tree that remembers where it is, so an
//! error names the dotted path of the key and keeps "expected" and "got" apart.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Expected, Unexpected, Visitor};
use serde_json::Value;

use crate::error::{Error, Origin};

/// What went wrong, before we know where the value came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    UnknownKey,
    WrongType { expected: String, got: String },
    Duplicate,
    Other(String),
}

/// A deserialization error with the path of segments from the root to the bad key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub(crate) path: Vec<String>,
    pub(crate) kind: Kind,
}

impl DeError {
    fn new(kind: Kind) -> Self {
        Self {
            path: Vec::new(),
            kind,
        }
    }

    /// The dotted key, e.g. `group.kafkaBrokers` (`(top level)` for the root).
    pub(crate) fn key(&self) -> String {
        if self.path.is_empty() {
            "(top level)".to_owned()
        } else {
            self.path.join(".")
        }
    }

    /// Turns this into the public error, attributed to `origin`.
    pub(crate) fn into_error(self, origin: Origin) -> Error {
        let key = self.key();
        match self.kind {
            Kind::UnknownKey => Error::UnknownKey { origin, key },
            Kind::WrongType { expected, got } => Error::WrongType {
                origin,
                key,
                expected,
                got,
            },
            Kind::Duplicate => Error::Invalid {
                origin,
                key,
                reason: "given twice (under its name and under an alias)".to_owned(),
            },
            Kind::Other(reason) => Error::Invalid {
                origin,
                key,
                reason,
            },
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::UnknownKey => write!(f, "unknown key \"{}\"", self.key()),
            Kind::WrongType { expected, got } => {
                write!(f, "{}: expected {expected}, got {got}", self.key())
            }
            Kind::Duplicate => write!(f, "{}: given twice", self.key()),
            Kind::Other(msg) => write!(f, "{}: {msg}", self.key()),
        }
    }
}

impl std::error::Error for DeError {}

/// Renders what serde says a visitor expected in words an operator understands.
fn describe_expected(exp: &dyn Expected, got: &Unexpected<'_>) -> String {
    let raw = exp.to_string();
    let got_number = matches!(got, Unexpected::Unsigned(_) | Unexpected::Signed(_));
    match raw.as_str() {
        "u8" if got_number => "an integer from 0 to 255".to_owned(),
        "u16" if got_number => "an integer from 0 to 65535".to_owned(),
        "u32" | "u64" | "usize" if matches!(got, Unexpected::Signed(_)) => {
            "a non-negative integer".to_owned()
        }
        "u32" if got_number => "an integer from 0 to 4294967295".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "an integer".to_owned()
        }
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "an object".to_owned(),
        s if s.starts_with("struct ") => "an object".to_owned(),
        s => s.to_owned(),
    }
}

fn describe_unexpected(got: &Unexpected<'_>) -> String {
    match got {
        Unexpected::Str(s) => quote(s),
        Unexpected::Bool(b) => b.to_string(),
        Unexpected::Unsigned(n) => n.to_string(),
        Unexpected::Signed(n) => n.to_string(),
        Unexpected::Float(n) => n.to_string(),
        Unexpected::Unit | Unexpected::Option => "null".to_owned(),
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "an object".to_owned(),
        other => other.to_string(),
    }
}

/// A string in JSON quotes.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(Kind::Other(msg.to_string()))
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::new(Kind::WrongType {
            expected: describe_expected(exp, &unexp),
            got: describe_unexpected(&unexp),
        })
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Self::new(Kind::WrongType {
            expected: exp.to_string(),
            got: format!("{len} elements"),
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let list: Vec<String> = expected.iter().map(|v| quote(v)).collect();
        Self::new(Kind::WrongType {
            expected: format!("one of {}", list.join(", ")),
            got: quote(variant),
        })
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        Self {
            path: vec![field.to_owned()],
            kind: Kind::UnknownKey,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            path: vec![field.to_owned()],
            kind: Kind::Other("missing".to_owned()),
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self {
            path: vec![field.to_owned()],
            kind: Kind::Duplicate,
        }
    }
}

/// Deserializes `T` from a JSON tree, with path-aware errors.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, DeError> {
    T::deserialize(ValueDe(value))
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Unexpected::Unsigned(u)
            } else if let Some(i) = n.as_i64() {
                Unexpected::Signed(i)
            } else {
                Unexpected::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct ValueDe<'a>(&'a Value);

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = SeqDe {
                    iter: items.iter().enumerate(),
                };
                let out = visitor.visit_seq(&mut seq)?;
                match seq.iter.len() {
                    0 => Ok(out),
                    _ => Err(de::Error::invalid_length(items.len(), &"fewer elements")),
                }
            }
            Value::Object(map) => visitor.visit_map(MapDe {
                iter: map.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::<DeError>::new(s)),
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqDe<'a> {
    iter: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.iter.next() {
            None => Ok(None),
            Some((index, value)) => seed.deserialize(ValueDe(value)).map(Some).map_err(|mut e| {
                e.path.insert(0, index.to_string());
                e
            }),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe<'a> {
    iter: serde_json::map::Iter<'a>,
    pending: Option<(&'a str, &'a Value)>,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.pending = Some((key.as_str(), value));
                seed.deserialize(BorrowedStrDeserializer::<DeError>::new(key))
                    .map(Some)
                    .map_err(|mut e| {
                        // An unknown field already carries its own name.
                        if e.kind != Kind::UnknownKey {
                            e.path.insert(0, key.clone());
                        }
                        e
                    })
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.pending.take() {
            Some((key, value)) => seed.deserialize(ValueDe(value)).map_err(|mut e| {
                e.path.insert(0, key.to_owned());
                e
            }),
            None => Err(de::Error::custom("value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, Default)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Inner {
        heartbeat_interval_secs: u64,
        port: u16,
        name: String,
        items: Vec<u32>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Outer {
        group: Inner,
    }

    #[test]
    fn unknown_key_has_full_path() {
        let err = from_value::<Outer>(&json!({"group": {"kafkaBrokerz": "x"}})).unwrap_err();
        assert_eq!(err.kind, Kind::UnknownKey);
        assert_eq!(err.key(), "group.kafkaBrokerz");
    }

    #[test]
    fn wrong_type_names_expected_and_got() {
        let err =
            from_value::<Outer>(&json!({"group": {"heartbeatIntervalSecs": "fast"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.heartbeatIntervalSecs: expected an integer, got \"fast\""
        );
    }

    #[test]
    fn out_of_range_and_negative_numbers() {
        let err = from_value::<Outer>(&json!({"group": {"port": 70000}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.port: expected an integer from 0 to 65535, got 70000"
        );
        let err =
            from_value::<Outer>(&json!({"group": {"heartbeatIntervalSecs": -1}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.heartbeatIntervalSecs: expected a non-negative integer, got -1"
        );
    }

    #[test]
    fn list_elements_are_indexed() {
        let err = from_value::<Outer>(&json!({"group": {"items": [1, "two"]}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.items.1: expected an integer, got \"two\""
        );
    }

    #[test]
    fn object_where_scalar_expected() {
        let err = from_value::<Outer>(&json!({"group": {"name": {"a": 1}}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group.name: expected a string, got an object"
        );
        let err = from_value::<Outer>(&json!({"group": 5})).unwrap_err();
        assert_eq!(err.to_string(), "group: expected an object, got 5");
    }
}
