//! Shared memory: what an agent shares (`memory.shared`, or `memory.context` with a
//! time to live), what the receive hook gets, and how received items are resolved.
//!
//! Small content travels inline in the item (`content`, our extension); larger
//! content goes through the KafScale LFS proxy and the item carries its pointer, as
//! Go agents do. A receiver downloads the blob with bounded retries and exponential
//! back-off; a download that still fails is counted, logged and handed to the error
//! hook — an item is never dropped without a trace. Context items are not delivered
//! after their expiry and leave the list when they expire.

use std::sync::Arc;
use std::time::Duration;

use kafclaw_envelope::{MemoryItem, Timestamp};

use crate::lfs::LfsClient;

/// Where a received item came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// The topic (`…memory.shared` or `…memory.context`).
    pub topic: String,
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// The envelope's sender.
    pub sender: String,
}

/// A received memory item with its content, for whoever indexes memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedMemory {
    /// The item as it came (its `content` is empty when it travelled through LFS).
    pub item: MemoryItem,
    /// The content: inline, or downloaded from the LFS proxy and checked.
    pub content: Vec<u8>,
    /// The author's agent id.
    pub author: String,
    /// The item's tags.
    pub tags: Vec<String>,
    /// Where it was read.
    pub provenance: Provenance,
}

impl SharedMemory {
    /// The content as text (lossy for content that is not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.content).into_owned()
    }
}

/// A received item whose content could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryFailure {
    /// The item.
    pub item: MemoryItem,
    /// Where it was read.
    pub provenance: Provenance,
    /// Download attempts made.
    pub attempts: u32,
    /// The last error.
    pub reason: String,
}

/// Receives memory items (the indexing hook).
pub type MemoryHook = Arc<dyn Fn(SharedMemory) + Send + Sync>;
/// Receives items whose content could not be obtained.
pub type MemoryErrorHook = Arc<dyn Fn(MemoryFailure) + Send + Sync>;

/// How shared memory is sent and resolved.
#[derive(Clone)]
pub struct MemoryOptions {
    /// Content up to this many bytes travels inline (`group.memoryInlineLimitBytes`,
    /// default 64 KiB); larger content goes through LFS.
    pub inline_limit: usize,
    /// The LFS proxy; without it larger content cannot be shared or resolved.
    pub lfs: Option<LfsClient>,
    /// Download attempts before an item is reported as failed (default 4).
    pub download_attempts: u32,
    /// Pause before the second attempt, doubled for each further one (default 200 ms).
    pub retry_backoff: Duration,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            inline_limit: 64 * 1024,
            lfs: None,
            download_attempts: 4,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

impl std::fmt::Debug for MemoryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryOptions")
            .field("inline_limit", &self.inline_limit)
            .field("lfs", &self.lfs.as_ref().map(LfsClient::base_url))
            .field("download_attempts", &self.download_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .finish()
    }
}

/// Something to share.
#[derive(Debug, Clone, Default)]
pub struct MemoryShare {
    pub(crate) title: String,
    pub(crate) content: Vec<u8>,
    pub(crate) content_type: String,
    pub(crate) tags: Vec<String>,
    pub(crate) ttl: Option<Duration>,
}

impl MemoryShare {
    /// A permanent item for `memory.shared`.
    pub fn new(title: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        Self {
            title: title.into(),
            content: content.into(),
            content_type: "text/plain".into(),
            ..Self::default()
        }
    }

    /// A context item for `memory.context` that expires after `ttl`.
    pub fn context(title: impl Into<String>, content: impl Into<Vec<u8>>, ttl: Duration) -> Self {
        Self {
            ttl: Some(ttl),
            ..Self::new(title, content)
        }
    }

    /// Tags.
    pub fn tags<I: IntoIterator<Item = impl Into<String>>>(mut self, tags: I) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// MIME type (default `text/plain`).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }
}

/// The memory settings and hooks of one agent.
#[derive(Clone, Default)]
pub(crate) struct MemorySetup {
    pub opts: MemoryOptions,
    pub hook: Option<MemoryHook>,
    pub on_error: Option<MemoryErrorHook>,
}

/// True when `item` has an expiry (not Go's zero time) that has passed.
pub(crate) fn expired(item: &MemoryItem) -> bool {
    item.expires_at
        .is_some_and(|e| e != Timestamp::zero() && e <= Timestamp::now())
}

/// The pause before attempt `n` (2, 3, …): `base` doubled per further attempt.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(2).min(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff(b, 2), Duration::from_millis(100));
        assert_eq!(backoff(b, 3), Duration::from_millis(200));
        assert_eq!(backoff(b, 5), Duration::from_millis(800));
    }

    #[test]
    fn context_items_carry_their_ttl() {
        let c = MemoryShare::context("t", "x", Duration::from_secs(5)).tags(["a", "b"]);
        assert_eq!(c.ttl, Some(Duration::from_secs(5)));
        assert_eq!(c.tags, ["a", "b"]);
        assert!(MemoryShare::new("t", "x").ttl.is_none());
    }
}
