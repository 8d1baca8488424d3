//! The broker is stopped and restarted while a producer and a consumer run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, KafkaSettings, KafkaTransport, MemoryOffsetStore,
    OutRecord, StartAt, Subscription, Transport,
};
use kafclaw_testkit::{TestBroker, random_topic_name, wait_until_async};

use crate::support::Recorder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing_and_handles_everything_once() {
    let Some(broker) = TestBroker::exclusive() else {
        return;
    };
    let mut settings = KafkaSettings::plaintext(&broker.brokers);
    settings.request_timeout = Duration::from_secs(5);
    let t = Arc::new(KafkaTransport::connect(&settings).await.unwrap());
    let topic = random_topic_name("restart");
    t.ensure_topic(&topic, 3, 1).await.unwrap();

    let rec = Recorder::new();
    let consumer = BroadcastConsumer::new(
        Arc::clone(&t),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&rec),
        ConsumerOptions::new("survivor"),
    );
    consumer
        .subscribe(Subscription::resume(&topic, StartAt::Earliest))
        .await
        .unwrap();

    const TOTAL: usize = 300;
    let produced = Arc::new(AtomicUsize::new(0));
    let producer = {
        let t = Arc::clone(&t);
        let topic = topic.clone();
        let produced = Arc::clone(&produced);
        tokio::spawn(async move {
            let mut failures = 0usize;
            for i in 0..TOTAL {
                let record =
                    OutRecord::keyed(format!("key-{}", i % 7), format!(r#"{{"seq":{i}}}"#))
                        .with_message_id(&format!("msg-{i}"));
                // Retry the same record (same message id) until the broker takes it.
                loop {
                    let t0 = std::time::Instant::now();
                    let r = t.produce(&topic, record.clone()).await;
                    if t0.elapsed() > Duration::from_secs(1) {
                        eprintln!(
                            "produce {i} took {:?}: {:?}",
                            t0.elapsed(),
                            r.as_ref().err()
                        );
                    }
                    match r {
                        Ok(_) => break,
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                produced.store(i + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        })
    };

    // Let some records through, then restart the broker under the running agent.
    let p = Arc::clone(&produced);
    assert!(
        wait_until_async(
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async { p.load(Ordering::SeqCst) >= 50 }
        )
        .await
    );
    let before = std::time::Instant::now();
    let outcome = tokio::task::block_in_place(|| broker.restart()).expect("restart the broker");
    eprintln!("broker restarted ({outcome:?}) in {:?}", before.elapsed());

    let failures = producer.await.unwrap();
    eprintln!(
        "producer done after {:?}; handled so far {}",
        before.elapsed(),
        rec.len()
    );
    rec.wait_for(TOTAL, Duration::from_secs(120)).await;
    // Give a late duplicate the chance to show up before counting.
    let c = consumer.clone();
    wait_until_async(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { c.lag().iter().all(|l| l.lag == 0) },
    )
    .await;

    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in rec.seen.lock().unwrap().iter() {
        *counts
            .entry(r.message_id().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), TOTAL, "every record produced was handled");
    assert!(
        counts.values().all(|&n| n == 1),
        "no record handled twice: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let stats = consumer.stats();
    assert_eq!(stats.handled as usize, TOTAL, "{stats:?}");
    eprintln!("producer retries during the restart: {failures}; consumer stats: {stats:?}");
    consumer.shutdown().await;
    t.delete_topic(&topic).await.unwrap();
}
