//! Reading vendor replies with error messages that name the JSON path that was wrong
//! (`missing choices[0].message`, `usage.prompt_tokens is a string, expected a number`).

use serde_json::Value;

use crate::provider::kind;

/// Parses a reply body; the error says where the JSON broke and hints at truncation.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Err("the body is empty".into());
    }
    serde_json::from_str(text).map_err(|e| {
        let hint = if e.is_eof() {
            " (the body looks truncated)"
        } else {
            ""
        };
        format!(
            "invalid JSON at line {} column {}: {e}{hint}",
            e.line(),
            e.column()
        )
    })
}

/// A position in a JSON document, remembering its path.
#[derive(Clone)]
pub(crate) struct At<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> At<'a> {
    pub(crate) fn root(value: &'a Value) -> Self {
        Self {
            value,
            path: String::new(),
        }
    }

    pub(crate) fn value(&self) -> &'a Value {
        self.value
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn describe(&self) -> String {
        if self.path.is_empty() {
            "the reply".to_owned()
        } else {
            self.path.clone()
        }
    }

    fn expect_object(&self) -> Result<&'a serde_json::Map<String, Value>, String> {
        self.value.as_object().ok_or_else(|| {
            format!(
                "{} is {}, expected an object",
                self.describe(),
                kind(self.value)
            )
        })
    }

    /// A field that must be present and not null.
    pub(crate) fn field(&self, name: &str) -> Result<At<'a>, String> {
        self.opt(name)?
            .ok_or_else(|| format!("missing {}", self.child_path(name)))
    }

    /// A field that may be absent or null.
    pub(crate) fn opt(&self, name: &str) -> Result<Option<At<'a>>, String> {
        let obj = self.expect_object()?;
        Ok(obj.get(name).filter(|v| !v.is_null()).map(|value| At {
            value,
            path: self.child_path(name),
        }))
    }

    /// The elements of an array.
    pub(crate) fn items(&self) -> Result<Vec<At<'a>>, String> {
        let arr = self.value.as_array().ok_or_else(|| {
            format!(
                "{} is {}, expected an array",
                self.describe(),
                kind(self.value)
            )
        })?;
        Ok(arr
            .iter()
            .enumerate()
            .map(|(i, value)| At {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// Element `i` of an array, which must exist.
    pub(crate) fn index(&self, i: usize) -> Result<At<'a>, String> {
        let items = self.items()?;
        items
            .into_iter()
            .nth(i)
            .ok_or_else(|| format!("missing {}[{i}]", self.path))
    }

    pub(crate) fn str(&self) -> Result<&'a str, String> {
        self.value.as_str().ok_or_else(|| {
            format!(
                "{} is {}, expected a string",
                self.describe(),
                kind(self.value)
            )
        })
    }

    pub(crate) fn u64(&self) -> Result<u64, String> {
        self.value.as_u64().ok_or_else(|| {
            format!(
                "{} is {}, expected a non-negative integer",
                self.describe(),
                kind(self.value)
            )
        })
    }

    pub(crate) fn f32(&self) -> Result<f32, String> {
        #[allow(clippy::cast_possible_truncation)]
        self.value.as_f64().map(|f| f as f32).ok_or_else(|| {
            format!(
                "{} is {}, expected a number",
                self.describe(),
                kind(self.value)
            )
        })
    }

    /// An optional string field (absent or null → `None`).
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, String> {
        self.opt(name)?.map(|a| a.str()).transpose()
    }

    /// An optional count (absent or null → 0).
    pub(crate) fn opt_u64(&self, name: &str) -> Result<u64, String> {
        Ok(self.opt(name)?.map(|a| a.u64()).transpose()?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_in_messages() {
        let v = json!({"choices": [{"message": null, "n": "x"}], "usage": {"t": "5"}});
        let root = At::root(&v);
        let c0 = root.field("choices").unwrap().index(0).unwrap();
        assert_eq!(
            c0.field("message").err().unwrap(),
            "missing choices[0].message"
        );
        assert_eq!(
            root.field("choices").unwrap().index(1).err().unwrap(),
            "missing choices[1]"
        );
        assert_eq!(
            root.field("usage").unwrap().opt_u64("t").unwrap_err(),
            "usage.t is a string, expected a non-negative integer"
        );
        assert_eq!(
            c0.field("n").unwrap().items().err().unwrap(),
            "choices[0].n is a string, expected an array"
        );
    }

    #[test]
    fn invalid_and_truncated_json() {
        let e = parse(r#"{"id": "x", "choices": [{"#).unwrap_err();
        assert!(e.starts_with("invalid JSON at line 1 column 25"), "{e}");
        assert!(e.ends_with("(the body looks truncated)"), "{e}");
        let e = parse("{\"a\": tru}").unwrap_err();
        assert!(e.starts_with("invalid JSON at line 1 column"), "{e}");
        assert!(!e.contains("truncated"), "{e}");
        assert_eq!(parse("  ").unwrap_err(), "the body is empty");
    }
}
