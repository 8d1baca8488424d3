//! The timeline as kafclaw-group's durable [`OffsetStore`]: a consumed record's effect,
//! its de-duplication mark and its next offset commit in one SQLite transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use kafclaw_group::{OffsetStore, RecordPosition, RecordTxn, StoreError};

use crate::{RecordTx, Timeline};

fn store_err(e: crate::Error) -> StoreError {
    StoreError(e.to_string())
}

#[async_trait]
impl RecordTxn for RecordTx {
    fn already_seen(&self) -> bool {
        RecordTx::already_seen(self)
    }

    async fn commit(self) -> Result<(), StoreError> {
        RecordTx::commit(self).await.map_err(store_err)
    }
}

#[async_trait]
impl OffsetStore for Timeline {
    type Txn = RecordTx;

    async fn load_offsets(
        &self,
        consumer_id: &str,
        topic: &str,
    ) -> Result<HashMap<i32, i64>, StoreError> {
        Timeline::load_offsets(self, consumer_id, topic)
            .await
            .map_err(store_err)
    }

    async fn begin(&self, position: RecordPosition) -> Result<RecordTx, StoreError> {
        self.begin_record(
            &position.consumer_id,
            &position.topic,
            position.partition,
            position.offset,
            position.message_id.as_deref(),
        )
        .await
        .map_err(store_err)
    }
}
