//! The few string patterns our schemas use, each with an equivalent Rust check.
//!
//! The schemas carry them as ECMA-262 regular expressions so that any JSON Schema
//! tool enforces them; the built-in validator recognises each one by its exact
//! text and runs the Rust check instead (this crate has no regex engine).

/// Contains at least one non-whitespace character (Go trims before its non-empty checks).
pub(crate) const NON_BLANK: &str = r"\S";
/// A UUID in its hyphenated text form (any version).
pub(crate) const UUID: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A W3C `traceparent` header value (version-traceid-parentid-flags, lower-case hex).
pub(crate) const TRACEPARENT: &str = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";
/// Standard base64 with padding.
pub(crate) const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";
/// A knowledge vote: `yes` or `no`, any case, surrounding whitespace allowed.
pub(crate) const VOTE: &str = r"^\s*(?:[Yy][Ee][Ss]|[Nn][Oo])\s*$";
/// A knowledge decision outcome: `approved`, `rejected` or `expired`, any case.
pub(crate) const OUTCOME: &str = r"^\s*(?:[Aa][Pp][Pp][Rr][Oo][Vv][Ee][Dd]|[Rr][Ee][Jj][Ee][Cc][Tt][Ee][Dd]|[Ee][Xx][Pp][Ii][Rr][Ee][Dd])\s*$";
/// Not Go's zero time written in UTC (the knowledge protocol rejects a zero timestamp).
pub(crate) const NOT_ZERO_TIME: &str = r"^(?!0001-01-01T00:00:00(?:\.0+)?(?:Z|[+-]00:00)$)";

/// A pattern the validator knows how to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    NonBlank,
    Uuid,
    TraceParent,
    Base64,
    Vote,
    Outcome,
    NotZeroTime,
}

impl Pattern {
    pub(crate) const ALL: [Pattern; 7] = [
        Pattern::NonBlank,
        Pattern::Uuid,
        Pattern::TraceParent,
        Pattern::Base64,
        Pattern::Vote,
        Pattern::Outcome,
        Pattern::NotZeroTime,
    ];

    pub(crate) fn regex(self) -> &'static str {
        match self {
            Pattern::NonBlank => NON_BLANK,
            Pattern::Uuid => UUID,
            Pattern::TraceParent => TRACEPARENT,
            Pattern::Base64 => BASE64,
            Pattern::Vote => VOTE,
            Pattern::Outcome => OUTCOME,
            Pattern::NotZeroTime => NOT_ZERO_TIME,
        }
    }

    /// Finds the pattern with exactly this regular expression.
    pub(crate) fn from_regex(regex: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.regex() == regex)
    }

    /// What a value must look like, for error messages.
    pub(crate) fn explain(self) -> &'static str {
        match self {
            Pattern::NonBlank => "must not be empty or only whitespace",
            Pattern::Uuid => "must be a UUID like 0190b4a2-7c3e-7a51-9f6e-2b4c1d0e8f7a",
            Pattern::TraceParent => {
                "must be a W3C traceparent like 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"
            }
            Pattern::Base64 => "must be standard base64 with padding",
            Pattern::Vote => "must be yes or no (any case)",
            Pattern::Outcome => "must be approved, rejected or expired (any case)",
            Pattern::NotZeroTime => "must not be the zero time 0001-01-01T00:00:00Z",
        }
    }

    /// The Rust equivalent of matching [`Pattern::regex`] against `text`.
    pub(crate) fn check(self, text: &str) -> bool {
        match self {
            Pattern::NonBlank => text.chars().any(|c| !is_ecma_space(c)),
            Pattern::Uuid => is_uuid_text(text),
            Pattern::TraceParent => {
                let parts: Vec<&str> = text.split('-').collect();
                parts.len() == 4
                    && [2, 32, 16, 2]
                        .iter()
                        .zip(&parts)
                        .all(|(len, part)| part.len() == *len && is_lower_hex(part))
            }
            Pattern::Base64 => is_base64(text),
            Pattern::Vote => one_of_ci(text, &["yes", "no"]),
            Pattern::Outcome => one_of_ci(text, &["approved", "rejected", "expired"]),
            Pattern::NotZeroTime => !is_textual_zero_time(text),
        }
    }
}

/// ECMA-262 `\s`: WhiteSpace and LineTerminator code points.
fn is_ecma_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn is_uuid_text(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(len, part)| part.len() == *len && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return false;
    }
    let body = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let Some(last) = bytes.len().checked_sub(4) else {
        return true; // empty
    };
    if !bytes[..last].iter().all(body) {
        return false;
    }
    match &bytes[last..] {
        [a, b, b'=', b'='] => body(a) && body(b),
        [a, b, c, b'='] => body(a) && body(b) && body(c),
        quad => quad.iter().all(body),
    }
}

fn one_of_ci(text: &str, words: &[&str]) -> bool {
    let trimmed = text.trim_matches(is_ecma_space);
    words.iter().any(|w| trimmed.eq_ignore_ascii_case(w)) && trimmed.is_ascii()
}

fn is_textual_zero_time(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("0001-01-01T00:00:00") else {
        return false;
    };
    let rest = match rest.strip_prefix('.') {
        Some(frac) => {
            let zeros = frac.bytes().take_while(|b| *b == b'0').count();
            if zeros == 0 {
                return false;
            }
            &frac[zeros..]
        }
        None => rest,
    };
    matches!(rest, "Z" | "+00:00" | "-00:00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_is_found_by_its_regex() {
        for p in Pattern::ALL {
            assert_eq!(Pattern::from_regex(p.regex()), Some(p));
        }
        assert_eq!(Pattern::from_regex("^x$"), None);
    }

    #[test]
    fn checks_match_the_regexes_on_typical_values() {
        let cases: &[(Pattern, &str, bool)] = &[
            (Pattern::NonBlank, "a", true),
            (Pattern::NonBlank, " \t\n", false),
            (Pattern::NonBlank, "", false),
            (Pattern::Uuid, "0190b4a2-7c3e-7a51-9f6e-2b4c1d0e8f7a", true),
            (Pattern::Uuid, "0190B4A2-7C3E-7A51-9F6E-2B4C1D0E8F7A", true),
            (Pattern::Uuid, "0190b4a27c3e7a519f6e2b4c1d0e8f7a", false),
            (Pattern::Uuid, "0190b4a2-7c3e-7a51-9f6e-2b4c1d0e8f7g", false),
            (
                Pattern::TraceParent,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                true,
            ),
            (
                Pattern::TraceParent,
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                false,
            ),
            (Pattern::TraceParent, "00-abc-00f067aa0ba902b7-01", false),
            (Pattern::Base64, "", true),
            (Pattern::Base64, "QUJD", true),
            (Pattern::Base64, "QUI=", true),
            (Pattern::Base64, "QQ==", true),
            (Pattern::Base64, "QQ=", false),
            (Pattern::Base64, "Q===", false),
            (Pattern::Base64, "QU=D", false),
            (Pattern::Base64, "QU_D", false),
            (Pattern::Vote, " YES ", true),
            (Pattern::Vote, "No", true),
            (Pattern::Vote, "maybe", false),
            (Pattern::Vote, "yess", false),
            (Pattern::Outcome, "Approved", true),
            (Pattern::Outcome, "expired\n", true),
            (Pattern::Outcome, "won", false),
            (Pattern::NotZeroTime, "0001-01-01T00:00:00Z", false),
            (Pattern::NotZeroTime, "0001-01-01T00:00:00.000+00:00", false),
            (Pattern::NotZeroTime, "0001-01-01T00:00:00.Z", true),
            (Pattern::NotZeroTime, "2026-01-01T00:00:00Z", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(pattern.check(text), *want, "{pattern:?} on {text:?}");
        }
    }
}
