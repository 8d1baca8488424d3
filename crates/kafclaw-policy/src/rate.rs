//! Token-bucket rate limiting keyed by sender or channel, with an injectable clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::RateLimit;

/// A source of monotonic time. The engine uses [`SystemClock`]; tests pass a
/// [`ManualClock`] so rate limits are deterministic.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to. Starts at the instant it was created.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock frozen at "now".
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut elapsed = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *elapsed += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let elapsed = *self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        self.start + elapsed
    }
}

/// Above this many tracked keys, buckets that have refilled completely are dropped
/// (a full bucket carries no state worth keeping).
const MAX_TRACKED_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets for an open set of keys (sender ids, channel names), all with the same
/// limit. Thread-safe; the lock is never held across an await.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `limit.max_calls` per `limit.window_secs` for each key.
    /// The limit must have been validated (both fields non-zero).
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn capacity(&self) -> f64 {
        f64::from(self.limit.max_calls)
    }

    fn refill_per_sec(&self) -> f64 {
        // window_secs is validated non-zero by the engine; guard anyway.
        self.capacity() / (self.limit.window_secs.max(1) as f64)
    }

    /// Takes one token for `key` at time `now`. Returns `false` (and takes nothing) when
    /// the bucket is empty.
    pub fn try_acquire(&self, key: &str, now: Instant) -> bool {
        let capacity = self.capacity();
        let rate = self.refill_per_sec();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                let refilled =
                    b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate;
                refilled < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.last = bucket.last.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Number of keys currently tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_calls: u32, window_secs: u64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            max_calls,
            window_secs,
        })
    }

    #[test]
    fn burst_then_refuse_then_refill() {
        let clock = ManualClock::new();
        let rl = limiter(3, 60);
        for _ in 0..3 {
            assert!(rl.try_acquire("alice", clock.now()));
        }
        assert!(!rl.try_acquire("alice", clock.now()));
        // One token refills every 20 s.
        clock.advance(Duration::from_secs(19));
        assert!(!rl.try_acquire("alice", clock.now()));
        clock.advance(Duration::from_secs(1));
        assert!(rl.try_acquire("alice", clock.now()));
        assert!(!rl.try_acquire("alice", clock.now()));
    }

    #[test]
    fn keys_are_independent() {
        let clock = ManualClock::new();
        let rl = limiter(1, 10);
        assert!(rl.try_acquire("a", clock.now()));
        assert!(!rl.try_acquire("a", clock.now()));
        assert!(rl.try_acquire("b", clock.now()));
    }

    #[test]
    fn refill_never_exceeds_capacity() {
        let clock = ManualClock::new();
        let rl = limiter(2, 10);
        assert!(rl.try_acquire("a", clock.now()));
        clock.advance(Duration::from_secs(3600));
        assert!(rl.try_acquire("a", clock.now()));
        assert!(rl.try_acquire("a", clock.now()));
        assert!(!rl.try_acquire("a", clock.now()));
    }

    #[test]
    fn full_buckets_are_evicted_when_many_keys_are_tracked() {
        let clock = ManualClock::new();
        let rl = limiter(1, 1);
        for i in 0..MAX_TRACKED_KEYS {
            assert!(rl.try_acquire(&format!("k{i}"), clock.now()));
        }
        assert_eq!(rl.tracked_keys(), MAX_TRACKED_KEYS);
        clock.advance(Duration::from_secs(2));
        assert!(rl.try_acquire("new", clock.now()));
        assert_eq!(rl.tracked_keys(), 1);
    }
}
