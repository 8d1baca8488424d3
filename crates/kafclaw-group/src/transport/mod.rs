//! The transport seam: what the group protocol needs from Kafka, and its rskafka implementation.

mod batcher;
mod kafka;
mod partitioner;
mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

pub use kafka::KafkaTransport;
pub use partitioner::partition_for_key;

/// The rustls client configuration [`KafkaTransport`] uses for these TLS files: the
/// ring provider, roots from the CA file (or the system store), and the client
/// certificate for mutual TLS. Public for tools that speak TLS to a broker themselves
/// (kshark's handshake check), so they trust exactly what the transport trusts.
pub fn tls_client_config(files: &crate::TlsFiles) -> Result<std::sync::Arc<rustls::ClientConfig>> {
    tls::client_config(files)
}

/// Record header that carries the envelope's unique message id, so a consumer can
/// de-duplicate without parsing the value.
pub const HEADER_MESSAGE_ID: &str = "kafclaw-message-id";

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutRecord {
    /// The key; it chooses the partition (records with one key stay in order).
    pub key: Option<Vec<u8>>,
    /// The value (an envelope's JSON bytes).
    pub value: Vec<u8>,
    /// Record headers.
    pub headers: BTreeMap<String, Vec<u8>>,
}

impl OutRecord {
    /// A record with a UTF-8 key and a value.
    pub fn keyed(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: Some(key.into().into_bytes()),
            value: value.into(),
            headers: BTreeMap::new(),
        }
    }

    /// Adds the message-id header.
    pub fn with_message_id(mut self, id: &str) -> Self {
        self.headers
            .insert(HEADER_MESSAGE_ID.into(), id.as_bytes().to_vec());
        self
    }
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    /// Partition id.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRecord {
    /// Topic name.
    pub topic: String,
    /// Partition id.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Value (empty for a tombstone).
    pub value: Vec<u8>,
    /// Headers.
    pub headers: BTreeMap<String, Vec<u8>>,
    /// The record's timestamp.
    pub timestamp: DateTime<Utc>,
}

impl InRecord {
    /// The message id from the [`HEADER_MESSAGE_ID`] header, if present and UTF-8.
    pub fn message_id(&self) -> Option<&str> {
        self.headers
            .get(HEADER_MESSAGE_ID)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// The result of one fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchBatch {
    /// Records at or after the requested offset, in offset order.
    pub records: Vec<InRecord>,
    /// The partition's high watermark (offset of the next record to be written).
    pub high_watermark: i64,
}

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The earliest offset still retained.
    Earliest,
    /// The high watermark.
    Latest,
    /// The first offset whose record timestamp is at or after this time (the high
    /// watermark when there is none).
    At(DateTime<Utc>),
}

/// What the group protocol needs from Kafka. Implemented by [`KafkaTransport`].
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Creates the topic with this partition count and replication factor unless it
    /// exists; waits until its metadata is visible.
    async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<()>;
    /// The partition ids of a topic ([`crate::Error::UnknownTopic`] if it does not exist).
    async fn partitions(&self, topic: &str) -> Result<Vec<i32>>;
    /// Produces one record; the partition is chosen from the key ([`partition_for_key`]),
    /// records without a key go to partition 0.
    async fn produce(&self, topic: &str, record: OutRecord) -> Result<Produced>;
    /// Opens a reader for one partition. Each reader has a connection of its own, so a
    /// reader waiting for new records never delays producers or other readers.
    async fn reader(&self, topic: &str, partition: i32) -> Result<Box<dyn PartitionReader>>;
    /// Looks up an offset.
    async fn offset(&self, topic: &str, partition: i32, query: OffsetQuery) -> Result<i64>;
}

/// Reads one partition (see [`Transport::reader`]).
#[async_trait]
pub trait PartitionReader: Send + Sync {
    /// Fetches records from `offset`, waiting up to `max_wait` when there are none.
    async fn fetch(&self, offset: i64, max_wait: Duration) -> Result<FetchBatch>;
    /// Looks up an offset of this partition.
    async fn offset(&self, query: OffsetQuery) -> Result<i64>;
}
