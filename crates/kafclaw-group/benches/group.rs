//! Group benchmark: the request→response round trip between two agents with an echo
//! handler, next to the raw transport round trip (produce→consume→produce→consume
//! through `KafkaTransport` + `BroadcastConsumer`) measured in the same run, and the
//! time 50 agents in one process take to converge on a 50-member roster.
//!
//! Run with `cargo xtask bench group` (which starts a broker) or with
//! `KAFCLAW_BENCH_BROKERS=host:port cargo bench -p kafclaw-group --bench group`.
//! `KAFCLAW_BENCH_ITERATIONS` (default 500) sets the round trips per measure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, GroupAgent, GroupStore, HandlerError, InRecord,
    IncomingTask, KafkaSettings, KafkaTransport, MemoryOffsetStore, MemoryTxn, OutRecord,
    RecordHandler, StartAt, Subscription, TaskSpec, Transport,
};
use kafclaw_timeline::{Timeline, TimelineOptions};
use tokio::sync::mpsc;

const WARMUP: usize = 50;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Side B of the raw round trip: answers every record on the request topic.
struct Echo {
    transport: Arc<KafkaTransport>,
    topic: String,
}

#[async_trait]
impl RecordHandler<MemoryTxn> for Echo {
    async fn handle(&self, r: &InRecord, _t: &mut MemoryTxn) -> Result<(), HandlerError> {
        let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
        self.transport
            .produce(&self.topic, OutRecord::keyed(key, r.value.clone()))
            .await
            .map_err(|e| HandlerError::Failed(e.to_string()))?;
        Ok(())
    }
}

/// Side A: reports the key of every answer.
struct Notify(mpsc::UnboundedSender<String>);

#[async_trait]
impl RecordHandler<MemoryTxn> for Notify {
    async fn handle(&self, r: &InRecord, _t: &mut MemoryTxn) -> Result<(), HandlerError> {
        let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
        let _ = self.0.send(key);
        Ok(())
    }
}

async fn raw_round_trips(
    settings: &KafkaSettings,
    run: &str,
    iterations: usize,
) -> anyhow::Result<Vec<Duration>> {
    let a = Arc::new(KafkaTransport::connect(settings).await?);
    let b = Arc::new(KafkaTransport::connect(settings).await?);
    let (req, resp) = (
        format!("bench-raw-req-{run}"),
        format!("bench-raw-resp-{run}"),
    );
    a.ensure_topic(&req, 3, 1).await?;
    a.ensure_topic(&resp, 3, 1).await?;
    let echo = BroadcastConsumer::new(
        Arc::clone(&b),
        Arc::new(MemoryOffsetStore::new()),
        Arc::new(Echo {
            transport: Arc::clone(&b),
            topic: resp.clone(),
        }),
        ConsumerOptions::new("raw-b"),
    );
    echo.subscribe(Subscription::fresh(&req, StartAt::Latest))
        .await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let answers = BroadcastConsumer::new(
        Arc::clone(&a),
        Arc::new(MemoryOffsetStore::new()),
        Arc::new(Notify(tx)),
        ConsumerOptions::new("raw-a"),
    );
    answers
        .subscribe(Subscription::fresh(&resp, StartAt::Latest))
        .await?;
    // A value of the size of a request envelope.
    let value = vec![b'x'; 320];
    let mut lat = Vec::with_capacity(iterations);
    for i in 0..iterations + WARMUP {
        let key = format!("{run}-{i}");
        let start = Instant::now();
        a.produce(&req, OutRecord::keyed(key.clone(), value.clone()))
            .await?;
        loop {
            let got = rx
                .recv()
                .await
                .ok_or_else(|| anyhow::anyhow!("raw consumer stopped"))?;
            if got == key {
                break;
            }
        }
        if i >= WARMUP {
            lat.push(start.elapsed());
        }
    }
    echo.shutdown().await;
    answers.shutdown().await;
    let _ = a.delete_topic(&req).await;
    let _ = a.delete_topic(&resp).await;
    lat.sort();
    Ok(lat)
}

async fn agent_round_trips<S: GroupStore>(
    settings: &KafkaSettings,
    group: &str,
    stores: (Arc<S>, Arc<S>),
    iterations: usize,
    open: bool,
    quiet: bool,
) -> anyhow::Result<Vec<Duration>> {
    let b = GroupAgent::builder(settings.clone(), group, "bench-b")
        .store(stores.1)
        .task_handler(|task: IncomingTask| {
            let answer = task.content().to_owned();
            async move { Ok(answer) }
        })
        .build()
        .await?;
    let a = GroupAgent::builder(settings.clone(), group, "bench-a")
        .store(stores.0)
        .build()
        .await?;
    b.join().await?;
    a.join().await?;
    // Each round trip puts five records in front of both agents: the request, three
    // statuses and the response.
    let handled = |x: &GroupAgent<S>| x.stats().consumer.handled;
    let (base_a, base_b) = (handled(&a), handled(&b));
    let mut lat = Vec::with_capacity(iterations);
    for i in 0..iterations + WARMUP {
        let text = format!("ping {i}");
        let spec = if open {
            TaskSpec::open(text.clone())
        } else {
            TaskSpec::to("bench-b", text.clone())
        };
        let start = Instant::now();
        let resp = a.submit(spec.timeout(Duration::from_secs(30))).await?;
        let took = start.elapsed();
        anyhow::ensure!(resp.content == text, "wrong answer {resp:?}");
        if i >= WARMUP {
            lat.push(took);
        }
        if quiet {
            // Start the next round trip once the statuses trailing this one are read,
            // as the raw round trip starts on a quiet broker.
            let want = 5 * (i as u64 + 1);
            let deadline = Instant::now() + Duration::from_secs(10);
            while handled(&a) - base_a < want || handled(&b) - base_b < want {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "statuses of round trip {i} missing"
                );
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
    }
    a.shutdown().await;
    b.shutdown().await;
    lat.sort();
    Ok(lat)
}

async fn roster_convergence(
    settings: &KafkaSettings,
    group: &str,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let transport = Arc::new(KafkaTransport::connect(settings).await?);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let t = Arc::clone(&transport);
        let settings = settings.clone();
        let group = group.to_owned();
        set.spawn(async move {
            GroupAgent::builder(settings, group, format!("agent-{i:02}"))
                .transport(t)
                .topic_layout(1, 1)
                .heartbeat_interval(Duration::from_secs(2))
                .onboard_timeout(Duration::from_secs(10))
                .build()
                .await
        });
    }
    let mut agents = Vec::with_capacity(n);
    while let Some(a) = set.join_next().await {
        agents.push(a??);
    }
    let built = start.elapsed();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for a in &agents {
        let a = a.clone();
        set.spawn(async move { a.join().await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !agents.iter().all(|a| a.roster().len() == n) {
        anyhow::ensure!(Instant::now() < deadline, "no convergence within 120 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let converged = start.elapsed();
    for a in &agents {
        a.shutdown().await;
    }
    Ok((built, converged))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let brokers = std::env::var("KAFCLAW_BENCH_BROKERS")
        .or_else(|_| std::env::var("KAFCLAW_TEST_BROKERS"))
        .map_err(|_| {
            anyhow::anyhow!("set KAFCLAW_BENCH_BROKERS (or run `cargo xtask bench group`)")
        })?;
    let iterations: usize = std::env::var("KAFCLAW_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let run = format!("{}", chrono::Utc::now().timestamp_millis());
    let settings = KafkaSettings::plaintext(&brokers);
    let dir = tempfile::tempdir()?;

    let raw = raw_round_trips(&settings, &run, iterations).await?;
    let mem = agent_round_trips(
        &settings,
        &format!("bench-mem-{run}"),
        (
            Arc::new(MemoryOffsetStore::new()),
            Arc::new(MemoryOffsetStore::new()),
        ),
        iterations,
        false,
        true,
    )
    .await?;
    let busy = agent_round_trips(
        &settings,
        &format!("bench-busy-{run}"),
        (
            Arc::new(MemoryOffsetStore::new()),
            Arc::new(MemoryOffsetStore::new()),
        ),
        iterations,
        false,
        false,
    )
    .await?;
    let open = agent_round_trips(
        &settings,
        &format!("bench-open-{run}"),
        (
            Arc::new(MemoryOffsetStore::new()),
            Arc::new(MemoryOffsetStore::new()),
        ),
        iterations,
        true,
        true,
    )
    .await?;
    let tl_a = Arc::new(Timeline::open(TimelineOptions::new(dir.path().join("a.db"))).await?);
    let tl_b = Arc::new(Timeline::open(TimelineOptions::new(dir.path().join("b.db"))).await?);
    let durable = agent_round_trips(
        &settings,
        &format!("bench-tl-{run}"),
        (tl_a, tl_b),
        iterations,
        false,
        true,
    )
    .await?;
    let (built, converged) =
        roster_convergence(&settings, &format!("bench-roster-{run}"), 50).await?;

    let (r50, r99) = (pct(&raw, 0.5), pct(&raw, 0.99));
    println!(
        "group benchmark: {iterations} round trips per measure (after {WARMUP} warm-up), broker {brokers}, one process"
    );
    println!(
        "{:<52} {:>9} {:>9} {:>10} {:>10}",
        "round trip", "p50 ms", "p99 ms", "p50 ratio", "p99 ratio"
    );
    let row = |name: &str, lat: &[Duration]| {
        let (p50, p99) = (pct(lat, 0.5), pct(lat, 0.99));
        println!(
            "{:<52} {:>9.3} {:>9.3} {:>10.2} {:>10.2}",
            name,
            ms(p50),
            ms(p99),
            ms(p50) / ms(r50),
            ms(p99) / ms(r99)
        );
    };
    row("raw transport produce→consume→produce→consume", &raw);
    row("agent submit --to, echo handler (memory offsets)", &mem);
    row("  same, back to back (previous statuses in flight)", &busy);
    row(
        "agent submit --to, echo handler (timeline SQLite)",
        &durable,
    );
    row("agent open task with claim, echo (memory offsets)", &open);
    println!(
        "roster convergence, 50 agents in one process: built (topics, look-back read) in {:.2} s, all joined and every roster at 50 members {:.2} s after the joins started",
        built.as_secs_f64(),
        converged.as_secs_f64()
    );
    Ok(())
}
