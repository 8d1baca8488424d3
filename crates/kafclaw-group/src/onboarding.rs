//! Onboarding: the gated-mode challenge and its answer, and the choice of the one
//! member that sponsors a newcomer.
//!
//! The challenge is 32 random bytes in lower-case hex. The answer is
//! `hex(HMAC-SHA256(key = group secret, message = challenge || requester_id))`, both
//! as UTF-8 bytes; the challenge has a fixed length, so the concatenation is
//! unambiguous. Binding the requester id means an answer cannot be replayed for
//! another agent, and a fresh nonce per challenge means it cannot be replayed at all.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How a group admits newcomers.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Onboarding {
    /// Anyone may join; one sponsor answers an onboarding request with the manifest.
    #[default]
    Open,
    /// A sponsor challenges the newcomer, which must answer with the group secret;
    /// members ignore agents that were never admitted.
    Gated {
        /// The shared group secret.
        secret: Vec<u8>,
    },
}

impl std::fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Onboarding::Open => f.write_str("Open"),
            Onboarding::Gated { .. } => f.write_str("Gated { secret: <redacted> }"),
        }
    }
}

impl Onboarding {
    /// Gated with this secret.
    pub fn gated(secret: impl Into<Vec<u8>>) -> Self {
        Onboarding::Gated {
            secret: secret.into(),
        }
    }

    /// True in gated mode.
    pub fn is_gated(&self) -> bool {
        matches!(self, Onboarding::Gated { .. })
    }

    /// `open` or `gated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Onboarding::Open => "open",
            Onboarding::Gated { .. } => "gated",
        }
    }
}

/// A fresh challenge: 32 random bytes, hex.
pub(crate) fn new_challenge() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn mac(secret: &[u8], challenge: &str, requester_id: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(challenge.as_bytes());
    mac.update(requester_id.as_bytes());
    mac
}

/// The answer to a challenge.
pub fn challenge_answer(secret: &[u8], challenge: &str, requester_id: &str) -> String {
    hex::encode(mac(secret, challenge, requester_id).finalize().into_bytes())
}

/// Checks an answer in constant time (anything that is not hex is wrong).
pub(crate) fn verify_answer(
    secret: &[u8],
    challenge: &str,
    requester_id: &str,
    answer: &str,
) -> bool {
    match hex::decode(answer.trim()) {
        Ok(bytes) => mac(secret, challenge, requester_id)
            .verify_slice(&bytes)
            .is_ok(),
        Err(_) => false,
    }
}

/// This member's place in the sponsor order for `requester_id`: candidates are
/// ranked by SHA-256 of `requester_id '\n' candidate`, so every member that sees the
/// same roster computes the same order, and different newcomers get different
/// sponsors. `None` when `me` is not a candidate.
pub(crate) fn sponsor_rank(requester_id: &str, candidates: &[String], me: &str) -> Option<usize> {
    let mut ranked: Vec<([u8; 32], &str)> = candidates
        .iter()
        .filter(|c| c.as_str() != requester_id)
        .map(|c| {
            let mut h = Sha256::new();
            h.update(requester_id.as_bytes());
            h.update(b"\n");
            h.update(c.as_bytes());
            (h.finalize().into(), c.as_str())
        })
        .collect();
    ranked.sort();
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked.iter().position(|(_, c)| *c == me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_verifies_only_with_the_same_secret_challenge_and_requester() {
        let c = new_challenge();
        assert_eq!(c.len(), 64);
        assert_ne!(c, new_challenge());
        let a = challenge_answer(b"s3cret", &c, "agent-n");
        assert!(verify_answer(b"s3cret", &c, "agent-n", &a));
        assert!(!verify_answer(b"other", &c, "agent-n", &a));
        assert!(!verify_answer(b"s3cret", &c, "agent-x", &a));
        assert!(!verify_answer(b"s3cret", &new_challenge(), "agent-n", &a));
        assert!(!verify_answer(b"s3cret", &c, "agent-n", "not hex"));
        assert!(!verify_answer(b"s3cret", &c, "agent-n", ""));
    }

    #[test]
    fn known_answer() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            challenge_answer(b"Jefe", "what do ya want ", "for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn every_member_computes_the_same_single_sponsor() {
        let members: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        for newcomer in ["n1", "n2", "n3", "c"] {
            let ranks: Vec<Option<usize>> = members
                .iter()
                .map(|m| sponsor_rank(newcomer, &members, m))
                .collect();
            let firsts = ranks.iter().filter(|r| **r == Some(0)).count();
            assert_eq!(firsts, 1, "{newcomer}: {ranks:?}");
            if newcomer == "c" {
                assert_eq!(ranks[2], None, "the newcomer never sponsors itself");
            }
        }
        assert_eq!(sponsor_rank("n", &members, "zz"), None);
    }
}
