//! The gateway's bearer token, kept as a SHA-256 digest and compared in constant time.

use sha2::{Digest, Sha256};

/// The configured bearer token. Only its SHA-256 digest is kept; a presented token is
/// hashed and the two digests are compared without an early exit, so the time taken
/// depends neither on where the first differing byte is nor on the tokens' lengths.
#[derive(Clone)]
pub struct AuthToken {
    digest: [u8; 32],
}

impl AuthToken {
    /// The token; `None` for an empty (unset) one. Surrounding whitespace is ignored.
    pub fn new(token: &str) -> Option<AuthToken> {
        let t = token.trim();
        (!t.is_empty()).then(|| AuthToken {
            digest: Sha256::digest(t.as_bytes()).into(),
        })
    }

    /// Whether `presented` is the token.
    pub fn verify(&self, presented: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let diff = self
            .digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// Whether an `Authorization` header value carries the token (`Bearer <token>`, the
    /// scheme in any case).
    pub fn verify_header(&self, value: &str) -> bool {
        match value.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                self.verify(token.trim())
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_token_means_none() {
        assert!(AuthToken::new("").is_none());
        assert!(AuthToken::new("  \n").is_none());
    }

    #[test]
    fn only_the_exact_token_verifies() {
        let t = AuthToken::new("correct horse battery").unwrap();
        assert!(t.verify("correct horse battery"));
        for wrong in [
            "",
            "correct horse batter",
            "correct horse battery!",
            "Correct horse battery",
        ] {
            assert!(!t.verify(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn bearer_header_forms() {
        let t = AuthToken::new("abc123").unwrap();
        assert!(t.verify_header("Bearer abc123"));
        assert!(t.verify_header("bearer abc123"));
        assert!(t.verify_header("  BEARER   abc123 "));
        assert!(!t.verify_header("abc123"));
        assert!(!t.verify_header("Basic abc123"));
        assert!(!t.verify_header("Bearer abc1234"));
        assert!(!t.verify_header("Bearer"));
    }

    #[test]
    fn debug_does_not_show_the_token() {
        let t = AuthToken::new("hunter2").unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
