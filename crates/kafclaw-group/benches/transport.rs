//! Transport benchmark: produce→consume latency of 1 KiB records through
//! `KafkaTransport` + `BroadcastConsumer`, next to bare rskafka in the same run, and
//! records/s at saturation. Run with `cargo xtask bench transport` (which starts a broker
//! when none is given) or with `KAFCLAW_BENCH_BROKERS=host:port cargo bench -p kafclaw-group --bench transport`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, HandlerError, InRecord, KafkaSettings, KafkaTransport,
    MemoryOffsetStore, MemoryTxn, OutRecord, RecordHandler, StartAt, Subscription, Transport,
};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use tokio::sync::mpsc;

const PAYLOAD: usize = 1024;

struct Notify(mpsc::UnboundedSender<i64>);

#[async_trait]
impl RecordHandler<MemoryTxn> for Notify {
    async fn handle(&self, r: &InRecord, _t: &mut MemoryTxn) -> Result<(), HandlerError> {
        let _ = self.0.send(r.offset);
        Ok(())
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let brokers = std::env::var("KAFCLAW_BENCH_BROKERS")
        .or_else(|_| std::env::var("KAFCLAW_TEST_BROKERS"))
        .map_err(|_| {
            anyhow::anyhow!("set KAFCLAW_BENCH_BROKERS (or run `cargo xtask bench transport`)")
        })?;
    let iterations: usize = std::env::var("KAFCLAW_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let saturation: usize = std::env::var("KAFCLAW_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let run = format!("{}", chrono::Utc::now().timestamp_millis());
    let value = vec![b'x'; PAYLOAD];

    // --- through the transport
    let transport = Arc::new(KafkaTransport::connect(&KafkaSettings::plaintext(&brokers)).await?);
    let topic_t = format!("bench-transport-{run}");
    transport.ensure_topic(&topic_t, 1, 1).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = BroadcastConsumer::new(
        Arc::clone(&transport),
        Arc::new(MemoryOffsetStore::new()),
        Arc::new(Notify(tx)),
        ConsumerOptions::new("bench"),
    );
    consumer
        .subscribe(Subscription::fresh(&topic_t, StartAt::Latest))
        .await?;
    // --- bare rskafka: produce with a partition client, a second one long-polls
    let client = ClientBuilder::new(vec![brokers.clone()]).build().await?;
    let topic_r = format!("bench-rskafka-{run}");
    client
        .controller_client()?
        .create_topic(&topic_r, 1, 1, 10_000)
        .await?;
    let producer = client
        .partition_client(&topic_r, 0, UnknownTopicHandling::Retry)
        .await?;
    let fetcher = Arc::new(
        client
            .partition_client(&topic_r, 0, UnknownTopicHandling::Retry)
            .await?,
    );
    let (ftx, mut frx) = mpsc::unbounded_channel();
    let f2 = Arc::clone(&fetcher);
    let fetch_task = tokio::spawn(async move {
        let mut next = 0i64;
        loop {
            match f2.fetch_records(next, 1..8 << 20, 500).await {
                Ok((recs, _hw)) => {
                    for r in recs {
                        if r.offset >= next {
                            next = r.offset + 1;
                            if ftx.send(r.offset).is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(_) => return,
            }
        }
    });
    // Interleaved round by round, alternating which goes first, so load on the machine
    // and broker warm-up weigh on both alike.
    let mut lat_t = Vec::with_capacity(iterations);
    let mut lat_r = Vec::with_capacity(iterations);
    for i in 0..iterations + 50 {
        for which in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            let start = Instant::now();
            if which == 0 {
                let p = transport
                    .produce(&topic_t, OutRecord::keyed(format!("k{i}"), value.clone()))
                    .await?;
                loop {
                    let got = rx
                        .recv()
                        .await
                        .ok_or_else(|| anyhow::anyhow!("consumer stopped"))?;
                    if got == p.offset {
                        break;
                    }
                }
                if i >= 50 {
                    lat_t.push(start.elapsed());
                }
            } else {
                let rec = Record {
                    key: Some(format!("k{i}").into_bytes()),
                    value: Some(value.clone()),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                };
                let offs = producer
                    .produce(vec![rec], Compression::NoCompression)
                    .await?;
                loop {
                    let got = frx
                        .recv()
                        .await
                        .ok_or_else(|| anyhow::anyhow!("fetcher stopped"))?;
                    if got == offs[0] {
                        break;
                    }
                }
                if i >= 50 {
                    lat_r.push(start.elapsed());
                }
            }
        }
    }
    consumer.shutdown().await;

    fetch_task.abort();

    // --- saturation: many concurrent producers through the transport vs rskafka batches of 100
    let topic_s = format!("bench-sat-{run}");
    transport.ensure_topic(&topic_s, 3, 1).await?;
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let per_task = saturation / 64;
    for t in 0..64 {
        let tr = Arc::clone(&transport);
        let topic = topic_s.clone();
        let v = value.clone();
        set.spawn(async move {
            for i in 0..per_task {
                tr.produce(&topic, OutRecord::keyed(format!("{t}-{i}"), v.clone()))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let sat_t = (per_task * 64) as f64 / start.elapsed().as_secs_f64();

    // The same workload on bare rskafka: 64 callers, one partition client per partition,
    // each record its own request (rskafka has no batching of concurrent callers).
    let topic_s2 = format!("bench-sat-rs-{run}");
    client
        .controller_client()?
        .create_topic(&topic_s2, 3, 1, 10_000)
        .await?;
    let mut pcs = Vec::new();
    for p in 0..3 {
        pcs.push(Arc::new(
            client
                .partition_client(&topic_s2, p, UnknownTopicHandling::Retry)
                .await?,
        ));
    }
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..64 {
        let pcs = pcs.clone();
        let v = value.clone();
        set.spawn(async move {
            for i in 0..per_task {
                let key = format!("{t}-{i}").into_bytes();
                let p = kafclaw_group::partition_for_key(&key, 3) as usize;
                let rec = Record {
                    key: Some(key),
                    value: Some(v.clone()),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                };
                pcs[p]
                    .produce(vec![rec], Compression::NoCompression)
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let sat_r = (per_task * 64) as f64 / start.elapsed().as_secs_f64();

    // Upper bound: one caller sending ready-made batches of 100 records.
    let topic_s3 = format!("bench-sat-batch-{run}");
    client
        .controller_client()?
        .create_topic(&topic_s3, 1, 1, 10_000)
        .await?;
    let pc = client
        .partition_client(&topic_s3, 0, UnknownTopicHandling::Retry)
        .await?;
    let start = Instant::now();
    let total = per_task * 64;
    for chunk in 0..total.div_ceil(100) {
        let n = (total - chunk * 100).min(100);
        let recs = (0..n)
            .map(|i| Record {
                key: Some(format!("{chunk}-{i}").into_bytes()),
                value: Some(value.clone()),
                headers: BTreeMap::new(),
                timestamp: chrono::Utc::now(),
            })
            .collect();
        pc.produce(recs, Compression::NoCompression).await?;
    }
    let sat_batch = total as f64 / start.elapsed().as_secs_f64();

    for t in [&topic_t, &topic_r, &topic_s, &topic_s2, &topic_s3] {
        let _ = transport.delete_topic(t).await;
    }

    lat_t.sort();
    lat_r.sort();
    let (t50, t99, r50, r99) = (
        pct(&lat_t, 0.5),
        pct(&lat_t, 0.99),
        pct(&lat_r, 0.5),
        pct(&lat_r, 0.99),
    );
    println!(
        "transport benchmark: {iterations} round trips of {PAYLOAD} B records, broker {brokers}"
    );
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "measure", "transport", "bare rskafka", "ratio"
    );
    println!(
        "{:<34} {:>12.3} {:>12.3} {:>10.2}",
        "produce→consume p50 (ms)",
        ms(t50),
        ms(r50),
        ms(t50) / ms(r50)
    );
    println!(
        "{:<34} {:>12.3} {:>12.3} {:>10.2}",
        "produce→consume p99 (ms)",
        ms(t99),
        ms(r99),
        ms(t99) / ms(r99)
    );
    println!(
        "{:<34} {:>12.0} {:>12.0} {:>10.2}",
        "64 callers, records/s (higher=better)",
        sat_t,
        sat_r,
        sat_t / sat_r
    );
    println!(
        "{:<34} {:>12} {:>12.0}",
        "rskafka, 100-record batches, rec/s", "-", sat_batch
    );
    Ok(())
}
