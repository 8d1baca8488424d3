//! Query parameters of the dashboard API, validated: unknown or repeated parameters,
//! out-of-range limits and unknown enum values are answered with 400 naming the parameter.

use std::str::FromStr;

use crate::problem::ApiError;

/// Largest page size a list endpoint serves.
pub(crate) const MAX_LIMIT: u32 = 1000;
/// Largest `offset` accepted.
const MAX_OFFSET: u32 = 1_000_000;
/// Longest accepted text value.
const MAX_VALUE_LEN: usize = 512;

/// The query of one request, checked against the parameters the endpoint accepts.
#[derive(Debug)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Checks names: each must be in `accepted` and appear once.
    pub(crate) fn new(pairs: Vec<(String, String)>, accepted: &[&str]) -> Result<Params, ApiError> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !accepted.contains(&k.as_str()) {
                let list = if accepted.is_empty() {
                    "this endpoint takes no query parameters".to_owned()
                } else {
                    format!("accepted: {}", accepted.join(", "))
                };
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {k:?}; {list}"
                )));
            }
            if pairs[..i].iter().any(|(p, _)| p == k) {
                return Err(ApiError::bad_request(format!(
                    "query parameter {k:?} is given more than once"
                )));
            }
        }
        Ok(Params { pairs })
    }

    fn raw(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A text value (empty counts as absent).
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.raw(key) {
            Some(v) if v.len() > MAX_VALUE_LEN => Err(ApiError::bad_request(format!(
                "query parameter {key:?} is longer than {MAX_VALUE_LEN} bytes"
            ))),
            Some(v) if v.chars().any(char::is_control) => Err(ApiError::bad_request(format!(
                "query parameter {key:?} contains control characters"
            ))),
            v => Ok(v.map(str::to_owned)),
        }
    }

    /// A value parsed by its type's `FromStr`; the type's message says what is accepted.
    pub(crate) fn parsed<T>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.raw(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::bad_request(format!("query parameter {key:?}: {e}")))
            })
            .transpose()
    }

    fn number(&self, key: &str, min: u32, max: u32) -> Result<Option<u32>, ApiError> {
        self.raw(key)
            .map(|v| match v.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "query parameter {key:?} must be an integer from {min} to {max}, got {v:?}"
                ))),
            })
            .transpose()
    }

    /// `limit`: 1 to [`MAX_LIMIT`]; absent means the store's default.
    pub(crate) fn limit(&self) -> Result<Option<u32>, ApiError> {
        self.number("limit", 1, MAX_LIMIT)
    }

    /// `offset`: 0 to one million; absent means 0.
    pub(crate) fn offset(&self) -> Result<u32, ApiError> {
        Ok(self.number("offset", 0, MAX_OFFSET)?.unwrap_or(0))
    }
}

/// Parses the enum values of the outcome filter (`allow`, `deny`, `approval_required`).
pub(crate) fn parse_outcome(v: &str) -> Result<kafclaw_policy::Outcome, String> {
    use kafclaw_policy::Outcome;
    [Outcome::Allow, Outcome::Deny, Outcome::RequireApproval]
        .into_iter()
        .find(|o| o.as_str() == v)
        .ok_or_else(|| format!("must be allow, deny or approval_required, got {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafclaw_timeline::TaskStatus;

    fn p(q: &[(&str, &str)], accepted: &[&str]) -> Result<Params, ApiError> {
        Params::new(
            q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            accepted,
        )
    }

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let e = p(&[("sendr", "x")], &["sender", "limit"]).unwrap_err();
        assert!(e.message.contains("\"sendr\"") && e.message.contains("sender, limit"));
        let e = p(&[("limit", "1"), ("limit", "2")], &["limit"]).unwrap_err();
        assert!(e.message.contains("more than once"));
        let e = p(&[("x", "1")], &[]).unwrap_err();
        assert!(e.message.contains("no query parameters"));
    }

    #[test]
    fn limit_and_offset_ranges() {
        let q = p(&[("limit", "1000"), ("offset", "5")], &["limit", "offset"]).unwrap();
        assert_eq!(q.limit().unwrap(), Some(1000));
        assert_eq!(q.offset().unwrap(), 5);
        for bad in ["0", "1001", "-1", "ten", "1.5"] {
            let e = p(&[("limit", bad)], &["limit"])
                .unwrap()
                .limit()
                .unwrap_err();
            assert!(
                e.message.contains("\"limit\"") && e.message.contains(bad),
                "{}",
                e.message
            );
        }
        assert_eq!(p(&[], &["limit"]).unwrap().limit().unwrap(), None);
        assert_eq!(p(&[], &["offset"]).unwrap().offset().unwrap(), 0);
    }

    #[test]
    fn enum_values_are_checked() {
        let q = p(&[("status", "done")], &["status"]).unwrap();
        let e = q.parsed::<TaskStatus>("status").unwrap_err();
        assert!(
            e.message.contains("\"status\"") && e.message.contains("done"),
            "{}",
            e.message
        );
        let q = p(&[("status", "completed")], &["status"]).unwrap();
        assert_eq!(
            q.parsed::<TaskStatus>("status").unwrap(),
            Some(TaskStatus::Completed)
        );
        assert!(parse_outcome("maybe").is_err());
        assert_eq!(
            parse_outcome("deny").unwrap(),
            kafclaw_policy::Outcome::Deny
        );
    }

    #[test]
    fn text_values_are_bounded() {
        let long = "a".repeat(600);
        let q = p(&[("sender", &long)], &["sender"]).unwrap();
        assert!(q.text("sender").is_err());
        let q = p(&[("sender", "a\u{7}b")], &["sender"]).unwrap();
        assert!(q.text("sender").is_err());
        let q = p(&[("sender", "")], &["sender"]).unwrap();
        assert_eq!(q.text("sender").unwrap(), None);
    }
}
