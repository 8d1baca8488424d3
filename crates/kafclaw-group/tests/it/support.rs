//! Shared helpers: a recording handler and connection settings for the test broker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kafclaw_envelope::{Decoded, Message};
use kafclaw_group::{
    EnvelopeHandler, HandlerError, InRecord, KafkaSettings, KafkaTransport, RecordHandler,
    RecordTxn,
};
use kafclaw_testkit::TestBroker;

/// Records every handled record; treats values that are not JSON objects as malformed.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<InRecord>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn values(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) {
        let ok = kafclaw_testkit::wait_until_async(within, Duration::from_millis(20), || async {
            self.len() >= n
        })
        .await;
        assert!(
            ok,
            "expected {n} records within {within:?}, got {}",
            self.len()
        );
    }
}

#[async_trait]
impl<X: RecordTxn> RecordHandler<X> for Recorder {
    async fn handle(&self, record: &InRecord, _txn: &mut X) -> Result<(), HandlerError> {
        match serde_json::from_slice::<serde_json::Value>(&record.value) {
            Ok(v) if v.is_object() => {
                self.seen.lock().unwrap().push(record.clone());
                Ok(())
            }
            Ok(_) => Err(HandlerError::Malformed("not a JSON object".into())),
            Err(e) => Err(HandlerError::Malformed(format!("not JSON: {e}"))),
        }
    }
}

pub fn settings(broker: &TestBroker) -> KafkaSettings {
    KafkaSettings::plaintext(&broker.brokers)
}

pub async fn connect(broker: &TestBroker) -> Arc<KafkaTransport> {
    Arc::new(
        KafkaTransport::connect(&settings(broker))
            .await
            .expect("connect to the test broker"),
    )
}

/// Records the task ids of the request envelopes it is given.
#[derive(Default)]
pub struct EnvelopeRecorder {
    pub tasks: Mutex<Vec<String>>,
}

impl EnvelopeRecorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn task_ids(&self) -> Vec<String> {
        self.tasks.lock().unwrap().clone()
    }
}

#[async_trait]
impl<X: RecordTxn> EnvelopeHandler<X> for EnvelopeRecorder {
    async fn handle_envelope(
        &self,
        _record: &InRecord,
        decoded: Decoded,
        _txn: &mut X,
    ) -> Result<(), HandlerError> {
        match decoded {
            Decoded::Group { envelope, .. } => match envelope.message {
                Message::Request(r) => {
                    self.tasks.lock().unwrap().push(r.task_id);
                    Ok(())
                }
                other => Err(HandlerError::Malformed(format!(
                    "unexpected message {other:?}"
                ))),
            },
            other => Err(HandlerError::Malformed(format!(
                "unexpected record {other:?}"
            ))),
        }
    }
}
