//! Per-partition produce batching without a linger: the caller that finds the
//! partition idle sends its record at once, in its own task (no hand-off, no added
//! latency); records that arrive while a request is in flight queue up and leave
//! together in the next request.
//!
//! Requests stay below rskafka's 8 KiB write buffer when they can: rskafka does not set
//! `TCP_NODELAY`, and a request written in two pieces can wait for the broker's delayed
//! ACK (up to 40 ms on Linux). A single record larger than that is still sent alone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Most records in one produce request.
const MAX_BATCH_RECORDS: usize = 500;
/// Approximate payload bytes per request (see the module docs for why it is small).
const MAX_BATCH_BYTES: usize = 7 * 1024;

struct Pending {
    record: Record,
    reply: oneshot::Sender<Result<i64>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    /// Someone (a caller or a drain task) is sending for this partition.
    sending: bool,
}

/// Batches the produce requests of one partition.
pub(crate) struct PartitionBatcher {
    pc: Arc<PartitionClient>,
    state: Mutex<State>,
    compression: Compression,
    linger: Duration,
}

impl PartitionBatcher {
    pub(crate) fn new(
        pc: Arc<PartitionClient>,
        compression: Compression,
        linger: Duration,
    ) -> Self {
        Self {
            pc,
            state: Mutex::new(State::default()),
            compression,
            linger,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section is a few queue operations that cannot be left half-done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Produces one record and returns its offset.
    pub(crate) async fn produce(self: &Arc<Self>, record: Record) -> Result<i64> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut st = self.lock();
            st.queue.push_back(Pending { record, reply });
            !std::mem::replace(&mut st.sending, true)
        };
        if lead {
            // The queue was idle, so our record is first: send one batch ourselves, then
            // hand whatever queued meanwhile to a drain task.
            let guard = HandOver(Some(Arc::clone(self)));
            self.send_one_batch().await;
            drop(guard);
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(Error::Kafka {
                operation: "produce",
                topic: self.pc.topic().to_string(),
                reason: "the producing task was cancelled while the request was in flight; the record may or may not have been written".into(),
            }),
        }
    }

    /// Takes the next batch off the queue and sends it; false when the queue was empty
    /// (and `sending` has been cleared).
    async fn send_one_batch(&self) -> bool {
        if !self.linger.is_zero() {
            tokio::time::sleep(self.linger).await;
        }
        let batch: Vec<Pending> = {
            let mut st = self.lock();
            if st.queue.is_empty() {
                st.sending = false;
                return false;
            }
            let mut size = 0;
            let mut n = 0;
            for p in &st.queue {
                let s = p.record.approximate_size();
                if n > 0 && (n >= MAX_BATCH_RECORDS || size + s > MAX_BATCH_BYTES) {
                    break;
                }
                size += s;
                n += 1;
            }
            st.queue.drain(..n).collect()
        };
        let (records, replies): (Vec<Record>, Vec<_>) =
            batch.into_iter().map(|p| (p.record, p.reply)).unzip();
        match self.pc.produce(records, self.compression).await {
            Ok(offsets) => {
                for (reply, offset) in replies.into_iter().zip(offsets) {
                    let _ = reply.send(Ok(offset));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(Error::Kafka {
                        operation: "produce",
                        topic: self.pc.topic().to_string(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
        true
    }

    async fn drain(self: Arc<Self>) {
        while self.send_one_batch().await {}
    }
}

/// Ends a caller's turn as sender: if records are waiting (or the caller was cancelled
/// mid-request), a drain task carries on; otherwise the partition becomes idle.
struct HandOver(Option<Arc<PartitionBatcher>>);

impl Drop for HandOver {
    fn drop(&mut self) {
        let Some(b) = self.0.take() else { return };
        let waiting = {
            let mut st = b.lock();
            if st.queue.is_empty() {
                st.sending = false;
                false
            } else {
                true
            }
        };
        if waiting {
            // `sending` stays true: the drain task is the sender now.
            tokio::spawn(b.drain());
        }
    }
}
