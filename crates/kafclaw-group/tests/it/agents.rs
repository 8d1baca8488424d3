//! Helpers for the group-protocol tests: agents with short intervals on the test broker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafclaw_group::{
    GroupAgent, GroupAgentBuilder, IncomingTask, KafkaSettings, KafkaTransport, Member,
    MemoryOffsetStore,
};
use kafclaw_testkit::TestBroker;

/// Generous deadline for anything the broker has to carry.
pub const WAIT: Duration = Duration::from_secs(30);
/// Heartbeat interval used by the tests.
pub const BEAT: Duration = Duration::from_millis(500);

pub fn settings(broker: &TestBroker) -> KafkaSettings {
    KafkaSettings::plaintext(&broker.brokers)
}

/// A builder with test intervals: heartbeat 500 ms, expiry after 4 missed, onboarding
/// timeout 5 s, one partition per topic.
pub fn builder(
    broker: &TestBroker,
    group: &str,
    id: &str,
) -> GroupAgentBuilder<MemoryOffsetStore, KafkaTransport> {
    GroupAgent::builder(settings(broker), group, id)
        .heartbeat_interval(BEAT)
        .missed_heartbeats(4)
        .onboard_timeout(Duration::from_secs(5))
        .task_timeout(Duration::from_secs(60))
        .topic_layout(3, 1)
}

pub fn ids(roster: &[Member]) -> Vec<String> {
    roster.iter().map(|m| m.agent_id.clone()).collect()
}

/// Waits until `cond` holds, polling every 20 ms, up to [`WAIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(20), || {
        let r = cond();
        async move { r }
    })
    .await;
    assert!(ok, "timed out waiting for: {what}");
}

/// Shared transport for tests that start many agents.
pub async fn transport(broker: &TestBroker) -> Arc<KafkaTransport> {
    Arc::new(KafkaTransport::connect(&settings(broker)).await.unwrap())
}

/// Like [`eventually`] with an async condition.
pub async fn eventually_async<F, Fut>(what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(20), cond).await;
    assert!(ok, "timed out waiting for: {what}");
}

/// Every envelope on `topic` from the start, once at least `at_least` are there.
pub async fn read_topic(
    broker: &TestBroker,
    topic: &str,
    at_least: usize,
) -> Vec<kafclaw_envelope::GroupEnvelope> {
    use kafclaw_group::{BroadcastConsumer, ConsumerOptions, StartAt, Subscription};
    let rec = crate::support::Recorder::new();
    let c = BroadcastConsumer::new(
        transport(broker).await,
        Arc::new(MemoryOffsetStore::new()),
        Arc::clone(&rec),
        ConsumerOptions::new("topic-reader"),
    );
    c.subscribe(Subscription::fresh(topic, StartAt::Earliest))
        .await
        .unwrap();
    rec.wait_for(at_least, WAIT).await;
    c.shutdown().await;
    rec.values()
        .iter()
        .map(|v| kafclaw_envelope::GroupEnvelope::from_json(v.as_bytes()).unwrap())
        .collect()
}

/// True when the agent has read every partition of `topics` up to its current end.
pub async fn has_read_all<S: kafclaw_group::GroupStore>(
    agent: &GroupAgent<S>,
    t: &KafkaTransport,
    topics: &[String],
) -> bool {
    use kafclaw_group::{OffsetQuery, Transport};
    let lag = agent.lag();
    for topic in topics {
        for p in t.partitions(topic).await.unwrap() {
            let end = t.offset(topic, p, OffsetQuery::Latest).await.unwrap();
            if !lag
                .iter()
                .any(|l| &l.topic == topic && l.partition == p && l.next_offset >= end)
            {
                return false;
            }
        }
    }
    true
}

/// For tests that count onboarding answers: a 2 s heartbeat spaces the sponsor
/// candidates 1 s apart, so a loaded machine does not make a second sponsor answer.
pub fn slow_builder(
    broker: &TestBroker,
    group: &str,
    id: &str,
) -> GroupAgentBuilder<MemoryOffsetStore, KafkaTransport> {
    builder(broker, group, id).heartbeat_interval(Duration::from_secs(2))
}

/// Which agent ran which task (agent id, task id).
pub type Log = Arc<Mutex<Vec<(String, String)>>>;

/// A task handler that logs the task and answers "<me> did <content>".
pub fn worker(
    log: &Log,
    me: &'static str,
) -> impl Fn(IncomingTask) -> futures::future::BoxFuture<'static, Result<String, String>>
+ Send
+ Sync
+ 'static {
    let log = Arc::clone(log);
    move |task: IncomingTask| {
        log.lock()
            .unwrap()
            .push((me.to_owned(), task.task_id().to_owned()));
        let answer = format!("{me} did {}", task.content());
        Box::pin(async move { Ok(answer) })
    }
}
