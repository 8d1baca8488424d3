//! [`KafkaTransport`]: the [`Transport`] on rskafka.
//!
//! Producing goes through a per-partition batcher (see `batcher.rs`): an idle partition
//! sends each record at once from the caller's task, a busy one batches everything that
//! queued up while the previous request was in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;
use tokio::sync::Mutex;

use super::batcher::PartitionBatcher;
use super::{
    FetchBatch, InRecord, OffsetQuery, OutRecord, PartitionReader, Produced, Transport,
    partition_for_key,
};
use crate::error::{Error, Result};
use crate::settings::{KafkaSettings, SaslMechanism};

/// Largest fetch response we ask for.
const MAX_FETCH_BYTES: i32 = 8 << 20;

/// The rskafka-backed transport. Cheap to share behind an `Arc`.
pub struct KafkaTransport {
    client: Client,
    brokers: String,
    partition_clients: Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
    batchers: Mutex<HashMap<(String, i32), Arc<PartitionBatcher>>>,
    partition_counts: Mutex<HashMap<String, Vec<i32>>>,
    compression: Compression,
    linger: Duration,
}

impl std::fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("brokers", &self.brokers)
            .finish_non_exhaustive()
    }
}

impl KafkaTransport {
    /// Connects to the brokers (fetching cluster metadata once, so a wrong address,
    /// password or mechanism fails here, with an error that says which).
    pub async fn connect(settings: &KafkaSettings) -> Result<Self> {
        settings.validate()?;
        let brokers = settings.brokers_label();
        let mut builder = ClientBuilder::new(settings.brokers.clone())
            .client_id(settings.client_id.clone())
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
                deadline: Some(settings.request_timeout),
            });
        if settings.uses_tls() {
            builder = builder.tls_config(super::tls::client_config(&settings.tls)?);
        }
        if let Some(mech) = settings.sasl_mechanism {
            let creds = Credentials::new(
                settings.sasl_username.clone(),
                settings.sasl_password.clone(),
            );
            builder = builder.sasl_config(match mech {
                SaslMechanism::Plain => SaslConfig::Plain(creds),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(creds),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(creds),
            });
        }
        let client = builder
            .build()
            .await
            .map_err(|e| connect_error(settings, &e))?;
        // `build` only connects lazily on some paths: ask for metadata to prove the
        // address, TLS and credentials all work.
        client
            .list_topics()
            .await
            .map_err(|e| connect_error(settings, &e))?;
        Ok(Self {
            client,
            brokers,
            partition_clients: Mutex::new(HashMap::new()),
            batchers: Mutex::new(HashMap::new()),
            partition_counts: Mutex::new(HashMap::new()),
            compression: Compression::NoCompression,
            linger: Duration::ZERO,
        })
    }

    /// Compress produce requests with this codec (default: none).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Wait this long after the first queued record for more before sending (default:
    /// zero: batching happens only while a previous request is in flight).
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The bootstrap addresses this transport was built with.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Lists the (non-internal) topics of the cluster with their partition ids.
    pub async fn list_topics(&self) -> Result<Vec<(String, Vec<i32>)>> {
        let topics = self
            .client
            .list_topics()
            .await
            .map_err(|e| kafka_error("metadata", "*", &e))?;
        Ok(topics
            .into_iter()
            .map(|t| (t.name, t.partitions.into_iter().collect()))
            .collect())
    }

    /// Deletes a topic (tests and tooling).
    pub async fn delete_topic(&self, topic: &str) -> Result<()> {
        let ctl = self
            .client
            .controller_client()
            .map_err(|e| kafka_error("delete topic", topic, &e))?;
        ctl.delete_topic(topic, 10_000)
            .await
            .map_err(|e| kafka_error("delete topic", topic, &e))?;
        self.partition_counts.lock().await.remove(topic);
        Ok(())
    }

    async fn partition_client(&self, topic: &str, partition: i32) -> Result<Arc<PartitionClient>> {
        let key = (topic.to_string(), partition);
        if let Some(pc) = self.partition_clients.lock().await.get(&key) {
            return Ok(Arc::clone(pc));
        }
        let pc = self
            .client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| kafka_error("connect partition", topic, &e))?;
        let pc = Arc::new(pc);
        self.partition_clients
            .lock()
            .await
            .entry(key)
            .or_insert_with(|| Arc::clone(&pc));
        Ok(pc)
    }

    async fn batcher(&self, topic: &str, partition: i32) -> Result<Arc<PartitionBatcher>> {
        let key = (topic.to_string(), partition);
        let mut batchers = self.batchers.lock().await;
        if let Some(b) = batchers.get(&key) {
            return Ok(Arc::clone(b));
        }
        // A connection of its own, so offset lookups never queue behind a produce.
        let pc = Arc::new(
            self.client
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| kafka_error("connect partition", topic, &e))?,
        );
        let b = Arc::new(PartitionBatcher::new(pc, self.compression, self.linger));
        batchers.insert(key, Arc::clone(&b));
        Ok(b)
    }
}

#[async_trait]
impl Transport for KafkaTransport {
    async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<()> {
        let ctl = self
            .client
            .controller_client()
            .map_err(|e| kafka_error("create topic", topic, &e))?;
        match ctl
            .create_topic(topic, partitions, replication_factor, 10_000)
            .await
        {
            Ok(()) => {}
            Err(RsError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => return Err(kafka_error("create topic", topic, &e)),
        }
        // Wait until the metadata shows every partition with a leader we can talk to.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.partitions(topic).await {
                Ok(ps) if !ps.is_empty() => return Ok(()),
                Ok(_) | Err(Error::UnknownTopic { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(_) => {
                    return Err(Error::UnknownTopic {
                        topic: topic.into(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn partitions(&self, topic: &str) -> Result<Vec<i32>> {
        if let Some(ps) = self.partition_counts.lock().await.get(topic) {
            return Ok(ps.clone());
        }
        let topics = self.list_topics().await?;
        let Some((_, ps)) = topics.into_iter().find(|(name, _)| name == topic) else {
            return Err(Error::UnknownTopic {
                topic: topic.into(),
            });
        };
        if !ps.is_empty() {
            self.partition_counts
                .lock()
                .await
                .insert(topic.to_string(), ps.clone());
        }
        Ok(ps)
    }

    async fn produce(&self, topic: &str, record: OutRecord) -> Result<Produced> {
        let partitions = self.partitions(topic).await?;
        let partition = match &record.key {
            Some(key) => partitions[partition_for_key(key, partitions.len()) as usize],
            None => partitions[0],
        };
        let batcher = self.batcher(topic, partition).await?;
        let rec = Record {
            key: record.key,
            value: Some(record.value),
            headers: record.headers,
            timestamp: chrono::Utc::now(),
        };
        let offset = batcher.produce(rec).await?;
        Ok(Produced { partition, offset })
    }

    async fn reader(&self, topic: &str, partition: i32) -> Result<Box<dyn PartitionReader>> {
        let pc = self
            .client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| kafka_error("connect partition", topic, &e))?;
        Ok(Box::new(KafkaReader { pc }))
    }

    async fn offset(&self, topic: &str, partition: i32, query: OffsetQuery) -> Result<i64> {
        let pc = self.partition_client(topic, partition).await?;
        lookup_offset(&pc, query).await
    }
}

/// A partition reader with its own connection.
struct KafkaReader {
    pc: PartitionClient,
}

#[async_trait]
impl PartitionReader for KafkaReader {
    async fn fetch(&self, offset: i64, max_wait: Duration) -> Result<FetchBatch> {
        let (topic, partition) = (self.pc.topic(), self.pc.partition());
        let wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        let (records, high_watermark) = match self
            .pc
            .fetch_records(offset, 1..MAX_FETCH_BYTES, wait_ms)
            .await
        {
            Ok(r) => r,
            Err(RsError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            }) => {
                return Err(Error::OffsetOutOfRange {
                    topic: topic.into(),
                    partition,
                    offset,
                });
            }
            Err(e) => return Err(kafka_error("fetch", topic, &e)),
        };
        let records = records
            .into_iter()
            .filter(|r| r.offset >= offset)
            .map(|r| InRecord {
                topic: topic.to_string(),
                partition,
                offset: r.offset,
                key: r.record.key,
                value: r.record.value.unwrap_or_default(),
                headers: r.record.headers,
                timestamp: r.record.timestamp,
            })
            .collect();
        Ok(FetchBatch {
            records,
            high_watermark,
        })
    }

    async fn offset(&self, query: OffsetQuery) -> Result<i64> {
        lookup_offset(&self.pc, query).await
    }
}

async fn lookup_offset(pc: &PartitionClient, query: OffsetQuery) -> Result<i64> {
    let topic = pc.topic();
    let list = |at: OffsetAt| async move {
        pc.get_offset(at)
            .await
            .map_err(|e| kafka_error("list offsets", topic, &e))
    };
    match query {
        OffsetQuery::Earliest => list(OffsetAt::Earliest).await,
        OffsetQuery::Latest => list(OffsetAt::Latest).await,
        OffsetQuery::At(t) => {
            // The end is read first: when no record is at or after `t`, reading from it
            // misses nothing, even a record produced between the two lookups (asking for
            // the end afterwards would skip that record).
            let end = list(OffsetAt::Latest).await?;
            let o = list(OffsetAt::Timestamp(t)).await?;
            Ok(if o < 0 { end } else { o })
        }
    }
}

fn kafka_error(operation: &'static str, topic: &str, e: &RsError) -> Error {
    if let RsError::ServerError {
        protocol_error: ProtocolError::UnknownTopicOrPartition,
        ..
    } = e
    {
        return Error::UnknownTopic {
            topic: topic.into(),
        };
    }
    Error::Kafka {
        operation,
        topic: topic.into(),
        reason: e.to_string(),
    }
}

/// Turns a connection-time failure into an error that says which layer failed.
fn connect_error(settings: &KafkaSettings, e: &RsError) -> Error {
    let brokers = settings.brokers_label();
    let text = error_chain(e);
    let lower = text.to_ascii_lowercase();
    let mechanism = settings
        .sasl_mechanism
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    if lower.contains("unsupportedsaslmechanism") || lower.contains("unsupported sasl mechanism") {
        return Error::UnsupportedMechanism {
            brokers,
            mechanism,
            reason: text,
        };
    }
    if lower.contains("sasl") || lower.contains("authentication") {
        return Error::Authentication {
            brokers,
            mechanism,
            user: settings.sasl_username.clone(),
            reason: text,
        };
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return Error::Tls {
            context: format!("handshake with {brokers}"),
            reason: text,
        };
    }
    Error::Connect {
        brokers,
        reason: text,
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
}
