//! Decoding consumed records into envelopes before they reach protocol code.
//!
//! [`Decoding`] wraps an [`EnvelopeHandler`] as a [`RecordHandler`]: it decodes each
//! record with kafclaw-envelope (by topic, leniently, as a Go agent would) and turns a
//! record that is not an envelope (not JSON, JSON that is not an object, a malformed
//! LFS pointer) into [`HandlerError::Malformed`], which the consumer counts and skips.

use async_trait::async_trait;
use kafclaw_envelope::{Decoded, decode_record_on};

use crate::consumer::{HandlerError, RecordHandler};
use crate::offsets::RecordTxn;
use crate::transport::InRecord;

/// Handles decoded envelopes inside the record's transaction.
#[async_trait]
pub trait EnvelopeHandler<X: RecordTxn>: Send + Sync + 'static {
    /// Handles one decoded record. `decoded` is never [`Decoded::Raw`].
    async fn handle_envelope(
        &self,
        record: &InRecord,
        decoded: Decoded,
        txn: &mut X,
    ) -> Result<(), HandlerError>;

    /// Whether records of `topic` are worth decoding a second time for
    /// [`EnvelopeHandler::preview_envelope`]. Default: no.
    fn wants_preview(&self, _topic: &str) -> bool {
        false
    }

    /// Sees a decoded record before its transaction begins (see
    /// [`RecordHandler::preview`]); called only for topics [`Self::wants_preview`]
    /// accepts. Default: nothing.
    fn preview_envelope(&self, _record: &InRecord, _decoded: &Decoded) {}
}

#[async_trait]
impl<X: RecordTxn, H: EnvelopeHandler<X>> EnvelopeHandler<X> for std::sync::Arc<H> {
    async fn handle_envelope(
        &self,
        record: &InRecord,
        decoded: Decoded,
        txn: &mut X,
    ) -> Result<(), HandlerError> {
        (**self).handle_envelope(record, decoded, txn).await
    }

    fn wants_preview(&self, topic: &str) -> bool {
        (**self).wants_preview(topic)
    }

    fn preview_envelope(&self, record: &InRecord, decoded: &Decoded) {
        (**self).preview_envelope(record, decoded);
    }
}

/// A [`RecordHandler`] that decodes envelopes for an [`EnvelopeHandler`].
#[derive(Debug, Clone)]
pub struct Decoding<H>(pub H);

#[async_trait]
impl<X: RecordTxn, H: EnvelopeHandler<X>> RecordHandler<X> for Decoding<H> {
    async fn handle(&self, record: &InRecord, txn: &mut X) -> Result<(), HandlerError> {
        match decode_record_on(&record.topic, &record.value) {
            Ok(Decoded::Raw(v)) => Err(HandlerError::Malformed(format!(
                "not an envelope: a JSON {} instead of an object",
                json_kind(&v)
            ))),
            Ok(decoded) => self.0.handle_envelope(record, decoded, txn).await,
            Err(e) => Err(HandlerError::Malformed(e.to_string())),
        }
    }

    fn preview(&self, record: &InRecord) {
        if !self.0.wants_preview(&record.topic) {
            return;
        }
        // A record that does not decode is reported by `handle`, not here.
        if let Ok(decoded) = decode_record_on(&record.topic, &record.value)
            && !matches!(decoded, Decoded::Raw(_))
        {
            self.0.preview_envelope(record, &decoded);
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
