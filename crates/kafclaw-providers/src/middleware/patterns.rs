//! Detectors for personal data and secrets (regular expressions, with Luhn and IBAN
//! checksums where a format has one), shared by the prompt guard and the output sanitizer.

use std::collections::BTreeMap;

use kafclaw_config::NamedPattern;
use regex::Regex;

use crate::{Error, Result};

/// Built-in personal-data detectors, in the order they run.
pub const PII_DETECTORS: &[&str] = &["iban", "credit_card", "ssn", "email", "phone"];

/// Built-in secret detectors, in the order they run.
pub const SECRET_DETECTORS: &[&str] = &[
    "private_key",
    "api_key",
    "aws_access_key",
    "github_token",
    "slack_token",
    "jwt",
    "bearer_token",
    "password",
];

fn builtin_regex(name: &str) -> Option<&'static str> {
    Some(match name {
        "credit_card" => r"\b(?:\d[ -]?){12,18}\d\b",
        "iban" => r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        "ssn" => r"\b\d{3}-\d{2}-\d{4}\b",
        "email" => r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
        "phone" => {
            r"(?:\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{1,4}(?:[ -]\d{2,5}){1,4}|\(\d{3}\)[ -]?\d{3}[ -]\d{4}|\b\d{3}-\d{3}-\d{4})\b"
        }
        "private_key" => {
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
        }
        "api_key" => r"\bsk-[A-Za-z0-9_-]{20,}",
        "aws_access_key" => r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
        "github_token" => r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        "slack_token" => r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
        "jwt" => r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        "bearer_token" => r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{20,}",
        "password" => {
            r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token)\s*[:=]\s*["']?[^\s"'\[]{6,}"#
        }
        _ => return None,
    })
}

fn builtin_check(name: &str) -> Option<fn(&str) -> bool> {
    match name {
        "credit_card" => Some(luhn),
        "iban" => Some(iban),
        "phone" => Some(|s| (7..=15).contains(&s.chars().filter(char::is_ascii_digit).count())),
        _ => None,
    }
}

/// Luhn checksum over the digits of `s` (13 to 19 digits).
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN mod-97 check (ISO 13616), 15 to 34 characters.
fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        for d in v.to_string().chars() {
            rem = (rem * 10 + d.to_digit(10).unwrap_or(0)) % 97;
        }
    }
    rem == 1
}

struct Pattern {
    name: String,
    regex: Regex,
    check: Option<fn(&str) -> bool>,
}

/// Matches per detector name, in first-seen order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Findings {
    counts: BTreeMap<String, usize>,
    order: Vec<String>,
}

impl Findings {
    fn add(&mut self, name: &str, n: usize) {
        if n == 0 {
            return;
        }
        if !self.counts.contains_key(name) {
            self.order.push(name.to_owned());
        }
        *self.counts.entry(name.to_owned()).or_default() += n;
    }

    pub(crate) fn merge(&mut self, other: &Findings) {
        for name in &other.order {
            self.add(name, other.counts[name]);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(crate) fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// `github_token ×1, email ×2`
    pub(crate) fn summary(&self) -> String {
        self.order
            .iter()
            .map(|n| format!("{n} ×{}", self.counts[n]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The detector names.
    pub(crate) fn names(&self) -> String {
        self.order.join(", ")
    }
}

/// A list of detectors run one after the other; each sees the text as the previous ones
/// left it, so one piece of text is reported once.
#[derive(Default)]
pub(crate) struct Scanner {
    patterns: Vec<Pattern>,
}

impl Scanner {
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Adds built-in detectors: the names listed (checked against `known`), or all of
    /// `known` when the list is empty. `key` names the config key in errors.
    pub(crate) fn add_builtin(
        &mut self,
        key: &str,
        known: &[&str],
        selected: &[String],
    ) -> Result<()> {
        let names: Vec<&str> = if selected.is_empty() {
            known.to_vec()
        } else {
            let mut v = Vec::new();
            for s in selected {
                let s = s.trim();
                if !known.contains(&s) {
                    return Err(Error::Config {
                        key: key.to_owned(),
                        problem: format!("unknown detector {s:?}; known: {}", known.join(", ")),
                    });
                }
                v.push(s);
            }
            // run in the built-in order whatever the list's order
            known.iter().copied().filter(|k| v.contains(k)).collect()
        };
        for name in names {
            let source = builtin_regex(name).ok_or_else(|| Error::Config {
                key: key.to_owned(),
                problem: format!("no pattern for detector {name:?}"),
            })?;
            let regex = Regex::new(source).map_err(|e| Error::Config {
                key: key.to_owned(),
                problem: format!("built-in pattern {name}: {e}"),
            })?;
            self.patterns.push(Pattern {
                name: name.to_owned(),
                regex,
                check: builtin_check(name),
            });
        }
        Ok(())
    }

    /// Adds configured `{name, pattern}` entries; `key` is the list's config key.
    pub(crate) fn add_custom(&mut self, key: &str, patterns: &[NamedPattern]) -> Result<()> {
        for (i, p) in patterns.iter().enumerate() {
            let regex = compile(&format!("{key}[{i}].pattern"), &p.pattern)?;
            let name = if p.name.trim().is_empty() {
                format!("custom_{i}")
            } else {
                p.name.trim().to_owned()
            };
            self.patterns.push(Pattern {
                name,
                regex,
                check: None,
            });
        }
        Ok(())
    }

    /// Replaces every match with `[REDACTED:<name>]`; returns the new text and what was found.
    pub(crate) fn redact(&self, text: &str) -> (String, Findings) {
        let mut out = text.to_owned();
        let mut findings = Findings::default();
        for p in &self.patterns {
            let mut n = 0;
            let replaced = p.regex.replace_all(&out, |caps: &regex::Captures<'_>| {
                let m = &caps[0];
                if p.check.is_none_or(|check| check(m)) {
                    n += 1;
                    format!("[REDACTED:{}]", p.name)
                } else {
                    m.to_owned()
                }
            });
            if n > 0 {
                out = replaced.into_owned();
                findings.add(&p.name, n);
            }
        }
        (out, findings)
    }

    /// What the detectors find, without changing the text.
    pub(crate) fn scan(&self, text: &str) -> Findings {
        self.redact(text).1
    }
}

/// Compiles a configured regular expression; the error names the key.
pub(crate) fn compile(key: &str, pattern: &str) -> Result<Regex> {
    Regex::new(pattern).map_err(|e| Error::Config {
        key: key.to_owned(),
        problem: format!("invalid regular expression: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Scanner {
        let mut s = Scanner::default();
        s.add_builtin("secrets", SECRET_DETECTORS, &[]).unwrap();
        s.add_builtin("pii", PII_DETECTORS, &[]).unwrap();
        s
    }

    #[test]
    fn checksums() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(iban("DE89 3704 0044 0532 0130 00"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(!iban("DE89 3704 0044 0532 0130 01"));
    }

    #[test]
    fn detects_and_redacts_each_kind() {
        let cases = [
            ("card 4111-1111-1111-1111 ok", "credit_card"),
            ("iban DE89 3704 0044 0532 0130 00.", "iban"),
            ("ssn 123-45-6789", "ssn"),
            ("mail jane.doe@example.co.uk now", "email"),
            ("call +1 555-123-4567", "phone"),
            ("key sk-ant-api03-abcdefghijklmnopqrstuv", "api_key"),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
            (
                "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "github_token",
            ),
            ("slack xoxb-1234567890-abcdef", "slack_token"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----",
                "private_key",
            ),
            ("password = hunter22secret", "password"),
            (
                "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123",
                "bearer_token",
            ),
        ];
        let s = all();
        for (text, name) in cases {
            let (out, f) = s.redact(text);
            assert_eq!(f.names(), name, "{text:?} -> {out:?}");
            assert!(out.contains(&format!("[REDACTED:{name}]")), "{out}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let s = all();
        for text in [
            "version 1.2.3 on 2026-11-21 at 10:30",
            "the server 192.168.100.200 answered",
            "order 4111 1111 1111 1112 failed",
            "password: [REDACTED:api_key]",
            "a task-list of 12 items",
        ] {
            let f = s.scan(text);
            assert!(f.is_empty(), "{text:?}: {}", f.summary());
        }
    }

    #[test]
    fn unknown_detector_and_bad_regex_name_the_key() {
        let mut s = Scanner::default();
        let e = s
            .add_builtin("promptGuard.pii.detect", PII_DETECTORS, &["dna".into()])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "promptGuard.pii.detect: unknown detector \"dna\"; known: iban, credit_card, ssn, email, phone"
        );
        let e = s
            .add_custom(
                "promptGuard.customPatterns",
                &[NamedPattern {
                    name: "x".into(),
                    pattern: "(".into(),
                }],
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("promptGuard.customPatterns[0].pattern: invalid regular expression"),
            "{e}"
        );
    }
}
