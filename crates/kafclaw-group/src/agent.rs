//! [`GroupAgent`]: the embeddable API of one agent in a group — join, leave, handle
//! tasks, submit and await tasks, watch the roster, publish traces and audit events.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafclaw_envelope::{
    AgentIdentity, AnnounceAction, AuditPayload, GroupName, GroupTopic, TaskRequest, TaskResponse,
    TracePayload,
};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::consumer::{
    BroadcastConsumer, ConsumerOptions, ConsumerStats, PartitionLag, StartAt, Subscription,
};
use crate::decoding::Decoding;
use crate::error::{Error, Result};
use crate::memory::{MemoryFailure, MemoryOptions, MemorySetup, MemoryShare, SharedMemory};
use crate::offsets::MemoryOffsetStore;
use crate::onboarding::Onboarding;
use crate::protocol::{Cfg, Core, Protocol, ProtocolStats};
use crate::roster::Member;
use crate::settings::KafkaSettings;
use crate::store::GroupStore;
use crate::tasks::{PendingTask, TaskHandler, TaskSpec};
use crate::transport::{KafkaTransport, OffsetQuery, Transport};

type Connect<T> = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<Arc<T>>> + Send>> + Send>;

/// Everything an agent counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// The consumer's counters (handled, duplicates, malformed, ...).
    pub consumer: ConsumerStats,
    /// The protocol's counters.
    pub protocol: ProtocolStats,
}

/// Builds a [`GroupAgent`]; see [`GroupAgent::builder`].
pub struct GroupAgentBuilder<S = MemoryOffsetStore, T = KafkaTransport> {
    connect: Connect<T>,
    store: Arc<S>,
    group: String,
    agent_id: String,
    identity: AgentIdentity,
    heartbeat: Duration,
    missed: u32,
    partitions: i32,
    replication: i16,
    onboarding: Onboarding,
    onboard_timeout: Duration,
    found: bool,
    max_depth: u32,
    task_timeout: Duration,
    handler: Option<Arc<dyn TaskHandler>>,
    read_only: bool,
    max_wait: Duration,
    memory: MemorySetup,
    zone_gate: Option<crate::protocol::ZoneGate>,
}

impl GroupAgent<MemoryOffsetStore, KafkaTransport> {
    /// Starts building an agent `agent_id` of group `group` that connects with
    /// `settings`. Defaults follow the Go agent where it has one: heartbeat every 30 s,
    /// expiry after 3 missed heartbeats, open onboarding with a 30 s timeout, maximum
    /// delegation depth 3, tasks time out after 300 s; topics with 3 partitions and
    /// replication factor 1; offsets in memory (use [`GroupAgentBuilder::store`] with
    /// the timeline for durable ones).
    pub fn builder(
        settings: KafkaSettings,
        group: impl Into<String>,
        agent_id: impl Into<String>,
    ) -> GroupAgentBuilder<MemoryOffsetStore, KafkaTransport> {
        let agent_id = agent_id.into();
        let mut settings = settings;
        if settings.client_id == "kafclaw" {
            settings.client_id = format!("kafclaw-{agent_id}");
        }
        GroupAgentBuilder {
            connect: Box::new(move || {
                Box::pin(async move { Ok(Arc::new(KafkaTransport::connect(&settings).await?)) })
            }),
            store: Arc::new(MemoryOffsetStore::new()),
            group: group.into(),
            identity: AgentIdentity::new(agent_id.clone(), agent_id.clone()),
            agent_id,
            heartbeat: Duration::from_secs(30),
            missed: 3,
            partitions: 3,
            replication: 1,
            onboarding: Onboarding::Open,
            onboard_timeout: Duration::from_secs(30),
            found: false,
            max_depth: 3,
            task_timeout: Duration::from_secs(300),
            handler: None,
            read_only: false,
            max_wait: Duration::from_millis(500),
            memory: MemorySetup::default(),
            zone_gate: None,
        }
    }
}

impl<S: GroupStore, T: Transport> GroupAgentBuilder<S, T> {
    /// Uses an existing transport instead of connecting (many agents can share one).
    pub fn transport<T2: Transport>(self, transport: Arc<T2>) -> GroupAgentBuilder<S, T2> {
        GroupAgentBuilder {
            connect: Box::new(move || Box::pin(async move { Ok(transport) })),
            store: self.store,
            group: self.group,
            agent_id: self.agent_id,
            identity: self.identity,
            heartbeat: self.heartbeat,
            missed: self.missed,
            partitions: self.partitions,
            replication: self.replication,
            onboarding: self.onboarding,
            onboard_timeout: self.onboard_timeout,
            found: self.found,
            max_depth: self.max_depth,
            task_timeout: self.task_timeout,
            handler: self.handler,
            read_only: self.read_only,
            max_wait: self.max_wait,
            memory: self.memory,
            zone_gate: self.zone_gate,
        }
    }

    /// Where offsets and group state live (kafclaw-timeline's `Timeline` for a durable agent).
    pub fn store<S2: GroupStore>(self, store: Arc<S2>) -> GroupAgentBuilder<S2, T> {
        GroupAgentBuilder {
            connect: self.connect,
            store,
            group: self.group,
            agent_id: self.agent_id,
            identity: self.identity,
            heartbeat: self.heartbeat,
            missed: self.missed,
            partitions: self.partitions,
            replication: self.replication,
            onboarding: self.onboarding,
            onboard_timeout: self.onboard_timeout,
            found: self.found,
            max_depth: self.max_depth,
            task_timeout: self.task_timeout,
            handler: self.handler,
            read_only: self.read_only,
            max_wait: self.max_wait,
            memory: self.memory,
            zone_gate: self.zone_gate,
        }
    }

    /// The identity to announce (name, soul summary, capabilities, channels, model,
    /// endpoint). Its `agent_id` is replaced by the agent's id; role, zone, parent and
    /// skills are set by their own methods.
    pub fn identity(mut self, identity: AgentIdentity) -> Self {
        let keep = std::mem::take(&mut self.identity);
        self.identity = AgentIdentity {
            agent_id: keep.agent_id,
            status: "active".into(),
            role: keep.role,
            zone_id: keep.zone_id,
            parent_id: keep.parent_id,
            skills: keep.skills,
            ..identity
        };
        self
    }

    /// Role in the group (from configuration, e.g. `worker`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.identity.role = role.into();
        self
    }

    /// Zone.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.identity.zone_id = zone.into();
        self
    }

    /// Parent in the hierarchy.
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.identity.parent_id = parent.into();
        self
    }

    /// Skills this agent offers (announced in the identity; requests naming another
    /// skill are not claimed).
    pub fn skills<I: IntoIterator<Item = impl Into<String>>>(mut self, skills: I) -> Self {
        self.identity.skills = skills.into_iter().map(Into::into).collect();
        self
    }

    /// Heartbeat period (default 30 s).
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Members are dropped after this many missed heartbeats (default 3).
    pub fn missed_heartbeats(mut self, n: u32) -> Self {
        self.missed = n;
        self
    }

    /// Partitions and replication factor of the topics the agent creates (default 3, 1).
    pub fn topic_layout(mut self, partitions: i32, replication_factor: i16) -> Self {
        self.partitions = partitions;
        self.replication = replication_factor;
        self
    }

    /// Open or gated onboarding (default open).
    pub fn onboarding(mut self, onboarding: Onboarding) -> Self {
        self.onboarding = onboarding;
        self
    }

    /// How long a newcomer waits for its sponsor (default 30 s).
    pub fn onboard_timeout(mut self, timeout: Duration) -> Self {
        self.onboard_timeout = timeout;
        self
    }

    /// In a gated group that has no admitted member yet, admit ourselves on join
    /// (the founder). Otherwise join onboards as usual.
    pub fn found_group(mut self, found: bool) -> Self {
        self.found = found;
        self
    }

    /// Largest delegation depth accepted from others and used when delegating (default 3).
    pub fn max_delegation_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// How long `submit` waits for a response when the task sets no timeout, and the
    /// deadline of delegated tasks (default 300 s).
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = timeout;
        self
    }

    /// Runs tasks with this handler (a closure `|task| async { Ok(text) }` or a
    /// [`TaskHandler`]). Without one the agent never claims or runs tasks.
    pub fn task_handler(mut self, handler: impl TaskHandler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Like [`Self::task_handler`] with a shared handler.
    pub fn task_handler_arc(mut self, handler: Arc<dyn TaskHandler>) -> Self {
        self.handler = Some(handler);
        self
    }

    /// Reads only messages of the zones `gate` admits (envelope `zone_id`; messages of
    /// no zone are always read), from the first record on: see
    /// [`GroupAgent::set_zone_gate`].
    pub fn zone_gate(mut self, gate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.zone_gate = Some(Arc::new(gate));
        self
    }

    /// Only reads the roster (announces and onboarding): creates no topics and never
    /// joins (what `kafclaw group members` uses).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Inline limit, LFS proxy and download retries of shared memory.
    pub fn memory_options(mut self, options: MemoryOptions) -> Self {
        self.memory.opts = options;
        self
    }

    /// Hands every memory item read (content resolved, not expired) to `hook`, e.g.
    /// to index it. Called on the agent's own task, once per item and agent.
    pub fn memory_hook(mut self, hook: impl Fn(SharedMemory) + Send + Sync + 'static) -> Self {
        self.memory.hook = Some(Arc::new(hook));
        self
    }

    /// Called for an item whose content could not be downloaded after the retries.
    pub fn memory_error_hook(
        mut self,
        hook: impl Fn(MemoryFailure) + Send + Sync + 'static,
    ) -> Self {
        self.memory.on_error = Some(Arc::new(hook));
        self
    }

    /// How long one fetch waits for new records (default 500 ms).
    pub fn fetch_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    fn check(&self) -> Result<GroupName> {
        let group = GroupName::new(self.group.clone()).map_err(|e| Error::InvalidGroupName {
            name: self.group.clone(),
            reason: e.to_string(),
        })?;
        let bad = |what, reason: &str| {
            Err(Error::Invalid {
                what,
                reason: reason.into(),
            })
        };
        if self.agent_id.trim().is_empty() {
            return bad("agent id", "must not be empty");
        }
        if self
            .agent_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return bad("agent id", "must not contain spaces or control characters");
        }
        if self.heartbeat.is_zero() {
            return bad("heartbeat interval", "must be longer than zero");
        }
        if self.missed == 0 {
            return bad("missed heartbeats", "must be at least 1");
        }
        if self.partitions < 1 || self.replication < 1 {
            return bad(
                "topic layout",
                "partitions and replication factor must be at least 1",
            );
        }
        if self.onboard_timeout.is_zero() || self.task_timeout.is_zero() {
            return bad(
                "timeout",
                "onboarding and task timeouts must be longer than zero",
            );
        }
        Ok(group)
    }

    /// Connects, creates the group topics (unless read-only), starts reading them and
    /// waits until the control topics' look-back window is read, so the roster is
    /// current when this returns. The agent has not joined yet: call
    /// [`GroupAgent::join`].
    pub async fn build(self) -> Result<GroupAgent<S, T>> {
        let group = self.check()?;
        let transport = (self.connect)().await?;
        let mut identity = self.identity;
        identity.agent_id = self.agent_id.clone();
        let cfg = Cfg {
            group: group.clone(),
            agent_id: self.agent_id.clone(),
            identity,
            heartbeat: self.heartbeat,
            missed: self.missed,
            partitions: self.partitions,
            replication: self.replication,
            onboarding: self.onboarding,
            onboard_timeout: self.onboard_timeout,
            found: self.found,
            max_depth: self.max_depth,
            task_timeout: self.task_timeout,
            read_only: self.read_only,
        };
        if !cfg.read_only {
            for t in GroupTopic::ALL {
                transport
                    .ensure_topic(&group.topic(t), cfg.partitions, cfg.replication)
                    .await?;
            }
        }
        let admitted: HashSet<String> = self.store.admitted_members().await?.into_iter().collect();
        let core = Arc::new(Core::new(
            cfg,
            Arc::clone(&transport),
            Arc::clone(&self.store),
            self.handler,
            admitted,
            self.memory,
        ));
        if let Some(gate) = self.zone_gate {
            let _ = core.zone_gate.set(gate);
        }
        let mut opts = ConsumerOptions::new(self.agent_id.clone());
        opts.max_wait = self.max_wait;
        if self.read_only {
            // A reader must not share de-duplication marks with the agent itself.
            opts.consumer_id =
                format!("{}#reader-{}", self.agent_id, uuid::Uuid::new_v4().simple());
        }
        let consumer = BroadcastConsumer::new(
            transport,
            self.store,
            Arc::new(Decoding(Protocol(Arc::clone(&core)))),
            opts,
        );
        let guard = Arc::new(Guard {
            core: Arc::clone(&core),
            consumer: consumer.clone(),
        });
        let agent = GroupAgent {
            core,
            consumer,
            _guard: guard,
        };
        agent.start().await?;
        Ok(agent)
    }
}

type Consumer<S, T> = BroadcastConsumer<T, S, Decoding<Protocol<S, T>>>;

/// One agent of a group. Cheap to clone (clones share the agent). When the last
/// clone is dropped the agent stops as [`GroupAgent::halt`] does (without `leave`);
/// call [`GroupAgent::shutdown`] to leave first.
pub struct GroupAgent<S: GroupStore = MemoryOffsetStore, T: Transport = KafkaTransport> {
    core: Arc<Core<S, T>>,
    consumer: Consumer<S, T>,
    _guard: Arc<Guard<S, T>>,
}

/// Stops the background work when the last handle of an agent goes away.
struct Guard<S: GroupStore, T: Transport> {
    core: Arc<Core<S, T>>,
    consumer: Consumer<S, T>,
}

impl<S: GroupStore, T: Transport> Drop for Guard<S, T> {
    fn drop(&mut self) {
        self.core.shutdown.send_replace(true);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let consumer = self.consumer.clone();
            rt.spawn(async move { consumer.shutdown().await });
        }
    }
}

impl<S: GroupStore, T: Transport> Clone for GroupAgent<S, T> {
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
            consumer: self.consumer.clone(),
            _guard: Arc::clone(&self._guard),
        }
    }
}

impl<S: GroupStore, T: Transport> std::fmt::Debug for GroupAgent<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupAgent")
            .field("group", &self.core.cfg.group.as_str())
            .field("agent_id", &self.core.cfg.agent_id)
            .finish_non_exhaustive()
    }
}

impl<S: GroupStore, T: Transport> GroupAgent<S, T> {
    async fn start(&self) -> Result<()> {
        let core = &self.core;
        if !core.cfg.read_only && core.handler.is_some() {
            // Before anything is read: a claim record read again must find its request.
            core.load_open_tasks().await?;
        }
        let window = core.cfg.window();
        let t = &core.topics;
        let onboarding_start = if core.cfg.onboarding.is_gated() {
            // Admissions are state: replay them all (a durable store resumes instead).
            StartAt::Earliest
        } else {
            StartAt::LookBack(window)
        };
        let mut control = vec![
            Subscription::resume(&t.announce, StartAt::LookBack(window)),
            Subscription::resume(&t.onboarding, onboarding_start),
        ];
        let mut rest = Vec::new();
        // The manifest and memory items are state: read them all (a durable store resumes).
        control.push(Subscription::resume(&t.roster, StartAt::Earliest));
        control.push(Subscription::resume(&t.memory_shared, StartAt::Earliest));
        control.push(Subscription::resume(&t.memory_context, StartAt::Earliest));
        if !core.cfg.read_only {
            control.push(Subscription::resume(&t.traces, StartAt::LookBack(window)));
            control.push(Subscription::resume(&t.audit, StartAt::LookBack(window)));
            for topic in [&t.requests, &t.responses, &t.status] {
                rest.push(Subscription::resume(topic, StartAt::Latest));
            }
        }
        let mut caught_up = Vec::new();
        for sub in control.into_iter().chain(rest) {
            match self.consumer.subscribe(sub.clone()).await {
                Ok(()) => caught_up.push(sub.topic),
                Err(Error::UnknownTopic { topic }) if core.cfg.read_only => {
                    info!(%topic, "topic does not exist yet; nothing to read");
                }
                Err(e) => return Err(e),
            }
        }
        self.catch_up(&caught_up, Duration::from_secs(30)).await;
        core.sweep().await;
        if !core.cfg.read_only && core.handler.is_some() {
            // Skills provided before a restart, and those given to the builder (only an
            // agent with a task handler provides skills).
            let mut skills: HashMap<String, StartAt> = core
                .provided()
                .into_iter()
                .map(|s| (s, StartAt::Latest))
                .collect();
            for (skill, since) in core.store.provided_skills(core.cfg.group.as_str()).await? {
                // Partitions never read before start where the skill was registered.
                let back = (chrono::Utc::now() - since).to_std().unwrap_or_default();
                skills.insert(skill, StartAt::LookBack(back));
            }
            for (skill, start) in skills {
                self.provide_skill(&skill, start).await?;
            }
        }
        if !core.cfg.read_only {
            self.spawn_loops();
        }
        Ok(())
    }

    /// Registers a skill this agent provides: validates the name, creates the skill's
    /// requests and responses topics, subscribes to them, adds this agent to the topic
    /// manifest and publishes it on `control.roster`, stores the skill (so a restart
    /// subscribes again) and publishes a `skill_registered` audit. Registering a skill
    /// again only re-subscribes. Returns whether the manifest changed.
    ///
    /// Tasks for the skill are claimed like open tasks: exactly one provider runs each.
    pub async fn register_skill(&self, skill: &str) -> Result<bool> {
        self.provide_skill(skill, StartAt::Latest).await
    }

    async fn provide_skill(&self, skill: &str, start: StartAt) -> Result<bool> {
        let core = &self.core;
        let name = crate::skills::skill_name(skill)?;
        let (requests, responses) = crate::skills::topics(&core.cfg.group, &name)?;
        // Provided before the first request can be read, or it would not be claimed.
        let changed = core.provide(&name)?;
        core.ensure_topics(&[&requests, &responses]).await?;
        self.consumer
            .subscribe(Subscription::resume(&requests, start))
            .await?;
        self.consumer
            .subscribe(Subscription::resume(&responses, StartAt::Latest))
            .await?;
        core.store
            .save_provided_skill(
                core.cfg.group.as_str(),
                name.as_str(),
                (&requests, &responses),
                &core.cfg.agent_id,
            )
            .await?;
        // Published even when unchanged: a restarted provider reminds the group.
        core.publish_manifest(core.manifest()).await?;
        if changed.is_some() {
            let audit =
                AuditPayload::skill_registered(&core.cfg.agent_id, name.as_str(), &requests);
            if let Err(e) = core.publish_audit(audit).await {
                warn!(error = %e, "cannot publish the skill_registered audit");
            }
            info!(skill = %name.as_str(), "skill registered");
        }
        Ok(changed.is_some())
    }

    /// Stops providing a skill: it is no longer claimed, removed from the store, and
    /// this agent is taken out of its manifest entries (the topics stay). Returns
    /// whether the agent provided it.
    pub async fn unregister_skill(&self, skill: &str) -> Result<bool> {
        let core = &self.core;
        let name = crate::skills::skill_name(skill)?;
        let (was, manifest) = core.unprovide(name.as_str());
        core.store
            .remove_provided_skill(core.cfg.group.as_str(), name.as_str())
            .await?;
        if was {
            core.publish_manifest(manifest).await?;
        }
        Ok(was)
    }

    /// Skills this agent provides.
    pub fn provided_skills(&self) -> Vec<String> {
        self.core.provided()
    }

    /// The group's skills from the merged topic manifest, with the registered agents
    /// that are in the roster now.
    pub fn skills(&self) -> Vec<crate::skills::SkillInfo> {
        let live: Vec<String> = self.core.roster().into_iter().map(|m| m.agent_id).collect();
        crate::skills::list(&self.core.manifest(), &live)
    }

    /// Shares an item with the group: on `memory.shared`, or on `memory.context` with
    /// an expiry when it has a time to live. Content up to the inline limit travels in
    /// the item; larger content goes through the LFS proxy (an error without one).
    /// The item id is a UUIDv7 and the record key.
    pub async fn share_memory(&self, share: MemoryShare) -> Result<kafclaw_envelope::MemoryItem> {
        self.core.share_memory(share).await
    }

    /// Memory items read so far and not expired, oldest first.
    pub fn memory_items(&self) -> Vec<kafclaw_envelope::MemoryItem> {
        self.core.memory_items()
    }

    /// The topic manifest as merged by this agent.
    pub fn manifest(&self) -> kafclaw_envelope::TopicManifest {
        self.core.manifest()
    }

    /// Waits until every partition of `topics` has been read up to where it ended when
    /// this was called (or `within` passed).
    async fn catch_up(&self, topics: &[String], within: Duration) {
        let mut targets: HashMap<(String, i32), i64> = HashMap::new();
        for topic in topics {
            let Ok(partitions) = self.core.transport.partitions(topic).await else {
                continue;
            };
            for p in partitions {
                if let Ok(end) = self
                    .core
                    .transport
                    .offset(topic, p, OffsetQuery::Latest)
                    .await
                {
                    targets.insert((topic.clone(), p), end);
                }
            }
        }
        let deadline = Instant::now() + within;
        loop {
            let lag = self.consumer.lag();
            let done = targets.iter().all(|((topic, p), end)| {
                lag.iter()
                    .any(|l| &l.topic == topic && l.partition == *p && l.next_offset >= *end)
            });
            if done {
                return;
            }
            if Instant::now() >= deadline {
                warn!(group = %self.core.cfg.group.as_str(), "still reading the look-back window; the roster may be incomplete");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn spawn_loops(&self) {
        let core = Arc::clone(&self.core);
        let beat = async move {
            let mut tick = tokio::time::interval(core.cfg.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = core.heartbeat_now.notified() => {}
                }
                if !core.is_joined() {
                    continue;
                }
                match core.announce(AnnounceAction::Heartbeat).await {
                    Ok(()) => {
                        if let Err(e) = core
                            .store
                            .save_member(core.own_member_record("active"))
                            .await
                        {
                            warn!(error = %e, "cannot store the own roster entry");
                        }
                    }
                    Err(e) => warn!(error = %e, "heartbeat failed"),
                }
            }
        };
        self.core.spawn(beat);
        let core = Arc::clone(&self.core);
        let sweep = async move {
            let every = (core.cfg.heartbeat / 2).max(Duration::from_millis(50));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                core.sweep().await;
            }
        };
        self.core.spawn(sweep);
    }

    /// The agent id.
    pub fn agent_id(&self) -> &str {
        &self.core.cfg.agent_id
    }

    /// The group name.
    pub fn group(&self) -> &str {
        self.core.cfg.group.as_str()
    }

    /// The heartbeat interval × missed heartbeats: how long a silent member stays.
    pub fn expiry_window(&self) -> Duration {
        self.core.cfg.window()
    }

    /// Joins: onboards when the group asks for it, then announces `join` and starts
    /// heartbeating.
    ///
    /// Open group: when other members are present, one sponsor answers the onboarding
    /// request; if none answers within the onboarding timeout the agent joins anyway.
    /// Gated group: the agent must be admitted — by a sponsor that checks its answer
    /// to a challenge, or as founder ([`GroupAgentBuilder::found_group`]) of a group
    /// with no admitted member; a rejection or the timeout is an error.
    pub async fn join(&self) -> Result<()> {
        let core = &self.core;
        if core.cfg.read_only {
            return Err(Error::Invalid {
                what: "join",
                reason: "a read-only agent cannot join".into(),
            });
        }
        if core.is_joined() {
            return Err(Error::AlreadyJoined {
                group: self.group().into(),
                agent_id: self.agent_id().into(),
            });
        }
        match &core.cfg.onboarding {
            Onboarding::Gated { secret } => {
                if secret.is_empty() {
                    return Err(Error::Config {
                        key: "group.onboardSecret",
                        reason: "a gated group needs the group secret".into(),
                    });
                }
                if !core.is_admitted(self.agent_id()) {
                    if core.cfg.found && core.admitted().is_empty() {
                        self.found().await?;
                    } else {
                        self.onboard(true).await?;
                    }
                }
            }
            Onboarding::Open => {
                if core.other_members() > 0 {
                    match self.onboard(false).await {
                        Ok(()) => {}
                        Err(Error::OnboardingTimeout { waited, .. }) => {
                            warn!(
                                ?waited,
                                "no sponsor answered; joining the open group anyway"
                            );
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        core.set_joined(true);
        if let Err(e) = core.announce(AnnounceAction::Join).await {
            core.set_joined(false);
            return Err(e);
        }
        if let Err(e) = core
            .store
            .save_member(core.own_member_record("active"))
            .await
        {
            warn!(error = %e, "cannot store the own roster entry");
        }
        info!(group = %self.group(), agent = %self.agent_id(), "joined");
        core.resume_open_tasks();
        Ok(())
    }

    async fn found(&self) -> Result<()> {
        let core = &self.core;
        core.found().await?;
        let admitted = kafclaw_wait(core.cfg.onboard_timeout, || {
            core.is_admitted(&core.cfg.agent_id)
        })
        .await;
        if admitted {
            info!(group = %self.group(), "founded the gated group");
            Ok(())
        } else {
            Err(Error::OnboardingTimeout {
                group: self.group().into(),
                waited: core.cfg.onboard_timeout,
                reason:
                    "the founding admission was not confirmed (is another agent admitted already?)"
                        .into(),
            })
        }
    }

    async fn onboard(&self, gated: bool) -> Result<()> {
        let core = &self.core;
        let rx = core.start_onboarding().await?;
        let waited = core.cfg.onboard_timeout;
        let outcome = tokio::time::timeout(waited, rx).await;
        core.clear_onboarding();
        match outcome {
            Ok(Ok(Ok(sponsor))) => {
                info!(%sponsor, "onboarded");
                Ok(())
            }
            Ok(Ok(Err((sponsor, reason)))) => Err(Error::OnboardingRejected {
                group: self.group().into(),
                sponsor,
                reason: if reason.is_empty() {
                    "no reason given".into()
                } else {
                    reason
                },
            }),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::OnboardingTimeout {
                group: self.group().into(),
                waited,
                reason: if gated {
                    "no admitted member sponsored this agent".into()
                } else {
                    "no member answered the onboarding request".into()
                },
            }),
        }
    }

    /// Announces `leave` and stops heartbeating (the agent keeps reading and may join again).
    pub async fn leave(&self) -> Result<()> {
        let core = &self.core;
        if !core.is_joined() {
            return Err(Error::NotJoined {
                group: self.group().into(),
                agent_id: self.agent_id().into(),
            });
        }
        core.set_joined(false);
        core.announce(AnnounceAction::Leave).await?;
        if let Err(e) = core.store.save_member(core.own_member_record("left")).await {
            warn!(error = %e, "cannot store the own roster entry");
        }
        info!(group = %self.group(), agent = %self.agent_id(), "left");
        Ok(())
    }

    /// Announces `leave` for this agent id whether or not this process joined (for
    /// tools that take a member out after its process is gone, like `kafclaw group
    /// leave`). On a joined agent it is [`Self::leave`].
    pub async fn announce_leave(&self) -> Result<()> {
        if self.core.is_joined() {
            return self.leave().await;
        }
        self.core.announce(AnnounceAction::Leave).await
    }

    /// True between `join` and `leave`.
    pub fn is_joined(&self) -> bool {
        self.core.is_joined()
    }

    /// Submits a task and waits for its response (or a timeout error). A rejection is
    /// a response with status `rejected` and the reason as content.
    pub async fn submit(&self, spec: TaskSpec) -> Result<TaskResponse> {
        self.submit_task(spec).await?.wait().await
    }

    /// Submits a task and returns at once with a handle to follow its progress and
    /// await its response.
    ///
    /// A task with a skill and no target goes to the skill's requests topic (one of
    /// its providers claims it); the agent subscribes to the skill's responses first.
    pub async fn submit_task(&self, spec: TaskSpec) -> Result<PendingTask> {
        self.watch_skill_responses(&spec).await?;
        self.core.submit(spec, None).await
    }

    /// Submits a child of `parent` (a task this agent is running) and returns at once:
    /// like [`IncomingTask::delegate`] (depth + 1, the parent's id, the original
    /// requester, a deadline no later than the parent's; refused locally when too deep),
    /// with a handle to follow who works on it and await its response.
    pub async fn delegate_task(
        &self,
        parent: &crate::tasks::IncomingTask,
        spec: TaskSpec,
    ) -> Result<PendingTask> {
        self.delegate_from(parent.request(), spec).await
    }

    /// Like [`Self::delegate_task`] for a task this agent runs that did not come
    /// through the group's task topics (an orchestrator's zone task): `parent` carries
    /// its id, requester, depth and deadline.
    pub async fn delegate_from(&self, parent: &TaskRequest, spec: TaskSpec) -> Result<PendingTask> {
        self.watch_skill_responses(&spec).await?;
        self.core.submit(spec, Some(parent)).await
    }

    /// A task routed by skill is answered on the skill's responses topic: read it.
    async fn watch_skill_responses(&self, spec: &TaskSpec) -> Result<()> {
        if let (Some(skill), None) = (spec.skill.as_deref(), spec.target.as_deref()) {
            let core = &self.core;
            let name = crate::skills::skill_name(skill)?;
            let (requests, responses) = crate::skills::topics(&core.cfg.group, &name)?;
            core.ensure_topics(&[&requests, &responses]).await?;
            self.consumer
                .subscribe(Subscription::resume(&responses, StartAt::Latest))
                .await?;
        }
        Ok(())
    }

    /// The current members, this agent included once joined, by agent id.
    pub fn roster(&self) -> Vec<Member> {
        self.core.roster()
    }

    /// The roster, updated whenever a member joins, leaves, expires or changes.
    pub fn watch_roster(&self) -> watch::Receiver<Vec<Member>> {
        self.core.roster_tx.subscribe()
    }

    /// Agents admitted to this gated group (empty in an open group until someone onboards).
    pub fn admitted(&self) -> Vec<String> {
        self.core.admitted()
    }

    /// Sets which zones' messages this agent reads: a message whose envelope carries a
    /// `zone_id` the gate refuses is dropped (counted in `zone_drops`) before it has any
    /// effect. Messages without a zone are always read. Without a gate every zone is read.
    /// The orchestrator sets it (its zone membership); returns false if one was set before.
    pub fn set_zone_gate(&self, gate: impl Fn(&str) -> bool + Send + Sync + 'static) -> bool {
        self.core.zone_gate.set(Arc::new(gate)).is_ok()
    }

    /// Publishes a trace span to `traces` (every member stores it once).
    pub async fn publish_trace(&self, span: TracePayload) -> Result<()> {
        self.core.publish_trace(span).await
    }

    /// Publishes an audit event to `observe.audit`.
    pub async fn publish_audit(&self, audit: AuditPayload) -> Result<()> {
        self.core.publish_audit(audit).await
    }

    /// How far the agent has read each partition of its topics.
    pub fn lag(&self) -> Vec<PartitionLag> {
        self.consumer.lag()
    }

    /// Counters.
    pub fn stats(&self) -> GroupStats {
        GroupStats {
            consumer: self.consumer.stats(),
            protocol: self.core.stats(),
        }
    }

    /// Leaves (if joined) and stops.
    pub async fn shutdown(&self) {
        if self.core.is_joined()
            && let Err(e) = self.leave().await
        {
            warn!(error = %e, "leave during shutdown failed");
        }
        self.halt().await;
    }

    /// Stops heartbeats, running tasks and the consumer without announcing `leave`:
    /// to the group it is as if the process died.
    pub async fn halt(&self) {
        self.core.shutdown.send_replace(true);
        self.consumer.shutdown().await;
    }
}

async fn kafclaw_wait(within: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
