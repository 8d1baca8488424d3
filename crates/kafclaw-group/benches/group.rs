//! Group benchmark: the request→response round trip between two agents with an echo
//! handler, next to the raw transport round trip (produce→consume→produce→consume
//! through `KafkaTransport` + `BroadcastConsumer`) measured in the same run, the same
//! raw round trip with the group's fan-out (each side also reads the topic it writes,
//! as every member reads every group topic), and the time 50 agents in one process take to converge on a 50-member roster.
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

/// Reads and drops records: the copy of its own records every group member reads.
struct Discard;

#[async_trait]
impl RecordHandler<MemoryTxn> for Discard {
    async fn handle(&self, _r: &InRecord, _t: &mut MemoryTxn) -> Result<(), HandlerError> {
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

/// The raw round trip: A produces to a request topic, B's consumer answers on a
/// response topic from inside its handler, A's consumer reports the answer.
struct RawRig {
    a: Arc<KafkaTransport>,
    req: String,
    resp: String,
    rx: mpsc::UnboundedReceiver<String>,
    echo: BroadcastConsumer<KafkaTransport, MemoryOffsetStore, Echo>,
    answers: BroadcastConsumer<KafkaTransport, MemoryOffsetStore, Notify>,
    /// With fan-out: A also reads the request topic and B the response topic, as every
    /// group member reads every group topic (its own records included).
    fanout: Vec<BroadcastConsumer<KafkaTransport, MemoryOffsetStore, Discard>>,
    value: Vec<u8>,
    run: String,
}

impl RawRig {
    async fn new(settings: &KafkaSettings, run: &str, fanout: bool) -> anyhow::Result<Self> {
        let a = Arc::new(KafkaTransport::connect(settings).await?);
        let b = Arc::new(KafkaTransport::connect(settings).await?);
        let tag = if fanout { "fan" } else { "raw" };
        let (req, resp) = (
            format!("bench-{tag}-req-{run}"),
            format!("bench-{tag}-resp-{run}"),
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
        let (tx, rx) = mpsc::unbounded_channel();
        let answers = BroadcastConsumer::new(
            Arc::clone(&a),
            Arc::new(MemoryOffsetStore::new()),
            Arc::new(Notify(tx)),
            ConsumerOptions::new("raw-a"),
        );
        answers
            .subscribe(Subscription::fresh(&resp, StartAt::Latest))
            .await?;
        let mut readers = Vec::new();
        if fanout {
            for (t, topic, id) in [(&a, &req, "fan-a"), (&b, &resp, "fan-b")] {
                let c = BroadcastConsumer::new(
                    Arc::clone(t),
                    Arc::new(MemoryOffsetStore::new()),
                    Arc::new(Discard),
                    ConsumerOptions::new(id),
                );
                c.subscribe(Subscription::fresh(topic, StartAt::Latest))
                    .await?;
                readers.push(c);
            }
        }
        Ok(Self {
            a,
            req,
            resp,
            rx,
            echo,
            answers,
            fanout: readers,
            // A value of the size of a request envelope.
            value: vec![b'x'; 320],
            run: run.to_owned(),
        })
    }

    async fn once(&mut self, i: usize) -> anyhow::Result<Duration> {
        let key = format!("{}-{i}", self.run);
        let start = Instant::now();
        self.a
            .produce(&self.req, OutRecord::keyed(key.clone(), self.value.clone()))
            .await?;
        loop {
            let got = self
                .rx
                .recv()
                .await
                .ok_or_else(|| anyhow::anyhow!("raw consumer stopped"))?;
            if got == key {
                return Ok(start.elapsed());
            }
        }
    }

    async fn close(self) {
        self.echo.shutdown().await;
        self.answers.shutdown().await;
        for c in self.fanout {
            c.shutdown().await;
        }
        let _ = self.a.delete_topic(&self.req).await;
        let _ = self.a.delete_topic(&self.resp).await;
    }
}

/// Two agents: A submits, B answers with an echo handler.
struct AgentRig<S: GroupStore> {
    a: GroupAgent<S>,
    b: GroupAgent<S>,
    open: bool,
    quiet: bool,
    base: (u64, u64),
    done: u64,
}

impl<S: GroupStore> AgentRig<S> {
    async fn new(
        settings: &KafkaSettings,
        group: &str,
        stores: (Arc<S>, Arc<S>),
        open: bool,
        quiet: bool,
    ) -> anyhow::Result<Self> {
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
        let base = (a.stats().consumer.handled, b.stats().consumer.handled);
        Ok(Self {
            a,
            b,
            open,
            quiet,
            base,
            done: 0,
        })
    }

    async fn once(&mut self, i: usize) -> anyhow::Result<Duration> {
        let text = format!("ping {i}");
        let spec = if self.open {
            TaskSpec::open(text.clone())
        } else {
            TaskSpec::to("bench-b", text.clone())
        };
        let start = Instant::now();
        let resp = self.a.submit(spec.timeout(Duration::from_secs(30))).await?;
        let took = start.elapsed();
        anyhow::ensure!(resp.content == text, "wrong answer {resp:?}");
        self.done += 1;
        if self.quiet {
            // Each round trip puts five records in front of both agents (request, three
            // statuses, response): wait until they are read, so the next measure starts
            // on a quiet broker as the raw round trip does.
            let want = 5 * self.done;
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.a.stats().consumer.handled - self.base.0 < want
                || self.b.stats().consumer.handled - self.base.1 < want
            {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "statuses of round trip {i} missing"
                );
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        Ok(took)
    }

    async fn close(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
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

    let mem = || Arc::new(MemoryOffsetStore::new());
    let mut raw_rig = RawRig::new(&settings, &run, false).await?;
    let mut fan_rig = RawRig::new(&settings, &run, true).await?;
    let mut mem_rig = AgentRig::new(
        &settings,
        &format!("bench-mem-{run}"),
        (mem(), mem()),
        false,
        true,
    )
    .await?;
    let mut open_rig = AgentRig::new(
        &settings,
        &format!("bench-open-{run}"),
        (mem(), mem()),
        true,
        true,
    )
    .await?;
    let tl_a = Arc::new(Timeline::open(TimelineOptions::new(dir.path().join("a.db"))).await?);
    let tl_b = Arc::new(Timeline::open(TimelineOptions::new(dir.path().join("b.db"))).await?);
    let mut tl_rig = AgentRig::new(
        &settings,
        &format!("bench-tl-{run}"),
        (tl_a, tl_b),
        false,
        true,
    )
    .await?;
    // Interleaved: every round measures each rig once, so broker warm-up and the
    // machine's load weigh on all measures alike.
    let (mut raw, mut fan, mut mem, mut open, mut durable) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations + WARMUP {
        let r = raw_rig.once(i).await?;
        let f = fan_rig.once(i).await?;
        let m = mem_rig.once(i).await?;
        let o = open_rig.once(i).await?;
        let d = tl_rig.once(i).await?;
        if i >= WARMUP {
            raw.push(r);
            fan.push(f);
            mem.push(m);
            open.push(o);
            durable.push(d);
        }
    }
    raw_rig.close().await;
    fan_rig.close().await;
    mem_rig.close().await;
    open_rig.close().await;
    tl_rig.close().await;
    for v in [&mut raw, &mut fan, &mut mem, &mut open, &mut durable] {
        v.sort();
    }
    let (built, converged) =
        roster_convergence(&settings, &format!("bench-roster-{run}"), 50).await?;

    let (r50, r99) = (pct(&raw, 0.5), pct(&raw, 0.99));
    println!(
        "group benchmark: {iterations} round trips per measure (after {WARMUP} warm-up), measures interleaved, broker {brokers}, one process"
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
    row("raw transport, each side also reads its own topic", &fan);
    row("agent submit --to, echo handler (memory offsets)", &mem);
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
