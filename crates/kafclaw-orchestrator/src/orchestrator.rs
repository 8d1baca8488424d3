//! The running orchestrator: discovery on the group's orchestrator topic, the live
//! hierarchy and zone graph, and zone-scoped tasks on each zone's own topics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kafclaw_envelope::{
    AgentNode, Decoded, DiscoveryPayload, GroupEnvelope, GroupName, GroupTopic, Message,
    ResponseStatus, SkillDirection, TaskRequest, TaskResponse, Timestamp, TracePayload, Zone,
};
use kafclaw_group::{
    BroadcastConsumer, ConsumerOptions, Decoding, EnvelopeHandler, HandlerError, InRecord,
    KafkaSettings, KafkaTransport, MemoryOffsetStore, OffsetQuery, OutRecord, RecordTxn, StartAt,
    Subscription, Transport,
};
use kafclaw_timeline::{NewGroupSpan, OrchestratorNode, OrchestratorZone, Timeline};
use tokio::sync::{Notify, oneshot, watch};
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::settings::OrchestratorSettings;
use crate::views::{
    DispatchAnswer, GraphSnapshot, HierarchyView, NodeView, OrchestratorStats, StatusView, ZoneView,
};
use crate::zones::{PUBLIC_ZONE, Zones, check_zone_id, parse_visibility};

/// A task sent to a zone, as the member that runs it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTask {
    /// Task id.
    pub task_id: String,
    /// The zone it was sent in.
    pub zone_id: String,
    /// Who sent it.
    pub requester_id: String,
    /// Short description.
    pub description: String,
    /// The task's text.
    pub content: String,
    /// The requester's deadline (`deadline_at` of the request), if it set one.
    pub deadline: Option<DateTime<Utc>>,
    /// The requester's W3C `traceparent`, if it sent one.
    pub traceparent: Option<String>,
    /// Delegation depth of the request (0 for a task dispatched by its first requester).
    pub delegation_depth: u32,
}

/// What a zone task's handler returns: the answer (or the reason it failed) and the spans
/// of its work, which go to the zone's responses topic before the answer (never to the
/// group's traces topic). A plain `Result` converts into one without spans.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneAnswer {
    /// `Ok(answer)`: a `completed` response; `Err(reason)`: a `failed` one.
    pub result: std::result::Result<String, String>,
    /// Spans published on the zone's responses topic, tagged with the zone.
    pub spans: Vec<TracePayload>,
}

impl From<std::result::Result<String, String>> for ZoneAnswer {
    fn from(result: std::result::Result<String, String>) -> Self {
        ZoneAnswer {
            result,
            spans: Vec::new(),
        }
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = ZoneAnswer> + Send>>;
type Handler = Arc<dyn Fn(ZoneTask) -> HandlerFuture + Send + Sync>;

/// A zone request without a deadline older than this (by record time) is not run: a
/// member reads its zones' request topics from the start (so a task sent while it was
/// subscribing is never missed) and skips what is over.
const ZONE_LOOK_BACK: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
struct Seen {
    last_seen: DateTime<Utc>,
    first_hand: bool,
    /// The zone of the discovery it came in, if any: such nodes are not relayed in our
    /// own (public) discoveries.
    zone: Option<String>,
}

struct Pending {
    zone: String,
    target: String,
    answer: oneshot::Sender<TaskResponse>,
}

struct State {
    hierarchy: Hierarchy,
    zones: Zones,
    seen: BTreeMap<String, Seen>,
    owned: BTreeSet<String>,
    pending: HashMap<String, Pending>,
    /// Zone tasks taken, with the time after which they may be forgotten.
    handled: HashMap<String, DateTime<Utc>>,
    next_member: usize,
    version: u64,
    stats: OrchestratorStats,
}

struct Inner {
    settings: OrchestratorSettings,
    group: GroupName,
    topic: String,
    transport: Arc<KafkaTransport>,
    state: Mutex<State>,
    graph: watch::Sender<GraphSnapshot>,
    discover_now: Notify,
    sync_zones: Notify,
    subscribed: tokio::sync::Mutex<BTreeSet<String>>,
    persisting: tokio::sync::Mutex<()>,
    /// Set once our first discovery is out: newcomers read before that (in the look-back
    /// window) need no separate reply.
    replying: std::sync::atomic::AtomicBool,
    handler: Option<Handler>,
    timeline: Option<Timeline>,
    consumer: std::sync::OnceLock<Consumer>,
    stop: watch::Sender<bool>,
}

type Consumer = BroadcastConsumer<KafkaTransport, MemoryOffsetStore, Decoding<Receiver>>;

/// Builds an [`Orchestrator`].
pub struct OrchestratorBuilder {
    kafka: KafkaSettings,
    settings: OrchestratorSettings,
    handler: Option<Handler>,
    timeline: Option<Timeline>,
}

impl OrchestratorBuilder {
    /// Runs zone tasks sent to this agent: `Ok(answer)` is a `completed` response,
    /// `Err(reason)` a `failed` one; a [`ZoneAnswer`] also carries the spans of the work.
    /// Without a handler, tasks are answered `failed`.
    pub fn task_handler<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(ZoneTask) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Into<ZoneAnswer>,
    {
        let f = Arc::new(f);
        self.handler = Some(Arc::new(move |t| {
            let fut = f(t);
            Box::pin(async move { fut.await.into() })
        }));
        self
    }

    /// Persists the hierarchy and zones in this timeline on every change.
    pub fn timeline(mut self, timeline: Timeline) -> Self {
        self.timeline = Some(timeline);
        self
    }

    /// Connects, creates the orchestrator topic (and the topics of the zones we own),
    /// reads the discovery look-back window (three intervals) to its end, then (unless
    /// passive) publishes our discovery and starts the periodic one.
    pub async fn start(self) -> Result<Orchestrator> {
        self.settings.check()?;
        let s = &self.settings;
        let group = GroupName::new(&s.group).map_err(|e| Error::Config {
            key: "group.groupName".into(),
            reason: e.to_string(),
        })?;
        let topic = group.topic(GroupTopic::Orchestrator);
        let transport = Arc::new(KafkaTransport::connect(&self.kafka).await?);
        transport
            .ensure_topic(&topic, s.topic_partitions, s.replication_factor)
            .await?;

        let mut hierarchy = Hierarchy::new();
        hierarchy.insert(self_node(s))?;
        let mut zones = Zones::new();
        let mut owned = BTreeSet::new();
        for z in &s.zones {
            zones.create(z.clone())?;
            owned.insert(z.zone_id.clone());
        }
        // Zones we created earlier (and stored) are still ours.
        if let Some(tl) = &self.timeline {
            for z in tl.list_orchestrator_zones().await? {
                if z.owner_id != s.agent_id || owned.contains(&z.zone_id) {
                    continue;
                }
                let zone = Zone {
                    zone_id: z.zone_id.clone(),
                    name: z.name,
                    visibility: z.visibility,
                    owner_id: z.owner_id,
                    parent_zone: z.parent_zone,
                    allowed_ids: z.allowed_ids,
                    created_at: Timestamp::from_datetime(z.created_at),
                };
                if zones.create(zone).is_ok() {
                    owned.insert(z.zone_id);
                }
            }
        }
        let state = State {
            hierarchy,
            zones,
            seen: BTreeMap::new(),
            owned,
            pending: HashMap::new(),
            handled: HashMap::new(),
            next_member: 0,
            version: 0,
            stats: OrchestratorStats::default(),
        };
        let (stop, _) = watch::channel(false);
        let placeholder = GraphSnapshot {
            version: 0,
            hierarchy: HierarchyView {
                roots: Vec::new(),
                nodes: Vec::new(),
            },
            zones: Vec::new(),
        };
        let (graph, _) = watch::channel(placeholder);
        let inner = Arc::new(Inner {
            settings: self.settings.clone(),
            group,
            topic: topic.clone(),
            transport: Arc::clone(&transport),
            state: Mutex::new(state),
            graph,
            discover_now: Notify::new(),
            sync_zones: Notify::new(),
            subscribed: tokio::sync::Mutex::new(BTreeSet::new()),
            persisting: tokio::sync::Mutex::new(()),
            replying: std::sync::atomic::AtomicBool::new(false),
            handler: self.handler,
            timeline: self.timeline,
            consumer: std::sync::OnceLock::new(),
            stop,
        });
        inner.changed();

        let consumer = BroadcastConsumer::new(
            transport,
            Arc::new(MemoryOffsetStore::new()),
            Arc::new(Decoding(Receiver(Arc::downgrade(&inner)))),
            ConsumerOptions::new(format!("{}-orchestrator", s.agent_id)),
        );
        let _ = inner.consumer.set(consumer.clone());
        let ends = end_offsets(&inner.transport, &topic).await?;
        consumer
            .subscribe(Subscription::fresh(
                &topic,
                StartAt::LookBack(s.discovery_interval.saturating_mul(3)),
            ))
            .await?;
        let caught_up = wait_caught_up(&consumer, &topic, &ends, Duration::from_secs(15)).await;
        if !caught_up {
            warn!(topic = %topic, "the discovery look-back window was not read to its end within 15 s");
        }

        let orch = Orchestrator { inner };
        orch.spawn_persister();
        if !s.passive {
            orch.inner.sync_my_zones().await?;
            orch.inner.publish_discovery().await?;
            orch.inner
                .replying
                .store(true, std::sync::atomic::Ordering::SeqCst);
            orch.spawn_loops();
        }
        Ok(orch)
    }
}

/// One agent's orchestrator. Cheap to clone. Every view method returns a
/// serialisable struct, so an HTTP layer only has to wrap it.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("agent_id", &self.inner.settings.agent_id)
            .field("group", &self.inner.settings.group)
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// A builder for this broker connection and these settings.
    pub fn builder(kafka: KafkaSettings, settings: OrchestratorSettings) -> OrchestratorBuilder {
        OrchestratorBuilder {
            kafka,
            settings,
            handler: None,
            timeline: None,
        }
    }

    fn spawn_loops(&self) {
        let weak = Arc::downgrade(&self.inner);
        let mut stop = self.inner.stop.subscribe();
        let interval = self.inner.settings.discovery_interval;
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let notified = inner.discover_now.notified();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = notified => {}
                    _ = stop.changed() => return,
                }
                if let Err(e) = inner.publish_discovery().await {
                    warn!(error = %e, "publishing discovery failed");
                }
                // Retries a zone subscription that failed before (a no-op otherwise).
                if let Err(e) = inner.sync_my_zones().await {
                    warn!(error = %e, "subscribing to zone topics failed");
                }
            }
        });
        let weak = Arc::downgrade(&self.inner);
        let mut stop = self.inner.stop.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let notified = inner.sync_zones.notified();
                tokio::select! {
                    _ = notified => {}
                    _ = stop.changed() => return,
                }
                if let Err(e) = inner.sync_my_zones().await {
                    warn!(error = %e, "subscribing to zone topics failed");
                }
            }
        });
    }

    /// Our status.
    pub fn status(&self) -> StatusView {
        let s = &self.inner.settings;
        let st = self.inner.lock();
        StatusView {
            enabled: true,
            active: !s.passive,
            role: s.role.clone(),
            agent_id: s.agent_id.clone(),
            group: s.group.clone(),
            zone_id: s.zone_id.clone(),
            parent_id: s.parent_id.clone(),
            endpoint: s.endpoint.clone(),
            agent_count: st.hierarchy.len(),
            zone_count: st.zones.len(),
            my_zones: st.zones.zones_of(&s.agent_id),
            discovery_interval_secs: s.discovery_interval.as_secs(),
            stats: st.stats.clone(),
        }
    }

    /// Every known agent with its parent and children.
    pub fn hierarchy(&self) -> HierarchyView {
        self.inner.hierarchy_view(&self.inner.lock())
    }

    /// Every known zone with its members.
    pub fn zones(&self) -> Vec<ZoneView> {
        self.inner.zone_views(&self.inner.lock())
    }

    /// The agents we may see: ourselves, every agent whose home zone is not private,
    /// and those at home in a private zone we are in.
    pub fn agents(&self) -> Vec<NodeView> {
        let st = self.inner.lock();
        let me = &self.inner.settings.agent_id;
        self.inner
            .hierarchy_view(&st)
            .nodes
            .into_iter()
            .filter(|n| st.zones.can_see(me, &n.agent_id, &n.zone_id))
            .collect()
    }

    /// Whether this agent may read a message that belongs to `zone_id` (the envelope
    /// extension): yes without a zone, else only when we are allowed in that zone. For
    /// other readers of group topics (the agent's group handler) to apply the same rule.
    pub fn admits(&self, zone_id: Option<&str>) -> bool {
        match zone_id {
            None | Some("") => true,
            Some(z) => self
                .inner
                .lock()
                .zones
                .is_allowed(z, &self.inner.settings.agent_id),
        }
    }

    /// Counters.
    pub fn stats(&self) -> OrchestratorStats {
        self.inner.lock().stats.clone()
    }

    /// The hierarchy and zones, updated on every change.
    pub fn watch(&self) -> watch::Receiver<GraphSnapshot> {
        self.inner.graph.subscribe()
    }

    /// The topics this orchestrator reads.
    pub fn topics(&self) -> Vec<String> {
        self.inner
            .consumer
            .get()
            .map(|c| c.topics())
            .unwrap_or_default()
    }

    /// Creates a zone owned by us, with these members, and announces it.
    pub async fn create_zone(
        &self,
        zone_id: &str,
        name: &str,
        visibility: &str,
        members: Vec<String>,
    ) -> Result<ZoneView> {
        self.inner.require_active("create a zone")?;
        check_zone_id("zone_id", zone_id)?;
        parse_visibility("visibility", visibility)?;
        let zone = Zone {
            zone_id: zone_id.into(),
            name: if name.is_empty() { zone_id } else { name }.into(),
            visibility: visibility.into(),
            owner_id: self.inner.settings.agent_id.clone(),
            parent_zone: String::new(),
            allowed_ids: members,
            created_at: Timestamp::now(),
        };
        {
            let mut st = self.inner.lock();
            st.zones.create(zone)?;
            st.owned.insert(zone_id.into());
        }
        self.inner.changed();
        self.inner.sync_my_zones().await?;
        self.inner.publish_discovery().await?;
        self.zone(zone_id)
    }

    /// Adds a member to a zone we own and announces the change.
    pub async fn add_zone_member(&self, zone_id: &str, agent_id: &str) -> Result<ZoneView> {
        self.inner.require_active("change a zone")?;
        {
            let mut st = self.inner.lock();
            let owner = st
                .zones
                .get(zone_id)
                .map(|z| z.owner_id.clone())
                .ok_or_else(|| Error::UnknownZone {
                    zone: zone_id.into(),
                })?;
            if !st.owned.contains(zone_id) {
                return Err(Error::NotOwner {
                    zone: zone_id.into(),
                    owner,
                });
            }
            st.zones.add_member(zone_id, agent_id)?;
        }
        self.inner.changed();
        self.inner.publish_discovery().await?;
        self.zone(zone_id)
    }

    fn zone(&self, zone_id: &str) -> Result<ZoneView> {
        self.zones()
            .into_iter()
            .find(|z| z.zone_id == zone_id)
            .ok_or_else(|| Error::UnknownZone {
                zone: zone_id.into(),
            })
    }

    /// Sends a task to one live member of `zone` (not us, heard from directly within
    /// three discovery intervals; members take turns) on the zone's own topics and waits
    /// for its answer. We must be allowed in the zone ourselves.
    pub async fn dispatch(
        &self,
        zone: &str,
        description: &str,
        content: &str,
        timeout: Duration,
    ) -> Result<DispatchAnswer> {
        let inner = &self.inner;
        inner.require_active("dispatch")?;
        let me = inner.settings.agent_id.clone();
        {
            let st = inner.lock();
            if st.zones.get(zone).is_none() {
                return Err(Error::UnknownZone { zone: zone.into() });
            }
            if !st.zones.is_allowed(zone, &me) {
                return Err(Error::NotAllowed {
                    zone: zone.into(),
                    agent: me,
                });
            }
        }
        inner.subscribe_zone(zone).await?;
        let task_id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        let target = {
            let mut st = inner.lock();
            let live = inner.live_cutoff();
            let known: Vec<String> = st.seen.keys().cloned().collect();
            let candidates: Vec<String> = st
                .zones
                .members(zone, known.iter().map(String::as_str))
                .into_iter()
                .filter(|m| *m != me)
                .filter(|m| {
                    st.seen
                        .get(m)
                        .is_some_and(|s| s.first_hand && s.last_seen >= live)
                })
                .collect();
            if candidates.is_empty() {
                return Err(Error::NoMember { zone: zone.into() });
            }
            let pick = candidates[st.next_member % candidates.len()].clone();
            st.next_member = st.next_member.wrapping_add(1);
            st.pending.insert(
                task_id.clone(),
                Pending {
                    zone: zone.into(),
                    target: pick.clone(),
                    answer: tx,
                },
            );
            pick
        };
        let deadline = Utc::now()
            + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::seconds(60))
            + chrono::Duration::seconds(1);
        let mut req = TaskRequest::new(&task_id, &me, description, content);
        req.target_id = Some(target.clone());
        req.deadline_at = deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let env = GroupEnvelope::new(&me, Message::Request(req)).with_zone_id(zone);
        let (requests, _) = inner.group.zone_topics(zone)?;
        if let Err(e) = inner.produce(&requests, &env).await {
            inner.lock().pending.remove(&task_id);
            return Err(e);
        }
        debug!(task_id = %task_id, zone = %zone, target = %target, "zone task sent");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(DispatchAnswer {
                task_id,
                zone_id: zone.into(),
                responder_id: resp.responder_id,
                status: resp.status,
                content: resp.content,
            }),
            _ => {
                inner.lock().pending.remove(&task_id);
                Err(Error::Timeout {
                    task_id,
                    zone: zone.into(),
                    secs: timeout.as_secs(),
                })
            }
        }
    }

    /// Publishes our discovery now (it is also sent periodically and in reply to
    /// newcomers).
    pub async fn announce(&self) -> Result<()> {
        self.inner.require_active("publish discovery")?;
        self.inner.publish_discovery().await
    }

    /// Stops reading and publishing; with a timeline, stores the graph a last time.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        if let Some(c) = self.inner.consumer.get() {
            c.shutdown().await;
        }
        if let Some(tl) = &self.inner.timeline {
            let _guard = self.inner.persisting.lock().await;
            let snap = self.inner.graph.borrow().clone();
            if let Err(e) = persist(tl, &snap).await {
                warn!(error = %e, "storing the orchestrator graph failed");
            }
        }
    }

    /// Stores the latest graph after each change, one write at a time, so an older
    /// snapshot never lands after a newer one.
    fn spawn_persister(&self) {
        let Some(tl) = self.inner.timeline.clone() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let mut rx = self.inner.graph.subscribe();
        let mut stop = self.inner.stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return },
                    _ = stop.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                let _guard = inner.persisting.lock().await;
                let snap = rx.borrow_and_update().clone();
                if let Err(e) = persist(&tl, &snap).await {
                    warn!(error = %e, "storing the orchestrator graph failed");
                }
            }
        });
    }
}

fn self_node(s: &OrchestratorSettings) -> AgentNode {
    AgentNode {
        agent_id: s.agent_id.clone(),
        agent_name: s.agent_name.clone(),
        role: s.role.clone(),
        parent_id: s.parent_id.clone(),
        zone_id: s.zone_id.clone(),
        endpoint: s.endpoint.clone(),
        status: "active".into(),
    }
}

async fn end_offsets(t: &KafkaTransport, topic: &str) -> Result<BTreeMap<i32, i64>> {
    let mut out = BTreeMap::new();
    for p in t.partitions(topic).await? {
        out.insert(p, t.offset(topic, p, OffsetQuery::Latest).await?);
    }
    Ok(out)
}

async fn wait_caught_up(
    c: &Consumer,
    topic: &str,
    ends: &BTreeMap<i32, i64>,
    within: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let lag = c.lag();
        let done = ends.iter().all(|(p, end)| {
            lag.iter()
                .any(|l| l.topic == topic && l.partition == *p && l.next_offset >= *end)
        });
        if done {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each critical section only updates maps and counters; a poisoned lock still
        // holds consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn require_active(&self, what: &'static str) -> Result<()> {
        if self.settings.passive {
            return Err(Error::Unavailable {
                what,
                reason: "this orchestrator is passive (read only)",
            });
        }
        if *self.stop.borrow() {
            return Err(Error::Unavailable {
                what,
                reason: "the orchestrator has stopped",
            });
        }
        Ok(())
    }

    fn live_cutoff(&self) -> DateTime<Utc> {
        Utc::now()
            - chrono::Duration::from_std(self.settings.discovery_interval.saturating_mul(3))
                .unwrap_or(chrono::Duration::seconds(90))
    }

    /// Bumps the version and publishes the snapshot (the persister stores it).
    fn changed(&self) {
        let snapshot = {
            let mut st = self.lock();
            st.version += 1;
            GraphSnapshot {
                version: st.version,
                hierarchy: self.hierarchy_view(&st),
                zones: self.zone_views(&st),
            }
        };
        self.graph.send_replace(snapshot);
    }

    fn hierarchy_view(&self, st: &State) -> HierarchyView {
        let live = self.live_cutoff();
        let me = &self.settings.agent_id;
        let nodes = st
            .hierarchy
            .nodes()
            .map(|n| {
                let seen = st.seen.get(&n.agent_id);
                let status = if n.agent_id == *me || seen.is_some_and(|s| s.last_seen >= live) {
                    "active"
                } else {
                    "stale"
                };
                NodeView {
                    agent_id: n.agent_id.clone(),
                    agent_name: n.agent_name.clone(),
                    role: n.role.clone(),
                    parent_id: n.parent_id.clone(),
                    zone_id: n.zone_id.clone(),
                    endpoint: n.endpoint.clone(),
                    status: status.into(),
                    last_seen: seen.map(|s| s.last_seen),
                    first_hand: n.agent_id == *me || seen.is_some_and(|s| s.first_hand),
                    children: st.hierarchy.children(&n.agent_id),
                }
            })
            .collect();
        HierarchyView {
            roots: st.hierarchy.roots(),
            nodes,
        }
    }

    fn zone_views(&self, st: &State) -> Vec<ZoneView> {
        let known: Vec<&str> = st.hierarchy.nodes().map(|n| n.agent_id.as_str()).collect();
        st.zones
            .all()
            .map(|z| ZoneView {
                zone_id: z.zone_id.clone(),
                name: z.name.clone(),
                visibility: z.visibility.clone(),
                owner_id: z.owner_id.clone(),
                parent_zone: z.parent_zone.clone(),
                allowed_ids: z.allowed_ids.clone(),
                members: st.zones.members(&z.zone_id, known.iter().copied()),
                is_member: st.zones.is_allowed(&z.zone_id, &self.settings.agent_id),
                topics: self
                    .group
                    .zone_topics(&z.zone_id)
                    .map(|(a, b)| vec![a, b])
                    .unwrap_or_default(),
                created_at: z.created_at.to_string(),
            })
            .collect()
    }

    /// Publishes a span of a zone task this agent ran on the zone's responses topic,
    /// tagged with the zone: only the zone's members read it (a private zone's work
    /// never reaches the group's traces topic).
    async fn publish_zone_span(&self, zone: &str, span: TracePayload) -> Result<()> {
        let me = &self.settings.agent_id;
        if !self.lock().zones.is_allowed(zone, me) {
            return Err(Error::NotAllowed {
                zone: zone.into(),
                agent: me.clone(),
            });
        }
        let env = GroupEnvelope::new(me, Message::Trace(span)).with_zone_id(zone);
        let topic = self.group.zone_topic(zone, SkillDirection::Responses)?;
        self.produce(&topic, &env).await
    }

    async fn produce(&self, topic: &str, env: &GroupEnvelope) -> Result<()> {
        let key = env
            .record_key()
            .unwrap_or(&self.settings.agent_id)
            .to_owned();
        let mut rec = OutRecord::keyed(key, env.to_json()?);
        if let Some(id) = &env.message_id {
            rec = rec.with_message_id(id);
        }
        self.transport.produce(topic, rec).await?;
        Ok(())
    }

    async fn publish_discovery(&self) -> Result<()> {
        let payload = {
            let st = self.lock();
            let mut p = DiscoveryPayload::discover(self_node(&self.settings));
            p.zones = st
                .zones
                .all()
                .filter(|z| z.zone_id == PUBLIC_ZONE || st.owned.contains(&z.zone_id))
                .cloned()
                .collect();
            p.hierarchy = st
                .hierarchy
                .nodes()
                .filter(|n| st.seen.get(&n.agent_id).is_none_or(|s| s.zone.is_none()))
                .cloned()
                .collect();
            p
        };
        let env = GroupEnvelope::new(&self.settings.agent_id, Message::Orchestrator(payload));
        self.produce(&self.topic, &env).await?;
        self.lock().stats.discoveries_sent += 1;
        Ok(())
    }

    /// Subscribes to the task topics of every zone we are a member of.
    async fn sync_my_zones(&self) -> Result<()> {
        let mine = self.lock().zones.zones_of(&self.settings.agent_id);
        for zone in mine {
            self.subscribe_zone(&zone).await?;
        }
        Ok(())
    }

    async fn subscribe_zone(&self, zone: &str) -> Result<()> {
        let mut subscribed = self.subscribed.lock().await;
        if subscribed.contains(zone) {
            return Ok(());
        }
        let Some(consumer) = self.consumer.get() else {
            return Ok(());
        };
        let (requests, responses) = self.group.zone_topics(zone)?;
        // Requests from the earliest record (expired ones are skipped): a start
        // position looked up by time could land after a request produced meanwhile.
        // Responses from the look-back window: we subscribe before we send.
        for (t, start) in [
            (&requests, StartAt::Earliest),
            (&responses, StartAt::LookBack(ZONE_LOOK_BACK)),
        ] {
            self.transport
                .ensure_topic(
                    t,
                    self.settings.topic_partitions,
                    self.settings.replication_factor,
                )
                .await?;
            consumer
                .subscribe(Subscription::fresh(t.clone(), start))
                .await?;
        }
        subscribed.insert(zone.to_owned());
        Ok(())
    }

    /// The role we record for a claimed one: `orchestrator` only for trusted agents.
    fn checked_role(&self, st: &mut State, agent: &str, role: &str) -> String {
        match role {
            "worker" | "observer" => role.to_owned(),
            "" => "worker".into(),
            "orchestrator"
                if self.settings.parent_id == agent
                    || self
                        .settings
                        .trusted_orchestrators
                        .iter()
                        .any(|t| t == agent) =>
            {
                role.to_owned()
            }
            _ => {
                st.stats.role_claims_refused += 1;
                "worker".into()
            }
        }
    }

    fn place(&self, st: &mut State, mut node: AgentNode) {
        node.role = self.checked_role(st, &node.agent_id, &node.role);
        if let Err(Error::Cycle { .. }) = st.hierarchy.insert(node.clone()) {
            st.stats.cycles_refused += 1;
            node.parent_id = String::new();
            let _ = st.hierarchy.insert(node);
        }
    }

    fn on_discovery(
        &self,
        sender: &str,
        zone: Option<String>,
        p: DiscoveryPayload,
        at: DateTime<Utc>,
    ) {
        let me = self.settings.agent_id.as_str();
        if sender == me {
            return;
        }
        let at = at.min(Utc::now());
        let (newcomer, zones_changed, graph_changed) = {
            let mut st = self.lock();
            let before = (st.hierarchy.clone(), st.zones.clone());
            st.stats.discoveries_received += 1;
            let mut newcomer = false;
            if p.node.agent_id == me {
                st.stats.own_node_claims += 1;
            } else if p.node.agent_id != sender {
                st.stats.forged_nodes += 1;
            } else {
                let live = self.live_cutoff();
                newcomer = st.seen.get(sender).is_none_or(|s| s.last_seen < live);
                let mut node = p.node.clone();
                node.status = "active".into();
                self.place(&mut st, node);
                st.seen.insert(
                    sender.to_owned(),
                    Seen {
                        last_seen: at,
                        first_hand: true,
                        zone: zone.clone(),
                    },
                );
            }
            let mut zones_changed = false;
            for z in p.zones {
                if z.zone_id == PUBLIC_ZONE {
                    continue;
                }
                if z.owner_id != sender || st.owned.contains(&z.zone_id) {
                    st.stats.zones_refused += 1;
                    continue;
                }
                match st.zones.get(&z.zone_id) {
                    Some(old) if old.owner_id != sender => {
                        st.stats.zones_refused += 1;
                        continue;
                    }
                    Some(old) if *old == z => continue,
                    _ => {}
                }
                if st.zones.replace(z).is_err() {
                    st.stats.zones_refused += 1;
                } else {
                    zones_changed = true;
                }
            }
            for n in p.hierarchy {
                if n.agent_id == me {
                    if n != self_node(&self.settings) {
                        st.stats.own_node_claims += 1;
                    }
                    continue;
                }
                if n.agent_id.is_empty()
                    || n.agent_id == sender
                    || st.hierarchy.get(&n.agent_id).is_some()
                {
                    continue;
                }
                let id = n.agent_id.clone();
                self.place(&mut st, n);
                st.seen.insert(
                    id,
                    Seen {
                        last_seen: at,
                        first_hand: false,
                        zone: zone.clone(),
                    },
                );
            }
            let graph_changed = newcomer || before != (st.hierarchy.clone(), st.zones.clone());
            (newcomer, zones_changed, graph_changed)
        };
        if graph_changed {
            self.changed();
        }
        if newcomer && self.replying.load(std::sync::atomic::Ordering::SeqCst) {
            self.discover_now.notify_one();
        }
        if zones_changed && !self.settings.passive {
            self.sync_zones.notify_one();
        }
    }

    /// Checks a zone record: the envelope's zone must be the topic's, and sender and
    /// receiver must both be allowed in it.
    fn admit_zone_record(&self, zone: &str, env: &GroupEnvelope) -> bool {
        let mut st = self.lock();
        let ok = env.zone_id.as_deref() == Some(zone)
            && st.zones.is_allowed(zone, &env.sender_id)
            && st.zones.is_allowed(zone, &self.settings.agent_id);
        if !ok {
            st.stats.zone_drops += 1;
            debug!(zone = %zone, sender = %env.sender_id, claimed = ?env.zone_id, "zone record dropped");
        }
        ok
    }

    fn on_zone_request(
        self: &Arc<Self>,
        zone: &str,
        env: &GroupEnvelope,
        req: TaskRequest,
        written: DateTime<Utc>,
    ) {
        let me = &self.settings.agent_id;
        if env.sender_id == *me || req.target_id.as_deref() != Some(me.as_str()) {
            return;
        }
        if !self.admit_zone_record(zone, env) {
            return;
        }
        let now = Utc::now();
        let deadline = DateTime::parse_from_rfc3339(&req.deadline_at)
            .map(|d| d.with_timezone(&Utc))
            .ok();
        let horizon =
            now - chrono::Duration::from_std(ZONE_LOOK_BACK).unwrap_or(chrono::Duration::MAX);
        let over = match deadline {
            Some(d) => d < now,
            None => written < horizon,
        };
        if over {
            return;
        }
        {
            let mut st = self.lock();
            if st.handled.contains_key(&req.task_id) {
                return;
            }
            // Forget tasks once a second copy would be skipped as over anyway.
            st.handled.retain(|_, until| *until > horizon);
            st.handled
                .insert(req.task_id.clone(), deadline.unwrap_or(now).max(now));
        }
        let task = ZoneTask {
            task_id: req.task_id,
            zone_id: zone.to_owned(),
            requester_id: env.sender_id.clone(),
            description: req.description,
            content: req.content,
            deadline,
            traceparent: env.traceparent.clone(),
            delegation_depth: u32::try_from(req.delegation_depth.max(0)).unwrap_or(u32::MAX),
        };
        let inner = Arc::clone(self);
        tokio::spawn(async move {
            let answer = match &inner.handler {
                Some(h) => h(task.clone()).await,
                None => ZoneAnswer::from(Err("this agent runs no zone tasks".to_owned())),
            };
            for span in answer.spans {
                if let Err(e) = inner.publish_zone_span(&task.zone_id, span).await {
                    warn!(zone = %task.zone_id, error = %e, "cannot publish a zone task's span");
                    break;
                }
            }
            let (status, content) = match answer.result {
                Ok(c) => (ResponseStatus::Completed, c),
                Err(e) => (ResponseStatus::Failed, e),
            };
            let resp = TaskResponse::new(&task.task_id, &inner.settings.agent_id, status, content);
            let env = GroupEnvelope::new(&inner.settings.agent_id, Message::Response(resp))
                .with_zone_id(&task.zone_id);
            inner.lock().stats.tasks_handled += 1;
            let sent = match inner
                .group
                .zone_topic(&task.zone_id, SkillDirection::Responses)
            {
                Ok(topic) => inner.produce(&topic, &env).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = sent {
                warn!(task_id = %task.task_id, error = %e, "sending a zone task's answer failed");
            }
        });
    }

    /// A span of a zone task, read on the zone's responses topic: stored in the
    /// timeline (when there is one) beside the group's spans, so the dispatcher's trace
    /// shows the member's work without it ever leaving the zone's topics.
    async fn on_zone_span(&self, zone: &str, env: &GroupEnvelope, span: TracePayload) {
        let Some(tl) = &self.timeline else {
            return;
        };
        if span.trace_id.is_empty() || !self.admit_zone_record(zone, env) {
            return;
        }
        let parse = |t: &str| Timestamp::parse(t).ok().map(|t| t.to_utc());
        let stored = tl
            .record_group_span(NewGroupSpan {
                span_id: if span.span_id.is_empty() {
                    env.message_id
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
                } else {
                    span.span_id.clone()
                },
                parent_span_id: (!span.parent_span_id.is_empty())
                    .then(|| span.parent_span_id.clone()),
                source_agent_id: env.sender_id.clone(),
                span_type: if span.span_type.is_empty() {
                    "SPAN".into()
                } else {
                    span.span_type.clone()
                },
                started_at: parse(&span.started_at),
                ended_at: parse(&span.ended_at),
                duration_ms: Some(span.duration_ms),
                title: span.title,
                content: span.content,
                trace_id: span.trace_id,
            })
            .await;
        if let Err(e) = stored {
            warn!(zone = %zone, error = %e, "cannot store a zone task's span");
        }
    }

    fn on_zone_response(&self, zone: &str, env: &GroupEnvelope, resp: TaskResponse) {
        if env.sender_id == self.settings.agent_id {
            return;
        }
        let waiting = self.lock().pending.contains_key(&resp.task_id);
        if !waiting || !self.admit_zone_record(zone, env) {
            return;
        }
        let mut st = self.lock();
        let matches = st
            .pending
            .get(&resp.task_id)
            .is_some_and(|p| p.zone == zone && p.target == env.sender_id);
        if !matches {
            st.stats.responses_ignored += 1;
            return;
        }
        if let Some(p) = st.pending.remove(&resp.task_id) {
            let _ = p.answer.send(resp);
        }
    }

    /// Which zone's topic this is, and which direction.
    fn zone_of_topic(&self, topic: &str) -> Option<(String, SkillDirection)> {
        let rest = topic.strip_prefix(&format!("group.{}.zone.", self.group.as_str()))?;
        if let Some(z) = rest.strip_suffix(".requests") {
            Some((z.to_owned(), SkillDirection::Requests))
        } else {
            rest.strip_suffix(".responses")
                .map(|z| (z.to_owned(), SkillDirection::Responses))
        }
    }
}

async fn persist(tl: &Timeline, snap: &GraphSnapshot) -> Result<()> {
    for n in &snap.hierarchy.nodes {
        tl.upsert_orchestrator_node(&OrchestratorNode {
            agent_id: n.agent_id.clone(),
            agent_name: n.agent_name.clone(),
            parent_id: n.parent_id.clone(),
            role: n.role.clone(),
            endpoint: n.endpoint.clone(),
            zone_id: n.zone_id.clone(),
            status: n.status.clone(),
            updated_at: Utc::now(),
        })
        .await?;
    }
    for z in &snap.zones {
        tl.upsert_orchestrator_zone(&OrchestratorZone {
            zone_id: z.zone_id.clone(),
            name: z.name.clone(),
            visibility: z.visibility.clone(),
            owner_id: z.owner_id.clone(),
            parent_zone: z.parent_zone.clone(),
            allowed_ids: z.allowed_ids.clone(),
            members: z.members.clone(),
            created_at: Timestamp::parse(&z.created_at)
                .map(|t| t.to_utc())
                .unwrap_or_else(|_| Utc::now()),
        })
        .await?;
    }
    Ok(())
}

/// The consumer's handler: decoded envelopes from the orchestrator and zone topics.
struct Receiver(Weak<Inner>);

#[async_trait]
impl<X: RecordTxn> EnvelopeHandler<X> for Receiver {
    async fn handle_envelope(
        &self,
        record: &InRecord,
        decoded: Decoded,
        txn: &mut X,
    ) -> std::result::Result<(), HandlerError> {
        if txn.already_seen() {
            return Ok(());
        }
        let Some(inner) = self.0.upgrade() else {
            return Ok(());
        };
        let Decoded::Group { envelope, .. } = decoded else {
            return Ok(());
        };
        if record.topic == inner.topic {
            let zone = envelope.zone_id.clone().filter(|z| !z.is_empty());
            if let Some(z) = &zone {
                let mut st = inner.lock();
                if !st.zones.is_allowed(z, &inner.settings.agent_id) {
                    st.stats.zone_drops += 1;
                    return Ok(());
                }
            }
            if let Message::Orchestrator(p) = envelope.message {
                inner.on_discovery(&envelope.sender_id, zone, p, record.timestamp);
            }
            return Ok(());
        }
        let Some((zone, _)) = inner.zone_of_topic(&record.topic) else {
            return Ok(());
        };
        match envelope.message.clone() {
            Message::Request(req) => inner.on_zone_request(&zone, &envelope, req, record.timestamp),
            Message::Response(resp) => inner.on_zone_response(&zone, &envelope, resp),
            Message::Trace(span) => inner.on_zone_span(&zone, &envelope, span).await,
            _ => {}
        }
        Ok(())
    }
}
