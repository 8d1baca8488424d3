//! Three agents in two zones, a raw wire reader, and forged records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kafclaw_envelope::{GroupEnvelope, GroupName};
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, HandlerError, InRecord, KafkaSettings, KafkaTransport,
    MemoryOffsetStore, OffsetQuery, OutRecord, RecordHandler, RecordTxn, StartAt, Subscription,
    Transport,
};
use kafclaw_orchestrator::{Orchestrator, OrchestratorSettings};
use kafclaw_testkit::TestBroker;
use kafclaw_timeline::{Timeline, TimelineOptions};

pub const WAIT: Duration = Duration::from_secs(30);
pub const POLL: Duration = Duration::from_millis(25);

/// Which agent ran which task content.
pub type Runs = Arc<Mutex<Vec<(String, String)>>>;

pub struct Trio {
    pub group: String,
    pub a: Orchestrator,
    pub b: Orchestrator,
    pub c: Orchestrator,
    pub runs: Runs,
    pub timeline: Timeline,
    pub _dir: tempfile::TempDir,
}

pub fn ids(group: &str) -> (String, String, String) {
    (
        format!("{group}-a"),
        format!("{group}-b"),
        format!("{group}-c"),
    )
}

/// A: orchestrator at the root, owns private zone `red` with member B.
/// B: worker under A, home zone `red`. C: worker under A, owns shared zone `blue`.
pub async fn start_trio(broker: &TestBroker) -> Trio {
    logs();
    let group = kafclaw_testkit::random_group_name();
    let (a_id, b_id, c_id) = ids(&group);
    let runs: Runs = Arc::default();
    let kafka = KafkaSettings::plaintext(&broker.brokers);
    let dir = tempfile::tempdir().unwrap();
    let timeline = Timeline::open(TimelineOptions::new(dir.path().join("a.db")))
        .await
        .unwrap();

    let mut a = OrchestratorSettings::new(&group, &a_id)
        .zone("red", "Red team", "private", [b_id.clone()])
        .unwrap();
    a.role = "orchestrator".into();
    a.discovery_interval = Duration::from_secs(2);
    let mut b = OrchestratorSettings::new(&group, &b_id);
    b.parent_id = a_id.clone();
    b.zone_id = "red".into();
    b.discovery_interval = Duration::from_secs(2);
    let mut c = OrchestratorSettings::new(&group, &c_id)
        .zone("blue", "Blue team", "shared", [])
        .unwrap();
    c.parent_id = a_id.clone();
    c.zone_id = "blue".into();
    c.discovery_interval = Duration::from_secs(2);

    let start = |s: OrchestratorSettings, tl: Option<Timeline>| {
        let runs = Arc::clone(&runs);
        let kafka = kafka.clone();
        async move {
            let me = s.agent_id.clone();
            let mut builder = Orchestrator::builder(kafka, s).task_handler(move |task| {
                let runs = Arc::clone(&runs);
                let me = me.clone();
                async move {
                    runs.lock()
                        .unwrap()
                        .push((me.clone(), task.content.clone()));
                    Ok(format!("{me} did: {}", task.content))
                }
            });
            if let Some(tl) = tl {
                builder = builder.timeline(tl);
            }
            builder.start().await.expect("orchestrator starts")
        }
    };
    let a = start(a, Some(timeline.clone())).await;
    let b = start(b, None).await;
    let c = start(c, None).await;
    Trio {
        group,
        a,
        b,
        c,
        runs,
        timeline,
        _dir: dir,
    }
}

impl Trio {
    pub fn all(&self) -> [&Orchestrator; 3] {
        [&self.a, &self.b, &self.c]
    }

    /// Waits until every agent knows all three nodes and the zones red and blue.
    pub async fn converge(&self) {
        let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
            self.all().iter().all(|o| {
                let zones: Vec<String> = o.zones().into_iter().map(|z| z.zone_id).collect();
                o.hierarchy().nodes.len() == 3
                    && zones.contains(&"red".to_owned())
                    && zones.contains(&"blue".to_owned())
            })
        })
        .await;
        assert!(
            ok,
            "discovery did not converge: {:#?}",
            self.all().map(|o| (o.hierarchy(), o.zones()))
        );
    }

    pub async fn shutdown(self) {
        for o in self.all() {
            o.shutdown().await;
        }
    }
}

/// Produces a raw envelope, as any client with write access could.
pub async fn produce_raw(broker: &TestBroker, topic: &str, env: &GroupEnvelope) {
    let t = KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
        .await
        .unwrap();
    let key = env.record_key().unwrap_or(&env.sender_id).to_owned();
    t.produce(topic, OutRecord::keyed(key, env.to_json().unwrap()))
        .await
        .unwrap();
}

/// Keeps the value of every record it reads, by topic.
#[derive(Default)]
pub struct WireLog {
    pub records: Mutex<Vec<InRecord>>,
}

#[async_trait]
impl<X: RecordTxn> RecordHandler<X> for WireLog {
    async fn handle(&self, record: &InRecord, _txn: &mut X) -> Result<(), HandlerError> {
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

impl WireLog {
    pub fn topics_containing(&self, needle: &str) -> Vec<String> {
        let mut t: Vec<String> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.value).contains(needle))
            .map(|r| r.topic.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    }
}

/// Reads `topics` from the earliest record up to their current end, then returns
/// what it read.
pub async fn read_wire(broker: &TestBroker, topics: &[String]) -> Arc<WireLog> {
    let transport = Arc::new(
        KafkaTransport::connect(&KafkaSettings::plaintext(&broker.brokers))
            .await
            .unwrap(),
    );
    let mut ends = BTreeMap::new();
    for t in topics {
        for p in transport.partitions(t).await.unwrap() {
            ends.insert(
                (t.clone(), p),
                transport.offset(t, p, OffsetQuery::Latest).await.unwrap(),
            );
        }
    }
    let log = Arc::new(WireLog::default());
    let consumer = BroadcastConsumer::new(
        Arc::clone(&transport),
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&log),
        ConsumerOptions::new("wire-reader"),
    );
    for t in topics {
        consumer
            .subscribe(Subscription::fresh(t.clone(), StartAt::Earliest))
            .await
            .unwrap();
    }
    let ok = kafclaw_testkit::wait_until_async(WAIT, POLL, || async {
        let lag = consumer.lag();
        ends.iter().all(|((t, p), end)| {
            lag.iter()
                .any(|l| l.topic == *t && l.partition == *p && l.next_offset >= *end)
        })
    })
    .await;
    assert!(ok, "the wire reader did not reach the end of {topics:?}");
    consumer.shutdown().await;
    log
}

/// A zone's (requests, responses) topics.
pub fn zone_topics(group: &str, zone: &str) -> (String, String) {
    GroupName::new(group).unwrap().zone_topics(zone).unwrap()
}

/// Log lines in the test output, filtered by `RUST_LOG` (nothing by default).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
