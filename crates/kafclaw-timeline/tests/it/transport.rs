//! The timeline as the durable offset store of the Kafka consumer, against the real
//! broker: a crash mid-record neither loses the record nor handles it twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, HandlerError, InRecord, KafkaSettings, KafkaTransport,
    OutRecord, RecordHandler, StartAt, Subscription, Transport,
};
use kafclaw_testkit::{maybe_skip_kafka, random_topic_name, wait_until};
use kafclaw_timeline::{EventFilter, NewEvent, RecordTx, Timeline, TimelineOptions};

/// Writes one event per record inside the record's transaction. With `hang_at`, it
/// writes the effect of that record and then never finishes, like a process that dies
/// before committing.
struct EventWriter {
    hang_at: Option<i64>,
    hanging: Arc<AtomicBool>,
}

#[async_trait]
impl RecordHandler<RecordTx> for EventWriter {
    async fn handle(&self, record: &InRecord, tx: &mut RecordTx) -> Result<(), HandlerError> {
        let seq = String::from_utf8_lossy(&record.value).into_owned();
        tx.append_event(NewEvent {
            event_type: "message_in".into(),
            sender: "peer".into(),
            channel: "group".into(),
            content: seq,
            ..Default::default()
        })
        .await
        .map_err(|e| HandlerError::Failed(e.to_string()))?;
        if self.hang_at == Some(record.offset) {
            self.hanging.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn contents(tl: &Timeline) -> Vec<String> {
    let filter = EventFilter {
        limit: Some(1000),
        ..Default::default()
    };
    let mut v: Vec<String> = tl
        .list_events(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.content)
        .collect();
    v.sort_by_key(|s| s.parse::<i64>().unwrap_or(-1));
    v
}

#[test]
fn crash_mid_record_resumes_without_loss_or_double_handling() {
    let broker = maybe_skip_kafka!();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("timeline.db");
    let topic = random_topic_name("durable");
    const TOTAL: i64 = 20;
    const CRASH_AT: i64 = 10;

    // First life: handles records 0..9, dies while handling record 10.
    let hanging = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Runtime::new().unwrap();
    {
        let hanging = Arc::clone(&hanging);
        let db = db.clone();
        let topic = topic.clone();
        let brokers = broker.brokers.clone();
        rt.spawn(async move {
            let t = Arc::new(
                KafkaTransport::connect(&KafkaSettings::plaintext(&brokers))
                    .await
                    .unwrap(),
            );
            t.ensure_topic(&topic, 1, 1).await.unwrap();
            for i in 0..TOTAL {
                t.produce(
                    &topic,
                    OutRecord::keyed("k", i.to_string()).with_message_id(&format!("m{i}")),
                )
                .await
                .unwrap();
            }
            let tl = Timeline::open(TimelineOptions::new(&db)).await.unwrap();
            let c = BroadcastConsumer::new(
                t,
                Arc::new(tl),
                Arc::new(EventWriter {
                    hang_at: Some(CRASH_AT),
                    hanging,
                }),
                ConsumerOptions::new("agent-1"),
            );
            c.subscribe(Subscription::resume(&topic, StartAt::Earliest))
                .await
                .unwrap();
            std::future::pending::<()>().await;
        });
    }
    assert!(wait_until(
        Duration::from_secs(60),
        Duration::from_millis(20),
        || hanging.load(Ordering::SeqCst)
    ));
    // The crash: every task of the first life is dropped where it stands.
    rt.shutdown_timeout(Duration::from_secs(5));

    // Second life on the same database file.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tl = Timeline::open(TimelineOptions::new(&db)).await.unwrap();
        let before = contents(&tl).await;
        assert_eq!(
            before,
            (0..CRASH_AT).map(|i| i.to_string()).collect::<Vec<_>>(),
            "the uncommitted effect of record {CRASH_AT} was rolled back"
        );
        assert_eq!(
            tl.load_offsets("agent-1", &topic).await.unwrap().get(&0),
            Some(&CRASH_AT)
        );

        let t = Arc::new(
            KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
                .await
                .unwrap(),
        );
        // A producer retry delivers a copy of an already handled message at a new offset.
        t.produce(&topic, OutRecord::keyed("k", "3").with_message_id("m3"))
            .await
            .unwrap();
        let c = BroadcastConsumer::new(
            Arc::clone(&t),
            Arc::new(tl.clone()),
            Arc::new(EventWriter {
                hang_at: None,
                hanging: Arc::new(AtomicBool::new(false)),
            }),
            ConsumerOptions::new("agent-1"),
        );
        c.subscribe(Subscription::resume(&topic, StartAt::Earliest))
            .await
            .unwrap();
        let ok = kafclaw_testkit::wait_until_async(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                tl.load_offsets("agent-1", &topic).await.unwrap().get(&0) == Some(&(TOTAL + 1))
            },
        )
        .await;
        assert!(ok, "the second life read to the end: {:?}", c.stats());
        let after = contents(&tl).await;
        assert_eq!(
            after,
            (0..TOTAL).map(|i| i.to_string()).collect::<Vec<_>>(),
            "every record handled exactly once"
        );
        let stats = c.stats();
        assert_eq!(
            (stats.handled, stats.duplicates),
            ((TOTAL - CRASH_AT) as u64, 1),
            "{stats:?}"
        );
        c.shutdown().await;
        t.delete_topic(&topic).await.unwrap();
    });
}
