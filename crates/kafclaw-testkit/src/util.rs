//! Small helpers for broker tests: unique names and polling with a deadline.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

/// 16 lowercase hex digits, different on every call (also across processes).
pub fn random_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process; hashing a counter, the pid and
    // the time gives unpredictable, non-repeating values without an RNG crate.
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    format!("{:016x}", h.finish())
}

/// A fresh topic name `<prefix>-<random>`; use one per test so tests never share data.
///
/// Characters outside Kafka's `[a-zA-Z0-9._-]` in `prefix` become `_`.
pub fn random_topic_name(prefix: &str) -> String {
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    format!("{prefix}-{}", random_suffix())
}

/// A fresh consumer group / KafClaw group name.
pub fn random_group_name() -> String {
    format!("kafclaw-test-group-{}", random_suffix())
}

/// Calls `condition` every `poll` until it returns true or `deadline` has passed.
///
/// Returns whether the condition became true. The condition is always
/// evaluated at least once, and once more at the deadline.
pub fn wait_until(deadline: Duration, poll: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            return false;
        }
        std::thread::sleep(poll.min(deadline - elapsed));
    }
}

/// [`wait_until`] for async conditions; works on any executor (it does not need tokio's timer).
pub async fn wait_until_async<F, Fut>(deadline: Duration, poll: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if condition().await {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            return false;
        }
        ThreadSleep::new(poll.min(deadline - elapsed)).await;
    }
}

/// Whether the time is up, and who to wake when it is.
type SleepState = Arc<Mutex<(bool, Option<Waker>)>>;

/// A runtime-independent sleep: a helper thread wakes the task when the time is up.
struct ThreadSleep {
    duration: Duration,
    shared: Option<SleepState>,
}

impl ThreadSleep {
    fn new(duration: Duration) -> Self {
        ThreadSleep {
            duration,
            shared: None,
        }
    }
}

impl Future for ThreadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let duration = self.duration;
        let shared = self.shared.get_or_insert_with(|| {
            let shared: SleepState = Arc::new(Mutex::new((false, None)));
            let theirs = Arc::clone(&shared);
            std::thread::spawn(move || {
                std::thread::sleep(duration);
                let mut state = theirs.lock().unwrap_or_else(|e| e.into_inner());
                state.0 = true;
                if let Some(waker) = state.1.take() {
                    waker.wake();
                }
            });
            shared
        });
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 {
            Poll::Ready(())
        } else {
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last `lines` lines of a (log) file, or a note saying it cannot be read.
pub(crate) fn tail_file(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn topic_names_are_unique_and_valid() {
        let a = random_topic_name("env test/1");
        let b = random_topic_name("env test/1");
        assert_ne!(a, b);
        assert!(a.starts_with("env_test_1-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "{a}"
        );
        assert_ne!(random_group_name(), random_group_name());
    }

    #[test]
    fn wait_until_sees_a_condition_that_becomes_true() {
        let calls = Cell::new(0);
        let ok = wait_until(Duration::from_secs(10), Duration::from_millis(1), || {
            calls.set(calls.get() + 1);
            calls.get() >= 3
        });
        assert!(ok);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn wait_until_gives_up_at_the_deadline() {
        let calls = Cell::new(0);
        let ok = wait_until(Duration::from_millis(30), Duration::from_millis(5), || {
            calls.set(calls.get() + 1);
            false
        });
        assert!(!ok);
        assert!(calls.get() >= 2, "checked at the start and at the deadline");
    }

    #[tokio::test]
    async fn wait_until_async_polls_an_async_condition() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let ok = wait_until_async(
            Duration::from_secs(10),
            Duration::from_millis(1),
            move || {
                let c = Arc::clone(&c);
                async move { c.fetch_add(1, Ordering::SeqCst) >= 2 }
            },
        )
        .await;
        assert!(ok);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let never = wait_until_async(
            Duration::from_millis(20),
            Duration::from_millis(5),
            || async { false },
        )
        .await;
        assert!(!never);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
