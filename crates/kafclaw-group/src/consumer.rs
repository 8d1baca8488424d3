//! [`BroadcastConsumer`]: one agent reads every partition of a dynamic set of topics.
//!
//! No Kafka consumer groups are involved: each partition has its own fetch loop that
//! starts from the stored offset (or from the earliest, the latest, or a bounded
//! look-back), hands each record to a [`RecordHandler`] inside a [`RecordTxn`], and
//! commits the effect with the next offset. It recovers by itself from
//! offset-out-of-range (the gap is logged and counted, reading goes on from the
//! earliest retained record) and from broker restarts (retries with backoff from the
//! last committed offset).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::offsets::{OffsetStore, RecordPosition, RecordTxn};
use crate::transport::{InRecord, OffsetQuery, PartitionReader, Transport};

/// Where a partition starts when no stored offset applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The earliest retained record.
    Earliest,
    /// Only records written from now on.
    Latest,
    /// Records written within this long before now (bounded replay).
    LookBack(Duration),
}

/// One topic to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Topic name.
    pub topic: String,
    /// Start position when there is no stored offset.
    pub start: StartAt,
    /// Resume from the stored offset when there is one. With [`StartAt::LookBack`], a
    /// stored offset older than the look-back window is moved up to the window.
    pub resume: bool,
}

impl Subscription {
    /// Resume from the stored offset, else start at `start`.
    pub fn resume(topic: impl Into<String>, start: StartAt) -> Self {
        Self {
            topic: topic.into(),
            start,
            resume: true,
        }
    }

    /// Ignore stored offsets and start at `start`.
    pub fn fresh(topic: impl Into<String>, start: StartAt) -> Self {
        Self {
            topic: topic.into(),
            start,
            resume: false,
        }
    }
}

/// Why a handler did not handle a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The record cannot be understood (not an envelope, wrong JSON): counted, logged
    /// and skipped; its offset is committed.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// Handling failed for a reason that may pass (a busy database): the transaction
    /// is rolled back and the record retried; after the configured number of
    /// attempts it is counted as failed, logged and skipped.
    #[error("handler failed: {0}")]
    Failed(String),
}

/// Handles records inside their transaction.
#[async_trait]
pub trait RecordHandler<X: RecordTxn>: Send + Sync + 'static {
    /// Handles one record; effects written through `txn` commit with its offset.
    async fn handle(&self, record: &InRecord, txn: &mut X)
    -> std::result::Result<(), HandlerError>;

    /// Sees a record before its transaction begins, for in-memory effects that must not
    /// wait for the store (waking a caller that waits for this record, starting work).
    /// It must be idempotent and cheap: it runs once per delivery (again after a restart
    /// or for a duplicate), `handle` still runs afterwards, and the consumer waits for it.
    /// The default does nothing.
    fn preview(&self, _record: &InRecord) {}
}

/// Consumer tuning.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Whose offsets these are (the agent id).
    pub consumer_id: String,
    /// How long one fetch waits for new records.
    pub max_wait: Duration,
    /// Attempts for a record whose handler fails before it is skipped.
    pub max_attempts: u32,
    /// Upper bound of the retry backoff after broker or store errors.
    pub max_backoff: Duration,
}

impl ConsumerOptions {
    /// Defaults for a consumer id: 500 ms fetch wait, 5 attempts, backoff up to 5 s.
    pub fn new(consumer_id: impl Into<String>) -> Self {
        Self {
            consumer_id: consumer_id.into(),
            max_wait: Duration::from_millis(500),
            max_attempts: 5,
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Counters of everything the consumer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Records whose handler succeeded.
    pub handled: u64,
    /// Records skipped because their message id was already handled.
    pub duplicates: u64,
    /// Records that were not understood and skipped.
    pub malformed: u64,
    /// Records skipped after the handler failed every attempt.
    pub failed: u64,
    /// Offset-out-of-range events (retention removed records we had not read).
    pub gaps: u64,
    /// Records lost in those gaps.
    pub gap_records: u64,
    /// Fetch or store errors that were retried.
    pub retries: u64,
}

/// Lag of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset this consumer will read.
    pub next_offset: i64,
    /// The partition's high watermark at the last fetch.
    pub high_watermark: i64,
    /// `high_watermark - next_offset` (never negative).
    pub lag: i64,
}

#[derive(Default)]
struct Shared {
    stats: ConsumerStats,
    positions: BTreeMap<(String, i32), (i64, i64)>,
}

struct Inner<T, S, H> {
    transport: Arc<T>,
    store: Arc<S>,
    handler: Arc<H>,
    opts: ConsumerOptions,
    shared: Mutex<Shared>,
    topics: Mutex<HashSet<String>>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
}

/// Reads every partition of its topics; see the module documentation.
pub struct BroadcastConsumer<T, S, H> {
    inner: Arc<Inner<T, S, H>>,
}

impl<T, S, H> Clone for BroadcastConsumer<T, S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, S, H> BroadcastConsumer<T, S, H>
where
    T: Transport,
    S: OffsetStore,
    H: RecordHandler<S::Txn>,
{
    /// A consumer with no topics yet.
    pub fn new(transport: Arc<T>, store: Arc<S>, handler: Arc<H>, opts: ConsumerOptions) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                transport,
                store,
                handler,
                opts,
                shared: Mutex::new(Shared::default()),
                topics: Mutex::new(HashSet::new()),
                shutdown,
                tasks: tokio::sync::Mutex::new(JoinSet::new()),
            }),
        }
    }

    /// Starts reading a topic (all its partitions). Subscribing to a topic twice does nothing.
    pub async fn subscribe(&self, sub: Subscription) -> Result<()> {
        if *self.inner.shutdown.borrow() {
            return Err(Error::Closed);
        }
        if !lock(&self.inner.topics).insert(sub.topic.clone()) {
            return Ok(());
        }
        match self.start_topic(&sub).await {
            Ok(()) => Ok(()),
            Err(e) => {
                lock(&self.inner.topics).remove(&sub.topic);
                Err(e)
            }
        }
    }

    async fn start_topic(&self, sub: &Subscription) -> Result<()> {
        let inner = &self.inner;
        let partitions = inner.transport.partitions(&sub.topic).await?;
        let stored = if sub.resume {
            inner
                .store
                .load_offsets(&inner.opts.consumer_id, &sub.topic)
                .await?
        } else {
            Default::default()
        };
        let mut starts = Vec::with_capacity(partitions.len());
        for p in partitions {
            let initial = match sub.start {
                StartAt::Earliest => {
                    inner
                        .transport
                        .offset(&sub.topic, p, OffsetQuery::Earliest)
                        .await?
                }
                StartAt::Latest => {
                    inner
                        .transport
                        .offset(&sub.topic, p, OffsetQuery::Latest)
                        .await?
                }
                StartAt::LookBack(d) => {
                    let since = chrono::Utc::now()
                        - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
                    inner
                        .transport
                        .offset(&sub.topic, p, OffsetQuery::At(since))
                        .await?
                }
            };
            let start = match (stored.get(&p), sub.start) {
                (Some(&s), StartAt::LookBack(_)) => s.max(initial),
                (Some(&s), _) => s,
                (None, _) => initial,
            };
            starts.push((p, start));
        }
        let mut tasks = inner.tasks.lock().await;
        for (p, start) in starts {
            lock(&inner.shared)
                .positions
                .insert((sub.topic.clone(), p), (start, start));
            let inner = Arc::clone(inner);
            let topic = sub.topic.clone();
            tasks.spawn(async move { inner.run_partition(topic, p, start).await });
        }
        Ok(())
    }

    /// The topics being read.
    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = lock(&self.inner.topics).iter().cloned().collect();
        t.sort();
        t
    }

    /// Counters so far.
    pub fn stats(&self) -> ConsumerStats {
        lock(&self.inner.shared).stats.clone()
    }

    /// Lag per partition, from the high watermark of each partition's last fetch.
    pub fn lag(&self) -> Vec<PartitionLag> {
        lock(&self.inner.shared)
            .positions
            .iter()
            .map(|((topic, partition), &(next, hw))| PartitionLag {
                topic: topic.clone(),
                partition: *partition,
                next_offset: next,
                high_watermark: hw,
                lag: (hw - next).max(0),
            })
            .collect()
    }

    /// Stops every partition loop after the record it is handling and waits for them.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let mut tasks = self.inner.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }
}

fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    // Each critical section is a few field updates that cannot be left half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T, S, H> Inner<T, S, H>
where
    T: Transport,
    S: OffsetStore,
    H: RecordHandler<S::Txn>,
{
    fn stopped(&self) -> bool {
        *self.shutdown.borrow()
    }

    fn count(&self, f: impl FnOnce(&mut ConsumerStats)) {
        f(&mut lock(&self.shared).stats);
    }

    /// Sleeps for the backoff or until shutdown; returns false on shutdown.
    async fn backoff(&self, attempt: u32) -> bool {
        let base = Duration::from_millis(50).saturating_mul(1 << attempt.min(10));
        let capped = base.min(self.opts.max_backoff);
        // Jitter without a random source: spread by the sub-second clock.
        let jitter_ms = u64::from(chrono::Utc::now().timestamp_subsec_millis())
            % (capped.as_millis() as u64 / 2 + 1);
        let wait = capped / 2 + Duration::from_millis(jitter_ms);
        let mut rx = self.shutdown.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(wait) => !self.stopped(),
            _ = rx.wait_for(|s| *s) => false,
        }
    }

    async fn run_partition(self: Arc<Self>, topic: String, partition: i32, mut next: i64) {
        let mut rx = self.shutdown.subscribe();
        let mut errors: u32 = 0;
        let mut reader: Option<Box<dyn PartitionReader>> = None;
        while !self.stopped() {
            let current = match &reader {
                Some(r) => r,
                None => match self.transport.reader(&topic, partition).await {
                    Ok(r) => reader.insert(r),
                    Err(e) => {
                        errors += 1;
                        self.count(|s| s.retries += 1);
                        if errors == 1 || errors.is_multiple_of(20) {
                            warn!(%topic, partition, error = %e, "cannot open a partition reader; retrying");
                        }
                        if !self.backoff(errors).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            let fetched = tokio::select! {
                r = current.fetch(next, self.opts.max_wait) => r,
                _ = rx.wait_for(|s| *s) => return,
            };
            match fetched {
                Ok(batch) => {
                    errors = 0;
                    lock(&self.shared)
                        .positions
                        .insert((topic.clone(), partition), (next, batch.high_watermark));
                    for record in batch.records {
                        if record.offset < next {
                            continue;
                        }
                        if !self.process(&record).await {
                            return;
                        }
                        next = record.offset + 1;
                        lock(&self.shared).positions.insert(
                            (topic.clone(), partition),
                            (next, batch.high_watermark.max(next)),
                        );
                    }
                }
                Err(Error::OffsetOutOfRange { .. }) => {
                    let earliest = current.offset(OffsetQuery::Earliest).await;
                    let latest = current.offset(OffsetQuery::Latest).await;
                    match (earliest, latest) {
                        (Ok(earliest), _) if next < earliest => {
                            warn!(%topic, partition, from = next, to = earliest,
                                "records were removed by retention before this agent read them; continuing from the earliest retained record");
                            self.count(|s| {
                                s.gaps += 1;
                                s.gap_records += (earliest - next) as u64;
                            });
                            next = earliest;
                        }
                        (Ok(_), Ok(latest)) if next > latest => {
                            warn!(%topic, partition, stored = next, latest,
                                "stored offset is past the end of the partition (topic recreated?); continuing from its end");
                            self.count(|s| s.gaps += 1);
                            next = latest;
                        }
                        _ => {
                            errors += 1;
                            self.count(|s| s.retries += 1);
                            if !self.backoff(errors).await {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    errors += 1;
                    self.count(|s| s.retries += 1);
                    if errors == 1 || errors.is_multiple_of(20) {
                        warn!(%topic, partition, offset = next, error = %e, "fetch failed; retrying");
                    }
                    if !self.backoff(errors).await {
                        return;
                    }
                }
            }
        }
    }

    /// Handles one record to completion; returns false on shutdown.
    async fn process(&self, record: &InRecord) -> bool {
        let position = RecordPosition {
            consumer_id: self.opts.consumer_id.clone(),
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            message_id: record.message_id().map(String::from),
        };
        let mut attempt: u32 = 0;
        let mut skip_effect = false;
        self.handler.preview(record);
        loop {
            if self.stopped() {
                return false;
            }
            let mut txn = match self.store.begin(position.clone()).await {
                Ok(t) => t,
                Err(e) => {
                    warn!(topic = %record.topic, partition = record.partition, offset = record.offset, error = %e, "offset store unavailable; retrying");
                    self.count(|s| s.retries += 1);
                    attempt += 1;
                    if !self.backoff(attempt).await {
                        return false;
                    }
                    continue;
                }
            };
            let outcome = if txn.already_seen() {
                Outcome::Duplicate
            } else if skip_effect {
                Outcome::Failed
            } else {
                match self.handler.handle(record, &mut txn).await {
                    Ok(()) => Outcome::Handled,
                    Err(HandlerError::Malformed(why)) => {
                        warn!(topic = %record.topic, partition = record.partition, offset = record.offset, reason = %why, "skipping malformed record");
                        Outcome::Malformed
                    }
                    Err(HandlerError::Failed(why)) => {
                        attempt += 1;
                        drop(txn);
                        if attempt >= self.opts.max_attempts {
                            warn!(topic = %record.topic, partition = record.partition, offset = record.offset, reason = %why, attempts = attempt,
                                "handler failed on every attempt; skipping the record");
                            skip_effect = true;
                        } else {
                            debug!(reason = %why, attempt, "handler failed; retrying");
                            self.count(|s| s.retries += 1);
                            if !self.backoff(attempt).await {
                                return false;
                            }
                        }
                        continue;
                    }
                }
            };
            match txn.commit().await {
                Ok(()) => {
                    self.count(|s| match outcome {
                        Outcome::Handled => s.handled += 1,
                        Outcome::Duplicate => s.duplicates += 1,
                        Outcome::Malformed => s.malformed += 1,
                        Outcome::Failed => s.failed += 1,
                    });
                    return true;
                }
                Err(e) => {
                    warn!(topic = %record.topic, offset = record.offset, error = %e, "commit failed; handling the record again");
                    self.count(|s| s.retries += 1);
                    attempt += 1;
                    if !self.backoff(attempt).await {
                        return false;
                    }
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Outcome {
    Handled,
    Duplicate,
    Malformed,
    Failed,
}
