//! Where consumed offsets live: the [`OffsetStore`] seam and an in-memory implementation.
//!
//! A record is handled inside a [`RecordTxn`]: the consumer opens it for the record's
//! position, the handler writes its effect through it, and `commit` stores the effect,
//! the message-id de-duplication mark and the next offset at once. The durable
//! implementation is in kafclaw-timeline (SQLite); [`MemoryOffsetStore`] serves
//! short-lived readers such as `kafclaw group members`, which need no durability.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// An offset store failed.
#[derive(Debug, thiserror::Error)]
#[error("offset store: {0}")]
pub struct StoreError(pub String);

/// The record a transaction is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPosition {
    /// Whose offsets these are (the agent id).
    pub consumer_id: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The record's offset; committing stores `offset + 1` as the next one to read.
    pub offset: i64,
    /// The message id used for de-duplication, if the record has one.
    pub message_id: Option<String>,
}

/// One record's transaction.
#[async_trait]
pub trait RecordTxn: Send + 'static {
    /// True when a record with the same message id was already committed: the handler
    /// must not run again, but the offset still advances on commit.
    fn already_seen(&self) -> bool;
    /// Commits the handler's effect, the de-duplication mark and the next offset together.
    async fn commit(self) -> Result<(), StoreError>;
}

/// Stores offsets and de-duplication marks.
#[async_trait]
pub trait OffsetStore: Send + Sync + 'static {
    /// The transaction type handed to record handlers.
    type Txn: RecordTxn;
    /// Next offsets to read for every partition of a topic that has one stored.
    async fn load_offsets(
        &self,
        consumer_id: &str,
        topic: &str,
    ) -> Result<HashMap<i32, i64>, StoreError>;
    /// Opens the transaction for one record.
    async fn begin(&self, position: RecordPosition) -> Result<Self::Txn, StoreError>;
}

#[derive(Default)]
struct MemoryState {
    offsets: HashMap<(String, String, i32), i64>,
    seen: HashSet<(String, String)>,
}

/// Offsets kept in memory only; lost when the process ends.
#[derive(Clone, Default)]
pub struct MemoryOffsetStore {
    state: Arc<Mutex<MemoryState>>,
}

impl MemoryOffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A panic while holding this lock cannot leave the maps half-updated (each
        // update is a single insert), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The in-memory transaction.
pub struct MemoryTxn {
    store: MemoryOffsetStore,
    position: RecordPosition,
    seen: bool,
}

#[async_trait]
impl RecordTxn for MemoryTxn {
    fn already_seen(&self) -> bool {
        self.seen
    }

    async fn commit(self) -> Result<(), StoreError> {
        let p = self.position;
        let mut st = self.store.lock();
        if let Some(id) = p.message_id {
            st.seen.insert((p.consumer_id.clone(), id));
        }
        st.offsets
            .insert((p.consumer_id, p.topic, p.partition), p.offset + 1);
        Ok(())
    }
}

#[async_trait]
impl OffsetStore for MemoryOffsetStore {
    type Txn = MemoryTxn;

    async fn load_offsets(
        &self,
        consumer_id: &str,
        topic: &str,
    ) -> Result<HashMap<i32, i64>, StoreError> {
        let st = self.lock();
        Ok(st
            .offsets
            .iter()
            .filter(|((c, t, _), _)| c == consumer_id && t == topic)
            .map(|((_, _, p), o)| (*p, *o))
            .collect())
    }

    async fn begin(&self, position: RecordPosition) -> Result<MemoryTxn, StoreError> {
        let seen = match &position.message_id {
            Some(id) => self
                .lock()
                .seen
                .contains(&(position.consumer_id.clone(), id.clone())),
            None => false,
        };
        Ok(MemoryTxn {
            store: self.clone(),
            position,
            seen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: i64, id: Option<&str>) -> RecordPosition {
        RecordPosition {
            consumer_id: "a".into(),
            topic: "t".into(),
            partition: 2,
            offset,
            message_id: id.map(String::from),
        }
    }

    #[tokio::test]
    async fn commit_advances_offset_and_marks_seen() {
        let s = MemoryOffsetStore::new();
        let tx = s.begin(pos(4, Some("m1"))).await.unwrap();
        assert!(!tx.already_seen());
        tx.commit().await.unwrap();
        assert_eq!(s.load_offsets("a", "t").await.unwrap().get(&2), Some(&5));
        assert!(s.begin(pos(9, Some("m1"))).await.unwrap().already_seen());
        // A dropped transaction changes nothing.
        drop(s.begin(pos(5, Some("m2"))).await.unwrap());
        assert_eq!(s.load_offsets("a", "t").await.unwrap().get(&2), Some(&5));
        assert!(!s.begin(pos(5, Some("m2"))).await.unwrap().already_seen());
        assert!(s.load_offsets("b", "t").await.unwrap().is_empty());
    }
}
