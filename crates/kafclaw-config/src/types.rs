//! Small value types of the config tree: durations written as "60s", secrets that do
//! not print themselves, and port numbers.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as text with units, e.g. `"60s"`, `"5m"`, `"1h30m"`, `"250ms"`.
///
/// A bare JSON number is read as nanoseconds, which is how the Go KafClaw writes
/// durations into config.json; a number given as text (environment, `config set`) needs a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// From whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }

    /// Parses `"90s"`, `"5m"`, `"1h30m"`, `"250ms"`, `"1d"`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let amount: u64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => Duration::from_millis(amount),
                "s" => Duration::from_secs(amount),
                "m" => Duration::from_secs(amount.checked_mul(60)?),
                "h" => Duration::from_secs(amount.checked_mul(3600)?),
                "d" => Duration::from_secs(amount.checked_mul(86_400)?),
                _ => return None,
            };
            total = total.checked_add(part)?;
        }
        Some(Self(total))
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        let s = d.as_secs();
        if s != 0 && s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

const DURATION_EXPECTED: &str = "a duration such as \"30s\", \"5m\" or \"1h\"";

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration(Duration::from_nanos(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::invalid_value(Unexpected::Signed(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// A credential. It serializes as the plain string (config.json must hold it), but
/// `Debug` never shows it, so logging a config does not leak keys.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself; call this only where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no credential is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(\"\")")
        } else {
            f.write_str("Secret(***)")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Deserializes a TCP port with an operator-friendly message.
pub(crate) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u16;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a port number")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
            u16::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
            Err(E::invalid_value(Unexpected::Signed(v), &self))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(
            HumanDuration::parse("60s"),
            Some(HumanDuration::from_secs(60))
        );
        assert_eq!(
            HumanDuration::parse("1h30m"),
            Some(HumanDuration::from_secs(5400))
        );
        assert_eq!(
            HumanDuration::parse("250ms"),
            Some(HumanDuration(Duration::from_millis(250)))
        );
        assert_eq!(
            HumanDuration::parse("2d"),
            Some(HumanDuration::from_secs(172_800))
        );
        for bad in ["", "60", "fast", "5x", "m5", "1.5s"] {
            assert_eq!(HumanDuration::parse(bad), None, "{bad:?}");
        }
        assert_eq!(HumanDuration::from_secs(60).to_string(), "1m");
        assert_eq!(HumanDuration::from_secs(90).to_string(), "90s");
        assert_eq!(HumanDuration::from_secs(7200).to_string(), "2h");
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
        assert_eq!(HumanDuration::from_secs(0).to_string(), "0s");
    }

    #[test]
    fn go_nanoseconds_are_accepted() {
        let d: HumanDuration = serde_json::from_str("60000000000").unwrap();
        assert_eq!(d, HumanDuration::from_secs(60));
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("sk-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"sk-123\"");
        assert_eq!(s.expose(), "sk-123");
    }
}
