//! When to try a model again and how long to wait: jittered exponential backoff, or the
//! server's `Retry-After` when it sent one.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kafclaw_config::ModelConfig;

use crate::Error;

/// How often and how patiently one model is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per model, at least 1 (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for every further attempt.
    pub base_delay: Duration,
    /// Upper bound of one backoff wait.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a server asking for more is not retried (the
    /// next model is tried instead).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// `model.maxAttempts` and `model.maxRetryWait`, with the default backoff.
    pub fn from_config(model: &ModelConfig) -> Self {
        Self {
            max_attempts: model.max_attempts.max(1),
            max_retry_after: model.max_retry_wait.get(),
            ..Self::default()
        }
    }

    /// The wait before the next attempt after attempt number `attempt` (1-based) failed
    /// with `error`, or `None` when the model should not be tried again.
    pub fn delay(&self, attempt: u32, error: &Error) -> Option<Duration> {
        if attempt >= self.max_attempts || !error.is_retryable() {
            return None;
        }
        if let Some(wait) = error.retry_after() {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        Some(self.backoff(attempt))
    }

    /// Exponential backoff with "equal jitter": a random wait in `[d/2, d]` where
    /// `d = base_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1));
        let full = self.base_delay.saturating_mul(exp).min(self.max_delay);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        let extra = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_nanos(extra)
    }
}

/// A random number without a dependency: std's randomly keyed SipHash over a counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Http {
            provider: "p".into(),
            model: "m".into(),
            status,
            retry_after,
            message: String::new(),
        }
    }

    #[test]
    fn backoff_grows_and_stays_in_its_jitter_window() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d2 = p.backoff(2);
            assert!(d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200));
            let d5 = p.backoff(5);
            assert!(d5 >= Duration::from_millis(175) && d5 <= Duration::from_millis(350));
        }
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(3)).collect();
        assert!(distinct.len() > 1, "the wait is jittered");
    }

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, &http(429, None)).is_some());
        assert!(p.delay(1, &http(503, None)).is_some());
        assert!(p.delay(1, &http(408, None)).is_some());
        assert!(p.delay(1, &http(400, None)).is_none());
        assert!(p.delay(1, &http(401, None)).is_none());
        assert!(p.delay(3, &http(500, None)).is_none(), "attempts used up");
        assert_eq!(
            p.delay(1, &http(429, Some(Duration::from_secs(7)))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            p.delay(1, &http(429, Some(Duration::from_secs(3600)))),
            None,
            "longer than max_retry_after"
        );
        let malformed = Error::MalformedReply {
            provider: "p".into(),
            model: "m".into(),
            reason: "x".into(),
        };
        assert!(p.delay(1, &malformed).is_none());
    }
}
