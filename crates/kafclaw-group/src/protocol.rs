//! The group protocol's engine: the state one agent keeps (roster, admissions, open
//! claims, pending requests, onboarding), the handler that applies each consumed
//! envelope inside its record transaction, and everything the agent publishes.
//!
//! Rule of the handler: it only changes in-memory state and writes persistent effects
//! through the transaction; anything slow (publishing, running a task, a sponsor's
//! delayed answer) is spawned, so the consumer never waits on it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kafclaw_envelope::{
    AgentIdentity, AnnounceAction, AnnouncePayload, AuditPayload, Decoded, GroupEnvelope,
    GroupName, GroupTopic, MemoryItem, Message, OnboardAction, OnboardPayload, ResponseStatus,
    TaskRequest, TaskResponse, TaskState, TaskStatusPayload, Timestamp, TopicManifest,
    TracePayload,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, oneshot, watch};
use tracing::{debug, info, warn};

use crate::consumer::HandlerError;
use crate::decoding::EnvelopeHandler;
use crate::error::{Error, Result};
use crate::memory::{MemoryFailure, MemorySetup, MemoryShare, Provenance, SharedMemory, backoff};
use crate::onboarding::{Onboarding, challenge_answer, new_challenge, sponsor_rank, verify_answer};
use crate::roster::{Member, Roster, RosterChange};
use crate::store::{
    AuditRecord, DelegationRecord, GroupStore, GroupTxn, MemberRecord, OpenTaskRecord, SpanRecord,
};
use crate::tasks::{
    Delegator, IncomingTask, PendingTask, TaskHandler, TaskProgress, TaskSpec, check_incoming,
    default_description, format_deadline, parse_deadline,
};
use crate::transport::{InRecord, OutRecord, Transport};

/// A task that answers within this long publishes its opening statuses after the response.
const STATUS_GRACE: Duration = Duration::from_millis(100);
/// How long a quick task's statuses wait after its response: long enough for the
/// response to reach the requester first (measured by `cargo xtask bench group`: the
/// statuses sent right behind the response added about 0.3 ms to its round trip).
const STATUS_TRAIL: Duration = Duration::from_millis(5);

/// How long finished claims, answered onboardings and resolved task ids are remembered.
const MEMORY_WINDOW: Duration = Duration::from_secs(600);

/// Resolved settings of one agent.
#[derive(Debug, Clone)]
pub(crate) struct Cfg {
    pub group: GroupName,
    pub agent_id: String,
    pub identity: AgentIdentity,
    pub heartbeat: Duration,
    pub missed: u32,
    pub partitions: i32,
    pub replication: i16,
    pub onboarding: Onboarding,
    pub onboard_timeout: Duration,
    pub found: bool,
    pub max_depth: u32,
    pub task_timeout: Duration,
    pub read_only: bool,
}

impl Cfg {
    /// Heartbeat interval × missed heartbeats: the expiry window and the look-back.
    pub fn window(&self) -> Duration {
        self.heartbeat.saturating_mul(self.missed)
    }

    /// The pause between sponsor candidates: a lower-ranked member answers only if
    /// nobody ranked before it did.
    pub fn sponsor_step(&self) -> Duration {
        (self.heartbeat / 2).clamp(Duration::from_millis(200), Duration::from_secs(5))
    }
}

/// The topic names this agent uses.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    pub announce: String,
    pub onboarding: String,
    pub requests: String,
    pub responses: String,
    pub status: String,
    pub traces: String,
    pub audit: String,
    pub roster: String,
    pub memory_shared: String,
    pub memory_context: String,
}

impl Topics {
    pub fn new(group: &GroupName) -> Self {
        Self {
            announce: group.topic(GroupTopic::Announce),
            onboarding: group.topic(GroupTopic::Onboarding),
            requests: group.topic(GroupTopic::Requests),
            responses: group.topic(GroupTopic::Responses),
            status: group.topic(GroupTopic::TasksStatus),
            traces: group.topic(GroupTopic::Traces),
            audit: group.topic(GroupTopic::Audit),
            roster: group.topic(GroupTopic::Roster),
            memory_shared: group.topic(GroupTopic::MemoryShared),
            memory_context: group.topic(GroupTopic::MemoryContext),
        }
    }
}

/// Counters of what the protocol did beyond the consumer's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolStats {
    /// Announces, tasks, responses, traces and audits ignored because the sender was
    /// never admitted to this gated group.
    pub ignored_unadmitted: u64,
    /// Announces whose `identity.agent_id` differs from `sender_id` (refused).
    pub identity_mismatches: u64,
    /// Responses to a task that already had one (logged and dropped).
    pub duplicate_responses: u64,
    /// Responses to tasks this agent did not submit, or no longer waits for.
    pub unknown_responses: u64,
    /// Claims this agent published.
    pub claims_sent: u64,
    /// Claims refused because the claimant was not the sender.
    pub forged_claims: u64,
    /// Tasks this agent ran (its handler was called).
    pub tasks_run: u64,
    /// Tasks this agent rejected (depth, deadline).
    pub tasks_rejected: u64,
    /// Onboarding answers (challenge, complete, reject) this agent sent as sponsor.
    pub onboarding_answers: u64,
    /// Messages that could not be published.
    pub publish_failures: u64,
    /// Records that were LFS pointers or knowledge envelopes (not handled here).
    pub skipped_records: u64,
    /// Memory items handed to the memory hook.
    pub memory_delivered: u64,
    /// Memory items not delivered because they had expired.
    pub memory_expired: u64,
    /// LFS downloads of memory content that failed and were tried again.
    pub memory_download_retries: u64,
    /// Messages of a zone this agent may not read (the envelope's `zone_id`), dropped.
    pub zone_drops: u64,
    /// Memory items whose content could not be obtained (reported to the error hook).
    pub memory_failures: u64,
}

struct Pending {
    response: Option<oneshot::Sender<TaskResponse>>,
    progress: watch::Sender<TaskProgress>,
}

#[derive(Default)]
struct Claim {
    /// The request and the W3C traceparent of its envelope.
    request: Option<(TaskRequest, Option<String>)>,
    winner: Option<String>,
    claimed_by_me: bool,
    at: Option<Instant>,
}

/// What became of this agent's claim.
enum ClaimOutcome {
    /// It won: the request and its traceparent.
    Won(Box<(TaskRequest, Option<String>)>),
    /// Another agent's claim came first.
    Lost,
}

struct MyOnboarding {
    correlation_id: String,
    sponsor: Option<String>,
    done: Option<oneshot::Sender<std::result::Result<String, (String, String)>>>,
}

struct Challenge {
    requester: String,
    nonce: String,
    expires: Instant,
}

struct State {
    joined: bool,
    joined_at: String,
    roster: Roster,
    admitted: HashSet<String>,
    pending: HashMap<String, Pending>,
    resolved: HashMap<String, Instant>,
    /// Which record (topic/partition/offset) resolved a task: the same record seen
    /// again (preview, then handle) is not a duplicate response.
    resolved_by: HashMap<String, String>,
    claims: HashMap<String, Claim>,
    running: HashMap<String, Instant>,
    onboarding: Option<MyOnboarding>,
    answered: HashMap<String, Instant>,
    challenges: HashMap<String, Challenge>,
    last_extra_heartbeat: Option<Instant>,
    stats: ProtocolStats,
    /// The group's topic manifest (merged entry by entry).
    manifest: TopicManifest,
    /// Skills this agent provides.
    provided: std::collections::BTreeSet<String>,
    /// Tasks a previous run committed to, to resume once joined.
    resume: Vec<OpenTaskRecord>,
    /// Tasks that came on a skill topic: task id → skill (their response goes back there).
    skill_tasks: HashMap<String, (String, Instant)>,
    /// Memory items received, by item id.
    memory: HashMap<String, MemoryItem>,
    /// Skill topics this agent created or found already (no second admin call).
    ensured: HashSet<String>,
}

/// The shared core of one agent.
pub(crate) struct Core<S, T> {
    pub cfg: Cfg,
    pub topics: Topics,
    pub transport: Arc<T>,
    pub store: Arc<S>,
    state: Mutex<State>,
    pub roster_tx: watch::Sender<Vec<Member>>,
    pub handler: Option<Arc<dyn TaskHandler>>,
    pub shutdown: watch::Sender<bool>,
    pub heartbeat_now: Notify,
    pub memory: MemorySetup,
    /// Decides which zones' messages this agent reads (set once, by the orchestrator).
    pub zone_gate: std::sync::OnceLock<ZoneGate>,
}

/// Whether this agent may read a message of the given zone (the envelope's `zone_id`).
pub type ZoneGate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

fn lock<X>(m: &Mutex<X>) -> std::sync::MutexGuard<'_, X> {
    // Critical sections are short map updates; a poisoned lock still holds usable state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn store_failed(e: crate::offsets::StoreError) -> HandlerError {
    HandlerError::Failed(e.to_string())
}

fn digest_id(prefix: &str, bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    format!("{prefix}-{}", hex::encode(&d[..16]))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl<S: GroupStore, T: Transport> Core<S, T> {
    pub fn new(
        cfg: Cfg,
        transport: Arc<T>,
        store: Arc<S>,
        handler: Option<Arc<dyn TaskHandler>>,
        admitted: HashSet<String>,
        memory: MemorySetup,
    ) -> Self {
        let topics = Topics::new(&cfg.group);
        let (roster_tx, _) = watch::channel(Vec::new());
        let (shutdown, _) = watch::channel(false);
        let expiry = cfg.window();
        let manifest = TopicManifest::new(&cfg.group, Timestamp::now());
        let provided = cfg.identity.skills.iter().cloned().collect();
        Self {
            cfg,
            topics,
            transport,
            store,
            state: Mutex::new(State {
                joined: false,
                joined_at: String::new(),
                roster: Roster::new(expiry),
                admitted,
                pending: HashMap::new(),
                resolved: HashMap::new(),
                resolved_by: HashMap::new(),
                claims: HashMap::new(),
                running: HashMap::new(),
                onboarding: None,
                answered: HashMap::new(),
                challenges: HashMap::new(),
                last_extra_heartbeat: None,
                stats: ProtocolStats::default(),
                manifest,
                provided,
                resume: Vec::new(),
                skill_tasks: HashMap::new(),
                memory: HashMap::new(),
                ensured: HashSet::new(),
            }),
            roster_tx,
            handler,
            zone_gate: std::sync::OnceLock::new(),
            shutdown,
            heartbeat_now: Notify::new(),
            memory,
        }
    }

    fn gated(&self) -> bool {
        self.cfg.onboarding.is_gated()
    }

    pub fn stats(&self) -> ProtocolStats {
        lock(&self.state).stats.clone()
    }

    fn count(&self, f: impl FnOnce(&mut ProtocolStats)) {
        f(&mut lock(&self.state).stats);
    }

    pub fn is_joined(&self) -> bool {
        lock(&self.state).joined
    }

    pub fn is_admitted(&self, agent_id: &str) -> bool {
        lock(&self.state).admitted.contains(agent_id)
    }

    pub fn admitted(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.state).admitted.iter().cloned().collect();
        v.sort();
        v
    }

    pub fn roster(&self) -> Vec<Member> {
        lock(&self.state).roster.snapshot()
    }

    /// Members other than this agent that are in the roster now.
    pub fn other_members(&self) -> usize {
        lock(&self.state).roster.others().count()
    }

    fn publish_roster(&self, st: &State) {
        self.roster_tx.send_replace(st.roster.snapshot());
    }

    /// Runs `fut` on its own task until it ends or the agent shuts down.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = fut => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }

    /// This agent's identity as announced now.
    pub fn identity(&self) -> AgentIdentity {
        let st = lock(&self.state);
        self.identity_locked(&st)
    }

    // ------------------------------------------------------------ skills

    /// The topic manifest as this agent knows it.
    pub fn manifest(&self) -> TopicManifest {
        lock(&self.state).manifest.clone()
    }

    /// Skills this agent provides.
    pub fn provided(&self) -> Vec<String> {
        lock(&self.state).provided.iter().cloned().collect()
    }

    /// Starts providing `skill` and adds this agent to its manifest entries; returns
    /// the manifest to publish when it changed.
    pub fn provide(&self, skill: &kafclaw_envelope::SkillName) -> Result<Option<TopicManifest>> {
        let mut st = lock(&self.state);
        st.provided.insert(skill.as_str().to_owned());
        let changed = crate::skills::add_provider(
            &mut st.manifest,
            &self.cfg.group,
            skill,
            &self.cfg.agent_id,
        )?;
        Ok(changed.then(|| st.manifest.clone()))
    }

    /// Stops providing `skill` and removes this agent from its manifest entries;
    /// returns the manifest to publish and whether the skill was provided.
    pub fn unprovide(&self, skill: &str) -> (bool, TopicManifest) {
        let mut st = lock(&self.state);
        let was = st.provided.remove(skill);
        let me = self.cfg.agent_id.clone();
        let suffix_req = format!(".skill.{skill}.requests");
        let suffix_resp = format!(".skill.{skill}.responses");
        let mut changed = false;
        for d in st
            .manifest
            .skill_topics
            .iter_mut()
            .filter(|d| d.name.ends_with(&suffix_req) || d.name.ends_with(&suffix_resp))
        {
            let before = d.consumers.len();
            d.consumers.retain(|c| c != &me);
            changed |= before != d.consumers.len();
        }
        if changed {
            st.manifest.version += 1;
            st.manifest.updated_at = Timestamp::now();
            st.manifest.updated_by = me;
        }
        (was, st.manifest.clone())
    }

    /// Creates the topics unless this agent did so before.
    pub async fn ensure_topics(&self, topics: &[&String]) -> Result<()> {
        for topic in topics {
            if lock(&self.state).ensured.contains(*topic) {
                continue;
            }
            self.transport
                .ensure_topic(topic, self.cfg.partitions, self.cfg.replication)
                .await?;
            lock(&self.state).ensured.insert((*topic).clone());
        }
        Ok(())
    }

    /// Publishes the whole manifest to `control.roster` (key: the group name).
    pub async fn publish_manifest(&self, manifest: TopicManifest) -> Result<()> {
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Roster(manifest));
        self.publish(&self.topics.roster, self.cfg.group.as_str(), &env)
            .await
    }

    // ------------------------------------------------------------ publishing

    pub async fn publish(&self, topic: &str, key: &str, envelope: &GroupEnvelope) -> Result<()> {
        let bytes = envelope.to_json().map_err(|e| Error::Encode {
            what: "group",
            reason: e.to_string(),
        })?;
        let mut record = OutRecord::keyed(key, bytes);
        if let Some(id) = &envelope.message_id {
            record = record.with_message_id(id);
        }
        match self.transport.produce(topic, record).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.count(|s| s.publish_failures += 1);
                Err(e)
            }
        }
    }

    /// Publishes and only logs a failure (for messages nobody waits on here).
    async fn publish_logged(&self, topic: &str, key: &str, envelope: GroupEnvelope) {
        if let Err(e) = self.publish(topic, key, &envelope).await {
            warn!(%topic, r#type = envelope.type_name(), error = %e, "cannot publish");
        }
    }

    pub async fn announce(&self, action: AnnounceAction) -> Result<()> {
        let payload = AnnouncePayload::new(action, self.identity());
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Announce(payload));
        self.publish(&self.topics.announce, &self.cfg.agent_id, &env)
            .await?;
        if action != AnnounceAction::Leave {
            let now = Utc::now();
            let mut st = lock(&self.state);
            if st.joined {
                let id = self.identity_locked(&st);
                if matches!(
                    st.roster.seen(id, now, now, true),
                    RosterChange::Added | RosterChange::Changed
                ) {
                    self.publish_roster(&st);
                }
            }
        }
        Ok(())
    }

    fn identity_locked(&self, st: &State) -> AgentIdentity {
        let mut id = self.cfg.identity.clone();
        id.joined_at = st.joined_at.clone();
        id.skills = st.provided.iter().cloned().collect();
        id
    }

    fn onboard_envelope(&self, payload: OnboardPayload, correlation_id: &str) -> GroupEnvelope {
        GroupEnvelope::new(&self.cfg.agent_id, Message::Onboard(payload))
            .with_correlation_id(correlation_id)
    }

    async fn publish_onboard(&self, payload: OnboardPayload, correlation_id: &str) -> Result<()> {
        let env = self.onboard_envelope(payload, correlation_id);
        // One key for the whole group: every onboarding message lands in one partition,
        // so every member sees requests, answers and admissions in the same order.
        self.publish(&self.topics.onboarding, self.cfg.group.as_str(), &env)
            .await
    }

    async fn publish_status(&self, task_id: &str, state: TaskState, summary: &str) {
        self.publish_statuses(task_id, &[(state, summary)]).await;
    }

    /// Publishes statuses of one task in order; queued together, they go out as one
    /// produce request (same key, same partition).
    async fn publish_statuses(&self, task_id: &str, statuses: &[(TaskState, &str)]) {
        let envelopes: Vec<GroupEnvelope> = statuses
            .iter()
            .map(|(state, summary)| {
                let mut payload = TaskStatusPayload::new(task_id, &self.cfg.agent_id, *state);
                payload.summary = (*summary).to_owned();
                GroupEnvelope::new(&self.cfg.agent_id, Message::TaskStatus(payload))
            })
            .collect();
        let sends = envelopes
            .iter()
            .map(|env| self.publish(&self.topics.status, task_id, env));
        for (env, outcome) in envelopes.iter().zip(futures::future::join_all(sends).await) {
            if let Err(e) = outcome {
                warn!(topic = %self.topics.status, r#type = env.type_name(), error = %e, "cannot publish");
            }
        }
    }

    async fn publish_response(&self, task_id: &str, status: ResponseStatus, content: String) {
        let payload = TaskResponse::new(task_id, &self.cfg.agent_id, status, content);
        let skill = lock(&self.state)
            .skill_tasks
            .get(task_id)
            .map(|(s, _)| s.clone());
        let skill_topic = skill.and_then(|s| {
            let name = crate::skills::skill_name(&s).ok()?;
            crate::skills::topics(&self.cfg.group, &name).ok()
        });
        match skill_topic {
            Some((_, responses)) => {
                let env = GroupEnvelope::new(&self.cfg.agent_id, Message::SkillResponse(payload));
                self.publish_logged(&responses, task_id, env).await;
            }
            None => {
                let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Response(payload));
                self.publish_logged(&self.topics.responses, task_id, env)
                    .await;
            }
        }
    }

    pub async fn publish_trace(&self, span: TracePayload) -> Result<()> {
        let key = if span.trace_id.is_empty() {
            self.cfg.agent_id.clone()
        } else {
            span.trace_id.clone()
        };
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Trace(span));
        self.publish(&self.topics.traces, &key, &env).await
    }

    pub async fn publish_audit(&self, audit: AuditPayload) -> Result<()> {
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Audit(audit));
        self.publish(&self.topics.audit, &self.cfg.agent_id, &env)
            .await
    }

    // ------------------------------------------------------------ shared memory

    /// Shares an item: inline up to the limit, through the LFS proxy beyond it.
    pub async fn share_memory(&self, share: MemoryShare) -> Result<MemoryItem> {
        if share.title.trim().is_empty() {
            return Err(Error::Invalid {
                what: "memory title",
                reason: "must not be empty".into(),
            });
        }
        let now = Timestamp::now();
        let item_id = uuid::Uuid::now_v7().to_string();
        let topic = if share.ttl.is_some() {
            self.topics.memory_context.clone()
        } else {
            self.topics.memory_shared.clone()
        };
        let mut item = MemoryItem {
            item_id: item_id.clone(),
            author_id: self.cfg.agent_id.clone(),
            title: share.title,
            content_type: share.content_type,
            tags: share.tags,
            created_at: now,
            ..MemoryItem::default()
        };
        if let Some(ttl) = share.ttl {
            let at = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
            item.expires_at = Some(Timestamp::from(at));
        }
        let opts = &self.memory.opts;
        let inline = if share.content.len() <= opts.inline_limit {
            String::from_utf8(share.content).map_err(|e| e.into_bytes())
        } else {
            Err(share.content)
        };
        match inline {
            Ok(text) => item.content = Some(text),
            Err(bytes) => {
                let Some(lfs) = &opts.lfs else {
                    return Err(Error::Config {
                        key: "group.lfsProxyUrl",
                        reason: format!(
                            "{} bytes of content (more than the inline limit of {}, or not UTF-8) need the LFS proxy, and none is configured",
                            bytes.len(),
                            opts.inline_limit
                        ),
                    });
                };
                let pointer = lfs
                    .produce(&topic, &item_id, &item_id, &item.content_type, bytes)
                    .await?;
                item.lfs_envelope = Some(pointer);
            }
        }
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Memory(item.clone()))
            .with_correlation_id(&item_id);
        self.publish(&topic, &item_id, &env).await?;
        Ok(item)
    }

    /// Memory items received and not expired, oldest first.
    pub fn memory_items(&self) -> Vec<MemoryItem> {
        let mut v: Vec<MemoryItem> = lock(&self.state)
            .memory
            .values()
            .filter(|i| !crate::memory::expired(i))
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.item_id.cmp(&b.item_id))
        });
        v
    }

    /// A memory item was read: keep it and deliver its content (spawned).
    fn on_memory(self: &Arc<Self>, item: &MemoryItem, provenance: Provenance) {
        if crate::memory::expired(item) {
            self.count(|s| s.memory_expired += 1);
            debug!(item = %item.item_id, "expired memory item not delivered");
            return;
        }
        lock(&self.state)
            .memory
            .insert(item.item_id.clone(), item.clone());
        if self.memory.hook.is_none() {
            // Nobody indexes memory here: listing the item is all there is to do.
            return;
        }
        let core = Arc::clone(self);
        let item = item.clone();
        self.spawn(async move { core.deliver_memory(item, provenance).await });
    }

    /// A record on a memory topic that is itself an LFS pointer: the real record is
    /// in object storage. Resolved (spawned) and handled as a memory item when it is
    /// one; Go's raw content blobs resolve to something else and are skipped.
    fn on_memory_pointer(
        self: &Arc<Self>,
        pointer: kafclaw_envelope::LfsEnvelope,
        record: &InRecord,
    ) {
        if self.memory.hook.is_none() {
            self.count(|s| s.skipped_records += 1);
            return;
        }
        let core = Arc::clone(self);
        let provenance = Provenance {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            sender: String::new(),
        };
        self.spawn(async move {
            match core.download(&pointer).await {
                Ok(bytes) => match kafclaw_envelope::decode_record_on(&provenance.topic, &bytes) {
                    Ok(Decoded::Group { envelope, .. }) => match envelope.message {
                        // Anything JSON decodes on this topic; an item has an id and a sender.
                        Message::Memory(item)
                            if !item.item_id.is_empty() && !envelope.sender_id.is_empty() =>
                        {
                            let provenance = Provenance {
                                sender: envelope.sender_id.clone(),
                                ..provenance
                            };
                            core.on_memory(&item, provenance);
                        }
                        _ => core.count(|s| s.skipped_records += 1),
                    },
                    _ => {
                        debug!(key = %pointer.key, "an LFS record on a memory topic that is not a memory item (a Go content blob) skipped");
                        core.count(|s| s.skipped_records += 1);
                    }
                },
                Err((attempts, reason)) => {
                    core.count(|s| s.memory_failures += 1);
                    warn!(key = %pointer.key, attempts, %reason, "an LFS pointer record on a memory topic could not be resolved");
                    if let Some(hook) = &core.memory.on_error {
                        hook(MemoryFailure {
                            item: MemoryItem {
                                item_id: pointer.key.clone(),
                                lfs_envelope: Some(pointer),
                                ..MemoryItem::default()
                            },
                            provenance,
                            attempts,
                            reason,
                        });
                    }
                }
            }
        });
    }

    async fn deliver_memory(self: Arc<Self>, item: MemoryItem, provenance: Provenance) {
        let content = match (&item.content, &item.lfs_envelope) {
            (Some(text), _) => Ok(text.clone().into_bytes()),
            (None, Some(pointer)) => self.download(pointer).await,
            // A Go agent's item without content or pointer: only the title travelled.
            (None, None) => Ok(Vec::new()),
        };
        match content {
            Ok(content) => {
                if crate::memory::expired(&item) {
                    self.count(|s| s.memory_expired += 1);
                    return;
                }
                self.count(|s| s.memory_delivered += 1);
                if let Some(hook) = &self.memory.hook {
                    hook(SharedMemory {
                        author: item.author_id.clone(),
                        tags: item.tags.clone(),
                        item,
                        content,
                        provenance,
                    });
                }
            }
            Err((attempts, reason)) => {
                self.count(|s| s.memory_failures += 1);
                warn!(item = %item.item_id, title = %item.title, attempts, %reason, "memory content could not be downloaded");
                if let Some(hook) = &self.memory.on_error {
                    hook(MemoryFailure {
                        item,
                        provenance,
                        attempts,
                        reason,
                    });
                }
            }
        }
    }

    async fn download(
        &self,
        pointer: &kafclaw_envelope::LfsEnvelope,
    ) -> std::result::Result<Vec<u8>, (u32, String)> {
        let opts = &self.memory.opts;
        let Some(lfs) = &opts.lfs else {
            return Err((
                0,
                "the content is in LFS and no LFS proxy is configured (group.lfsProxyUrl)".into(),
            ));
        };
        let attempts = opts.download_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                self.count(|s| s.memory_download_retries += 1);
                tokio::time::sleep(backoff(opts.retry_backoff, attempt)).await;
            }
            match lfs.download(pointer).await {
                Ok(bytes) => return Ok(bytes),
                Err(e) => {
                    debug!(attempt, error = %e, "LFS download failed");
                    last = e.to_string();
                }
            }
        }
        Err((attempts, last))
    }

    // ------------------------------------------------------------ membership

    /// Marks the agent joined (before its join announce goes out, so heartbeats and
    /// sponsoring start with it).
    pub fn set_joined(&self, joined: bool) {
        let now = Utc::now();
        let mut st = lock(&self.state);
        st.joined = joined;
        if joined {
            st.joined_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let id = self.identity_locked(&st);
            st.roster.seen(id, now, now, true);
        } else {
            st.roster.left(&self.cfg.agent_id);
        }
        self.publish_roster(&st);
    }

    pub fn own_member_record(&self, status: &str) -> MemberRecord {
        let id = self.identity();
        MemberRecord {
            agent_id: self.cfg.agent_id.clone(),
            identity: serde_json::to_value(&id).unwrap_or_default(),
            role: id.role.clone(),
            zone: (!id.zone_id.is_empty()).then(|| id.zone_id.clone()),
            status: status.to_owned(),
            seen_at: Utc::now(),
        }
    }

    /// Drops members that missed too many heartbeats, in memory and in the store;
    /// forgets old claims and answered onboardings.
    pub async fn sweep(&self) {
        let now = Utc::now();
        let expired = {
            let mut st = lock(&self.state);
            let gone = st.roster.expire(now);
            if !gone.is_empty() {
                self.publish_roster(&st);
            }
            let keep = |t: &Instant| t.elapsed() < MEMORY_WINDOW;
            st.claims.retain(|_, c| c.at.is_none_or(|t| keep(&t)));
            st.answered.retain(|_, t| keep(t));
            st.resolved.retain(|_, t| keep(t));
            let State {
                resolved,
                resolved_by,
                ..
            } = &mut *st;
            resolved_by.retain(|id, _| resolved.contains_key(id));
            st.running.retain(|_, t| keep(t));
            st.skill_tasks.retain(|_, (_, t)| keep(t));
            st.memory.retain(|_, item| !crate::memory::expired(item));
            st.challenges.retain(|_, c| c.expires > Instant::now());
            gone
        };
        for id in &expired {
            info!(agent = %id, group = %self.cfg.group.as_str(), "member expired after missed heartbeats");
        }
        let cutoff = now - chrono::Duration::from_std(self.cfg.window()).unwrap_or_default();
        if let Err(e) = self.store.expire_members(cutoff).await {
            warn!(error = %e, "cannot expire members in the store");
        }
    }

    // ------------------------------------------------------------ onboarding

    /// Starts this agent's own onboarding; the receiver resolves with the sponsor id,
    /// or with (sponsor, reason) on rejection.
    pub async fn start_onboarding(
        &self,
    ) -> Result<oneshot::Receiver<std::result::Result<String, (String, String)>>> {
        let mut payload = OnboardPayload::new(OnboardAction::Request, &self.cfg.agent_id);
        payload.identity = Some(self.identity());
        payload.skills = self.cfg.identity.skills.clone();
        let env = GroupEnvelope::new(&self.cfg.agent_id, Message::Onboard(payload));
        let (tx, rx) = oneshot::channel();
        lock(&self.state).onboarding = Some(MyOnboarding {
            correlation_id: env.correlation_id.clone(),
            sponsor: None,
            done: Some(tx),
        });
        self.publish(&self.topics.onboarding, self.cfg.group.as_str(), &env)
            .await?;
        Ok(rx)
    }

    pub fn clear_onboarding(&self) {
        lock(&self.state).onboarding = None;
    }

    /// Founds a gated group: a self-sponsored `onboard_complete`, which members accept
    /// only while nobody is admitted.
    pub async fn found(&self) -> Result<()> {
        let mut payload = OnboardPayload::new(OnboardAction::Complete, &self.cfg.agent_id);
        payload.sponsor_id = self.cfg.agent_id.clone();
        payload.identity = Some(self.identity());
        payload.manifest = Some(TopicManifest::new(&self.cfg.group, Timestamp::now()));
        let corr = kafclaw_envelope::nanos_id("onboard", Timestamp::now());
        self.publish_onboard(payload, &corr).await
    }

    fn sponsor_candidates(&self, st: &State) -> Vec<String> {
        let mut c: Vec<String> = st
            .roster
            .others()
            .map(|m| m.agent_id.clone())
            .filter(|id| !self.gated() || st.admitted.contains(id))
            .collect();
        c.push(self.cfg.agent_id.clone());
        c
    }

    fn on_onboard(
        self: &Arc<Self>,
        env: &GroupEnvelope,
        p: OnboardPayload,
        record: &InRecord,
    ) -> Option<(String, String, DateTime<Utc>)> {
        let corr = env.correlation_id.clone();
        let now = Utc::now();
        let age = (now - record.timestamp).to_std().unwrap_or_default();
        let live = age < self.cfg.onboard_timeout;
        let me = self.cfg.agent_id.as_str();
        let Some(action) = p.action() else {
            debug!(action = %p.action, "unknown onboarding action ignored");
            return None;
        };
        let mut admit = None;
        let mut st = lock(&self.state);
        match action {
            OnboardAction::Request => {
                if p.requester_id == me
                    || env.sender_id != p.requester_id
                    || !live
                    || !st.joined
                    || st.answered.contains_key(&corr)
                {
                    return None;
                }
                if let Onboarding::Gated { secret } = &self.cfg.onboarding
                    && secret.is_empty()
                {
                    return None;
                }
                let candidates = self.sponsor_candidates(&st);
                let rank = sponsor_rank(&p.requester_id, &candidates, me)?;
                drop(st);
                let core = Arc::clone(self);
                let wait = self.cfg.sponsor_step().saturating_mul(rank as u32);
                let requester = p.requester_id.clone();
                self.spawn(async move { core.sponsor(corr, requester, wait).await });
                return None;
            }
            OnboardAction::Challenge => {
                st.answered.insert(corr.clone(), Instant::now());
                let mine = st
                    .onboarding
                    .as_mut()
                    .filter(|o| o.correlation_id == corr && p.requester_id == me);
                if let Some(o) = mine {
                    if o.sponsor.is_some() {
                        debug!(sponsor = %env.sender_id, "a second challenge ignored");
                        return None;
                    }
                    o.sponsor = Some(env.sender_id.clone());
                    let answer = match &self.cfg.onboarding {
                        Onboarding::Gated { secret } => challenge_answer(secret, &p.challenge, me),
                        // Without a secret we cannot answer; the sponsor will reject.
                        Onboarding::Open => String::new(),
                    };
                    let mut reply = OnboardPayload::new(OnboardAction::Response, me);
                    reply.sponsor_id = env.sender_id.clone();
                    reply.identity = Some(self.identity_locked(&st));
                    reply.skills = self.cfg.identity.skills.clone();
                    reply.response = answer;
                    drop(st);
                    let core = Arc::clone(self);
                    self.spawn(async move {
                        if let Err(e) = core.publish_onboard(reply, &corr).await {
                            warn!(error = %e, "cannot answer the onboarding challenge");
                        }
                    });
                }
                return None;
            }
            OnboardAction::Response => {
                if p.sponsor_id != me || !live {
                    return None;
                }
                let ch = st.challenges.remove(&corr)?;
                if ch.requester != p.requester_id || env.sender_id != p.requester_id {
                    st.challenges.insert(corr, ch);
                    return None;
                }
                let verdict = if ch.expires <= Instant::now() {
                    Err("the challenge expired before it was answered".to_owned())
                } else {
                    match &self.cfg.onboarding {
                        Onboarding::Gated { secret }
                            if verify_answer(secret, &ch.nonce, &p.requester_id, &p.response) =>
                        {
                            Ok(())
                        }
                        _ => Err("the challenge answer does not match the group secret".to_owned()),
                    }
                };
                st.stats.onboarding_answers += 1;
                drop(st);
                let core = Arc::clone(self);
                let requester = p.requester_id.clone();
                self.spawn(async move { core.answer(corr, requester, verdict).await });
                return None;
            }
            OnboardAction::Complete => {
                st.answered.insert(corr.clone(), Instant::now());
                let sponsor = env.sender_id.clone();
                let founding = sponsor == p.requester_id;
                let accept = if founding {
                    st.admitted.is_empty() || st.admitted.contains(&sponsor)
                } else {
                    !self.gated() || st.admitted.contains(&sponsor)
                };
                if accept {
                    if st.admitted.insert(p.requester_id.clone()) {
                        info!(agent = %p.requester_id, sponsor = %sponsor, "admitted to the group");
                    }
                    admit = Some((p.requester_id.clone(), sponsor.clone(), record.timestamp));
                } else if self.gated() {
                    st.stats.ignored_unadmitted += 1;
                    warn!(agent = %p.requester_id, sponsor = %sponsor, "onboard_complete from a sponsor that was never admitted ignored");
                }
                if p.requester_id == me
                    && let Some(o) = st.onboarding.as_mut()
                    && o.correlation_id == corr
                    && (accept || !self.gated())
                    && let Some(done) = o.done.take()
                {
                    let _ = done.send(Ok(sponsor));
                }
            }
            OnboardAction::Reject => {
                st.answered.insert(corr.clone(), Instant::now());
                if p.requester_id == me
                    && let Some(o) = st.onboarding.as_mut()
                    && o.correlation_id == corr
                    && let Some(done) = o.done.take()
                {
                    let _ = done.send(Err((env.sender_id.clone(), p.reason.clone())));
                }
            }
        }
        admit
    }

    /// The elected sponsor's answer to a request, after its back-off.
    async fn sponsor(self: Arc<Self>, corr: String, requester: String, wait: Duration) {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let payload = {
            let mut st = lock(&self.state);
            if st.answered.contains_key(&corr) || !st.joined {
                return;
            }
            st.answered.insert(corr.clone(), Instant::now());
            st.stats.onboarding_answers += 1;
            match &self.cfg.onboarding {
                Onboarding::Open => {
                    let mut p = OnboardPayload::new(OnboardAction::Complete, &requester);
                    p.sponsor_id = self.cfg.agent_id.clone();
                    p.manifest = Some(TopicManifest::new(&self.cfg.group, Timestamp::now()));
                    p
                }
                Onboarding::Gated { .. } => {
                    let nonce = new_challenge();
                    st.challenges.insert(
                        corr.clone(),
                        Challenge {
                            requester: requester.clone(),
                            nonce: nonce.clone(),
                            expires: Instant::now() + self.cfg.onboard_timeout,
                        },
                    );
                    let mut p = OnboardPayload::new(OnboardAction::Challenge, &requester);
                    p.sponsor_id = self.cfg.agent_id.clone();
                    p.challenge = nonce;
                    p
                }
            }
        };
        info!(newcomer = %requester, action = %payload.action, "sponsoring an onboarding request");
        if let Err(e) = self.publish_onboard(payload, &corr).await {
            warn!(error = %e, "cannot answer an onboarding request");
        }
    }

    /// The sponsor's verdict on a challenge answer.
    async fn answer(
        self: Arc<Self>,
        corr: String,
        requester: String,
        verdict: std::result::Result<(), String>,
    ) {
        let payload = match verdict {
            Ok(()) => {
                let mut p = OnboardPayload::new(OnboardAction::Complete, &requester);
                p.sponsor_id = self.cfg.agent_id.clone();
                p.manifest = Some(TopicManifest::new(&self.cfg.group, Timestamp::now()));
                p
            }
            Err(reason) => {
                warn!(newcomer = %requester, %reason, "onboarding rejected");
                let mut p = OnboardPayload::new(OnboardAction::Reject, &requester);
                p.sponsor_id = self.cfg.agent_id.clone();
                p.reason = reason;
                p
            }
        };
        if let Err(e) = self.publish_onboard(payload, &corr).await {
            warn!(error = %e, "cannot publish the onboarding verdict");
        }
    }

    // ------------------------------------------------------------ tasks: requester

    /// Publishes a request and returns its pending handle.
    pub async fn submit(
        self: &Arc<Self>,
        spec: TaskSpec,
        parent: Option<&TaskRequest>,
    ) -> Result<PendingTask> {
        let now = Utc::now();
        let task_id = uuid::Uuid::new_v4().simple().to_string();
        let mut req = TaskRequest::new(
            &task_id,
            &self.cfg.agent_id,
            if spec.description.is_empty() {
                default_description(&spec.content)
            } else {
                spec.description.clone()
            },
            spec.content.clone(),
        );
        req.target_id = spec.target.clone();
        req.skill = spec.skill.clone();
        let mut deadline = spec.deadline;
        if let Some(parent) = parent {
            let depth = u32::try_from(parent.delegation_depth.max(0))
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            if depth > self.cfg.max_depth {
                return Err(Error::DelegationTooDeep {
                    parent_task_id: parent.task_id.clone(),
                    depth,
                    max: self.cfg.max_depth,
                });
            }
            req.delegation_depth = i64::from(depth);
            req.parent_task_id = parent.task_id.clone();
            req.original_requester_id = if parent.original_requester_id.is_empty() {
                parent.requester_id.clone()
            } else {
                parent.original_requester_id.clone()
            };
            let own_limit = now
                + chrono::Duration::from_std(self.cfg.task_timeout)
                    .unwrap_or(chrono::Duration::MAX);
            let parent_deadline = parse_deadline(&parent.deadline_at).ok().flatten();
            deadline = [deadline, parent_deadline, Some(own_limit)]
                .into_iter()
                .flatten()
                .min();
        }
        if let Some(d) = deadline {
            req.deadline_at = format_deadline(d);
        }
        let mut timeout = spec.timeout.unwrap_or(self.cfg.task_timeout);
        if let Some(d) = deadline {
            // Wait a little past the deadline, for the receiver's rejection to arrive.
            let left = (d - now).to_std().unwrap_or_default() + Duration::from_secs(5);
            timeout = timeout.min(left);
        }
        let (tx, rx) = oneshot::channel();
        let (ptx, prx) = watch::channel(TaskProgress {
            worker: spec.target.clone(),
            ..TaskProgress::default()
        });
        lock(&self.state).pending.insert(
            task_id.clone(),
            Pending {
                response: Some(tx),
                progress: ptx,
            },
        );
        let skill_topic = match (&spec.skill, &spec.target) {
            (Some(skill), None) => {
                let name = crate::skills::skill_name(skill)?;
                Some(crate::skills::topics(&self.cfg.group, &name)?.0)
            }
            _ => None,
        };
        let (topic, env) = match skill_topic {
            Some(topic) => (
                topic,
                GroupEnvelope::new(&self.cfg.agent_id, Message::SkillRequest(req)),
            ),
            None => (
                self.topics.requests.clone(),
                GroupEnvelope::new(&self.cfg.agent_id, Message::Request(req)),
            ),
        };
        let env = match &spec.traceparent {
            Some(tp) => env.with_trace_context(tp.clone(), None),
            None => env,
        };
        if let Err(e) = self.publish(&topic, &task_id, &env).await {
            lock(&self.state).pending.remove(&task_id);
            return Err(e);
        }
        if let Message::SkillRequest(req) = &env.message
            && !lock(&self.state)
                .provided
                .contains(req.skill.as_deref().unwrap_or_default())
        {
            // This agent does not read the skill's requests topic: record the step here.
            let event = request_event(req, &self.cfg.agent_id);
            let core = Arc::clone(self);
            self.spawn(async move {
                if let Err(e) = core.store.record_delegation(event).await {
                    warn!(error = %e, "cannot record the skill request in the timeline");
                }
            });
        }
        let weak = Arc::downgrade(self);
        Ok(PendingTask {
            task_id,
            progress: prx,
            response: rx,
            timeout,
            cancel: Some(Box::new(move |id: &str| {
                if let Some(core) = weak.upgrade() {
                    let mut st = lock(&core.state);
                    st.pending.remove(id);
                    st.resolved.insert(id.to_owned(), Instant::now());
                }
            })),
        })
    }

    fn on_response(&self, resp: &TaskResponse, sender: &str, origin: &str) {
        if sender == self.cfg.agent_id {
            return;
        }
        let mut st = lock(&self.state);
        let Some(p) = st.pending.get_mut(&resp.task_id) else {
            if st
                .resolved_by
                .get(&resp.task_id)
                .is_some_and(|o| o == origin)
            {
                // The record that resolved it, seen again (after its preview).
                return;
            }
            if st.resolved.contains_key(&resp.task_id) {
                st.stats.duplicate_responses += 1;
                info!(task = %resp.task_id, responder = %resp.responder_id, "a further response to a task that already has one ignored");
            } else {
                st.stats.unknown_responses += 1;
                debug!(task = %resp.task_id, responder = %resp.responder_id, "response to a task this agent does not wait for ignored");
            }
            return;
        };
        match p.response.take() {
            Some(tx) => {
                st.resolved.insert(resp.task_id.clone(), Instant::now());
                st.resolved_by
                    .insert(resp.task_id.clone(), origin.to_owned());
                // Wake the waiter only after the lock is released: its first step takes
                // the same lock, and would otherwise block behind this consumer.
                drop(st);
                let _ = tx.send(resp.clone());
            }
            // Taken already: by this very record (its preview), or by an earlier one.
            None if st
                .resolved_by
                .get(&resp.task_id)
                .is_some_and(|o| o == origin) => {}
            None => st.stats.duplicate_responses += 1,
        }
    }

    fn on_progress(&self, st: &mut State, status: &TaskStatusPayload, winner: Option<&str>) {
        if let Some(p) = st.pending.get_mut(&status.task_id) {
            p.progress.send_modify(|pr| {
                pr.state = status.state();
                pr.summary = status.summary.clone();
                if let Some(w) = winner {
                    pr.worker = Some(w.to_owned());
                } else if pr.worker.is_none() && status.state().is_some() {
                    pr.worker = Some(status.responder_id.clone());
                }
            });
        }
    }

    // ------------------------------------------------------------ tasks: worker

    fn capable(&self, req: &TaskRequest) -> bool {
        self.handler.is_some()
            && req
                .skill
                .as_deref()
                .is_none_or(|s| lock(&self.state).provided.contains(s))
    }

    /// A request arrived; returns whether a claim must be published.
    fn on_request(self: &Arc<Self>, req: TaskRequest, traceparent: Option<String>) {
        let me = self.cfg.agent_id.as_str();
        if req.requester_id == me || self.cfg.read_only || !self.capable(&req) {
            return;
        }
        match req.target_id.as_deref().filter(|t| !t.is_empty()) {
            Some(target) if target != me => {}
            Some(_) => self.start_run(req, traceparent, true),
            None => {
                let mut st = lock(&self.state);
                let claim = st.claims.entry(req.task_id.clone()).or_default();
                claim.at.get_or_insert_with(Instant::now);
                match claim.winner.clone() {
                    Some(w) if w == me => {
                        drop(st);
                        self.start_run(req, traceparent, false);
                    }
                    Some(_) => {}
                    None => {
                        let first = !claim.claimed_by_me;
                        claim.claimed_by_me = true;
                        claim.request = Some((req.clone(), traceparent));
                        if first {
                            st.stats.claims_sent += 1;
                            drop(st);
                            let core = Arc::clone(self);
                            self.spawn(async move {
                                core.publish_status(&req.task_id, TaskState::Accepted, "claim")
                                    .await;
                            });
                        }
                    }
                }
            }
        }
    }

    /// A status on `tasks.status` (or a Go agent's on `responses`).
    /// A status; returns what became of this agent's claim, when this record decided it.
    fn on_status(
        self: &Arc<Self>,
        env: &GroupEnvelope,
        status: &TaskStatusPayload,
        claims: bool,
    ) -> Option<ClaimOutcome> {
        let mut st = lock(&self.state);
        let mut run = None;
        let mut winner = None;
        let mut outcome = None;
        if claims && status.state() == Some(TaskState::Accepted) {
            if status.responder_id != env.sender_id {
                st.stats.forged_claims += 1;
                return None;
            }
            let claim = st.claims.entry(status.task_id.clone()).or_default();
            claim.at.get_or_insert_with(Instant::now);
            if claim.winner.is_none() {
                claim.winner = Some(status.responder_id.clone());
                winner = Some(status.responder_id.clone());
                if status.responder_id == self.cfg.agent_id {
                    run = claim.request.clone();
                    outcome = run.clone().map(|won| ClaimOutcome::Won(Box::new(won)));
                } else if claim.claimed_by_me {
                    outcome = Some(ClaimOutcome::Lost);
                }
            }
        }
        self.on_progress(&mut st, status, winner.as_deref());
        drop(st);
        if let Some((req, traceparent)) = run {
            self.start_run(req, traceparent, false);
        }
        outcome
    }

    /// What this agent commits to by reading `req` (on the requests topic, or a skill
    /// request made ready by [`Self::skill_task`]): to run it (addressed to it) or to
    /// claim it (open); nothing when it may not or need not work on it.
    fn commitment(
        &self,
        req: &TaskRequest,
        traceparent: Option<&String>,
    ) -> Option<OpenTaskRecord> {
        let me = self.cfg.agent_id.as_str();
        if req.requester_id == me || self.cfg.read_only || !self.capable(req) {
            return None;
        }
        let targeted = match req.target_id.as_deref().filter(|t| !t.is_empty()) {
            Some(target) if target != me => return None,
            Some(_) => true,
            // An open task whose winner is known already is not claimed (see `on_request`).
            None if lock(&self.state)
                .claims
                .get(&req.task_id)
                .is_some_and(|c| c.winner.is_some()) =>
            {
                return None;
            }
            None => false,
        };
        Some(OpenTaskRecord {
            request: req.clone(),
            traceparent: traceparent.cloned(),
            targeted,
            running: targeted,
        })
    }

    fn start_run(self: &Arc<Self>, req: TaskRequest, traceparent: Option<String>, targeted: bool) {
        {
            let mut st = lock(&self.state);
            if st.running.contains_key(&req.task_id) {
                return;
            }
            st.running.insert(req.task_id.clone(), Instant::now());
        }
        let core = Arc::clone(self);
        self.spawn(async move { core.run(req, traceparent, targeted).await });
    }

    async fn run(self: Arc<Self>, req: TaskRequest, traceparent: Option<String>, targeted: bool) {
        let Some(handler) = self.handler.clone() else {
            return;
        };
        let task_id = req.task_id.clone();
        let checked = check_incoming(&req, self.cfg.max_depth, Utc::now());
        // Statuses before the response only for tasks that take a while: a quick task
        // answers first and reports accepted/in_progress/completed right after, so the
        // status records never sit in front of the response.
        let started = std::sync::atomic::AtomicBool::new(false);
        let ok = checked.is_ok();
        let early_statuses = async {
            tokio::time::sleep(STATUS_GRACE).await;
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            self.publish_opening_statuses(&task_id, targeted, ok).await;
        };
        let work = async {
            let deadline = match checked {
                Ok(d) => d,
                Err(reason) => {
                    warn!(task = %task_id, requester = %req.requester_id, %reason, "task rejected");
                    self.count(|s| s.tasks_rejected += 1);
                    self.publish_response(&task_id, ResponseStatus::Rejected, reason.clone())
                        .await;
                    return (TaskState::Failed, reason);
                }
            };
            self.count(|s| s.tasks_run += 1);
            let task = IncomingTask {
                request: req.clone(),
                deadline,
                traceparent: traceparent.clone(),
                delegator: Arc::new(CoreDelegator(Arc::clone(&self))) as Arc<dyn Delegator>,
            };
            let fut = handler.handle(task);
            let outcome = match deadline.and_then(|d| (d - Utc::now()).to_std().ok()) {
                Some(left) => tokio::time::timeout(left, fut)
                    .await
                    .unwrap_or_else(|_| Err("the deadline passed while the task ran".to_owned())),
                None if deadline.is_some() => {
                    Err("the deadline passed before the task started".to_owned())
                }
                None => fut.await,
            };
            match outcome {
                Ok(content) => {
                    self.publish_response(&task_id, ResponseStatus::Completed, content)
                        .await;
                    (TaskState::Completed, String::new())
                }
                Err(reason) => {
                    self.publish_response(&task_id, ResponseStatus::Failed, reason.clone())
                        .await;
                    (TaskState::Failed, reason)
                }
            }
        };
        tokio::pin!(early_statuses);
        tokio::pin!(work);
        let mut early_done = false;
        let (state, summary) = loop {
            tokio::select! {
                biased;
                out = &mut work => break out,
                () = &mut early_statuses, if !early_done => early_done = true,
            }
        };
        if !early_done && !started.load(std::sync::atomic::Ordering::SeqCst) {
            // Off the response's path: the requester's fetch of the response and these
            // records would otherwise meet at the broker (and on a shared machine).
            tokio::time::sleep(STATUS_TRAIL).await;
            self.publish_all_statuses(&task_id, targeted, ok, (state, &summary))
                .await;
        } else {
            if !early_done {
                // Interrupted while publishing: finish, to keep the statuses in order.
                early_statuses.await;
            }
            self.publish_status(&task_id, state, &summary).await;
        }
        // Answered: a restart no longer resumes it (a crash before this line answers
        // it again; the requester ignores a second response).
        if let Err(e) = self
            .store
            .finish_open_task(self.cfg.group.as_str(), &task_id)
            .await
        {
            warn!(task = %task_id, error = %e, "cannot mark the task answered in the store");
        }
    }

    /// Loads the tasks a previous run committed to and did not answer, before anything
    /// is read: claims wait for their outcome again (the claim records are read again
    /// from the stored offsets); all of them are taken up once the agent has joined.
    pub async fn load_open_tasks(&self) -> Result<()> {
        let open = self.store.open_tasks(self.cfg.group.as_str()).await?;
        if open.is_empty() {
            return Ok(());
        }
        info!(
            tasks = open.len(),
            "resuming group tasks a restart interrupted"
        );
        let mut st = lock(&self.state);
        for task in open {
            let id = task.request.task_id.clone();
            if let Some(skill) = &task.request.skill {
                st.skill_tasks
                    .insert(id.clone(), (skill.clone(), Instant::now()));
            }
            if !task.running {
                let claim = st.claims.entry(id).or_default();
                claim.at.get_or_insert_with(Instant::now);
                claim.claimed_by_me = true;
                claim.request = Some((task.request.clone(), task.traceparent.clone()));
            }
            st.resume.push(task);
        }
        Ok(())
    }

    /// Once joined: runs the loaded tasks that were running and claims the claimed ones
    /// again (a claim sent before the crash stays first; one that was never sent goes
    /// out now).
    pub fn resume_open_tasks(self: &Arc<Self>) {
        let resume = std::mem::take(&mut lock(&self.state).resume);
        for task in resume {
            if task.running {
                self.start_run(task.request, task.traceparent, task.targeted);
            } else {
                let core = Arc::clone(self);
                self.spawn(async move {
                    core.publish_status(&task.request.task_id, TaskState::Accepted, "claim")
                        .await;
                });
            }
        }
    }

    async fn publish_opening_statuses(&self, task_id: &str, targeted: bool, ok: bool) {
        let mut statuses = Vec::with_capacity(2);
        if targeted {
            statuses.push((TaskState::Accepted, ""));
        }
        if ok {
            statuses.push((TaskState::InProgress, ""));
        }
        self.publish_statuses(task_id, &statuses).await;
    }

    /// The statuses a quick task reports after its response: opening and final at once.
    async fn publish_all_statuses(
        &self,
        task_id: &str,
        targeted: bool,
        ok: bool,
        last: (TaskState, &str),
    ) {
        let mut statuses = Vec::with_capacity(3);
        if targeted {
            statuses.push((TaskState::Accepted, ""));
        }
        if ok {
            statuses.push((TaskState::InProgress, ""));
        }
        statuses.push(last);
        self.publish_statuses(task_id, &statuses).await;
    }

    // ------------------------------------------------------------ the handler

    pub fn heartbeat_for_newcomer(&self) {
        let mut st = lock(&self.state);
        if !st.joined {
            return;
        }
        let due = st
            .last_extra_heartbeat
            .is_none_or(|t| t.elapsed() >= self.cfg.heartbeat);
        if due {
            st.last_extra_heartbeat = Some(Instant::now());
            drop(st);
            self.heartbeat_now.notify_one();
        }
    }

    async fn handle<X: GroupTxn>(
        self: &Arc<Self>,
        record: &InRecord,
        decoded: Decoded,
        txn: &mut X,
    ) -> std::result::Result<(), HandlerError> {
        let env = match decoded {
            Decoded::Group { envelope, .. } => *envelope,
            Decoded::LfsPointer(pointer)
                if record.topic == self.topics.memory_shared
                    || record.topic == self.topics.memory_context =>
            {
                self.on_memory_pointer(*pointer, record);
                return Ok(());
            }
            Decoded::LfsPointer(_) | Decoded::Knowledge(_) | Decoded::Raw(_) => {
                self.count(|s| s.skipped_records += 1);
                return Ok(());
            }
            _ => {
                self.count(|s| s.skipped_records += 1);
                return Ok(());
            }
        };
        if !self.zone_admits(env.zone_id.as_deref()) {
            self.count(|s| s.zone_drops += 1);
            return Ok(());
        }
        let sender = env.sender_id.clone();
        let topic = record.topic.as_str();
        let me = self.cfg.agent_id.as_str();
        let unadmitted = self.gated() && sender != me && !self.is_admitted(&sender);
        let skip_unadmitted = || {
            self.count(|s| s.ignored_unadmitted += 1);
            Ok(())
        };
        match &env.message {
            Message::Announce(p) if topic == self.topics.announce => {
                if sender == me {
                    return Ok(());
                }
                if sender.is_empty() || p.identity.agent_id != sender {
                    self.count(|s| s.identity_mismatches += 1);
                    warn!(sender = %sender, identity = %p.identity.agent_id, "announce whose identity is not its sender refused");
                    return Ok(());
                }
                if unadmitted {
                    return skip_unadmitted();
                }
                let now = Utc::now();
                let seen = record.timestamp.min(now);
                let (status, change) = {
                    let mut st = lock(&self.state);
                    let (status, change) = match p.action() {
                        Some(AnnounceAction::Join | AnnounceAction::Heartbeat) => (
                            "active",
                            st.roster.seen(p.identity.clone(), seen, now, false),
                        ),
                        Some(AnnounceAction::Leave) => ("left", st.roster.left(&sender)),
                        None => return Ok(()),
                    };
                    if change != RosterChange::Seen && change != RosterChange::Unchanged {
                        self.publish_roster(&st);
                    }
                    (status, change)
                };
                if change == RosterChange::Added || change == RosterChange::Removed {
                    info!(agent = %sender, status, "roster changed");
                }
                if p.action() == Some(AnnounceAction::Join) && change != RosterChange::Unchanged {
                    self.heartbeat_for_newcomer();
                }
                if change == RosterChange::Unchanged && status == "active" {
                    return Ok(());
                }
                txn.upsert_member(MemberRecord {
                    agent_id: sender.clone(),
                    identity: serde_json::to_value(&p.identity).unwrap_or_default(),
                    role: p.identity.role.clone(),
                    zone: (!p.identity.zone_id.is_empty()).then(|| p.identity.zone_id.clone()),
                    status: status.to_owned(),
                    seen_at: seen,
                })
                .await
                .map_err(store_failed)?;
            }
            Message::Onboard(p) if topic == self.topics.onboarding => {
                if let Some((agent, sponsor, at)) = self.on_onboard(&env, p.clone(), record) {
                    txn.admit_member(&agent, &sponsor, at)
                        .await
                        .map_err(store_failed)?;
                }
            }
            Message::Request(req) if topic == self.topics.requests => {
                if unadmitted {
                    return skip_unadmitted();
                }
                txn.record_delegation(request_event(req, &sender))
                    .await
                    .map_err(store_failed)?;
                if sender != me {
                    if let Some(open) = self.commitment(req, env.traceparent.as_ref()) {
                        txn.save_open_task(self.cfg.group.as_str(), &open)
                            .await
                            .map_err(store_failed)?;
                    }
                    self.on_request(req.clone(), env.traceparent.clone());
                }
            }
            Message::Response(resp) if topic == self.topics.responses => {
                if unadmitted {
                    return skip_unadmitted();
                }
                txn.record_delegation(response_event(resp, &sender))
                    .await
                    .map_err(store_failed)?;
                self.on_response(resp, &sender, &record_origin(record));
            }
            Message::TaskStatus(status)
                if topic == self.topics.status || topic == self.topics.responses =>
            {
                // Claims are read from everyone, this agent included: the first one in
                // partition order wins, and every agent must see the same first one.
                let claims = topic == self.topics.status;
                let before = claims && status.state() == Some(TaskState::Accepted) && {
                    let st = lock(&self.state);
                    st.claims
                        .get(&status.task_id)
                        .is_none_or(|c| c.winner.is_none())
                };
                match self.on_status(&env, status, claims) {
                    Some(ClaimOutcome::Won(won)) => {
                        let (request, traceparent) = *won;
                        let open = OpenTaskRecord {
                            request,
                            traceparent,
                            targeted: false,
                            running: true,
                        };
                        txn.save_open_task(self.cfg.group.as_str(), &open)
                            .await
                            .map_err(store_failed)?;
                    }
                    Some(ClaimOutcome::Lost) => {
                        txn.drop_open_claim(&status.task_id)
                            .await
                            .map_err(store_failed)?;
                    }
                    None => {}
                }
                if before && status.responder_id == sender {
                    txn.record_delegation(DelegationRecord {
                        task_id: status.task_id.clone(),
                        event_type: "accepted".into(),
                        sender_id: sender.clone(),
                        receiver_id: Some(status.responder_id.clone()),
                        summary: status.summary.clone(),
                        ..DelegationRecord::default()
                    })
                    .await
                    .map_err(store_failed)?;
                }
            }
            Message::Roster(incoming) if topic == self.topics.roster => {
                if unadmitted {
                    return skip_unadmitted();
                }
                if incoming.group_name.is_empty() || incoming.group_name == self.cfg.group.as_str()
                {
                    let mut st = lock(&self.state);
                    if crate::skills::merge_manifest(&mut st.manifest, incoming) {
                        debug!(version = st.manifest.version, from = %sender, "topic manifest merged");
                    }
                }
            }
            Message::SkillRequest(req) | Message::Request(req)
                if crate::skills::parse_topic(&self.cfg.group, topic)
                    .is_some_and(|(_, dir)| dir == "requests") =>
            {
                if unadmitted {
                    return skip_unadmitted();
                }
                txn.record_delegation(request_event(req, &sender))
                    .await
                    .map_err(store_failed)?;
                if sender != me {
                    if let Some(open) = self
                        .skill_task(topic, req)
                        .and_then(|r| self.commitment(&r, env.traceparent.as_ref()))
                    {
                        txn.save_open_task(self.cfg.group.as_str(), &open)
                            .await
                            .map_err(store_failed)?;
                    }
                    self.on_skill_request(topic, req, env.traceparent.clone());
                }
            }
            Message::SkillResponse(resp) | Message::Response(resp)
                if crate::skills::parse_topic(&self.cfg.group, topic)
                    .is_some_and(|(_, dir)| dir == "responses") =>
            {
                if unadmitted {
                    return skip_unadmitted();
                }
                txn.record_delegation(response_event(resp, &sender))
                    .await
                    .map_err(store_failed)?;
                self.on_response(resp, &sender, &record_origin(record));
            }
            Message::Memory(item)
                if topic == self.topics.memory_shared || topic == self.topics.memory_context =>
            {
                if unadmitted {
                    return skip_unadmitted();
                }
                self.on_memory(
                    item,
                    Provenance {
                        topic: topic.to_owned(),
                        partition: record.partition,
                        offset: record.offset,
                        sender: sender.clone(),
                    },
                );
            }
            Message::Trace(span) if topic == self.topics.traces => {
                if unadmitted {
                    return skip_unadmitted();
                }
                let span_id = if span.span_id.is_empty() {
                    env.message_id
                        .clone()
                        .unwrap_or_else(|| digest_id("span", &record.value))
                } else {
                    span.span_id.clone()
                };
                txn.record_span(SpanRecord {
                    trace_id: if span.trace_id.is_empty() {
                        env.correlation_id.clone()
                    } else {
                        span.trace_id.clone()
                    },
                    span_id,
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| span.parent_span_id.clone()),
                    source_agent_id: sender.clone(),
                    span_type: if span.span_type.is_empty() {
                        "SPAN".into()
                    } else {
                        span.span_type.clone()
                    },
                    title: span.title.clone(),
                    content: span.content.clone(),
                    started_at: parse_time(&span.started_at),
                    ended_at: parse_time(&span.ended_at),
                    duration_ms: Some(span.duration_ms),
                })
                .await
                .map_err(store_failed)?;
            }
            Message::Audit(audit) if topic == self.topics.audit => {
                if unadmitted {
                    return skip_unadmitted();
                }
                let event_id = env
                    .message_id
                    .clone()
                    .unwrap_or_else(|| digest_id("audit", &record.value));
                txn.record_audit(AuditRecord {
                    event_id,
                    agent_id: if sender.is_empty() {
                        "unknown".into()
                    } else {
                        sender.clone()
                    },
                    action: audit.event_type().unwrap_or("audit").to_owned(),
                    subject: audit
                        .get_str("skill_name")
                        .or_else(|| audit.get_str("agent_id"))
                        .map(str::to_owned),
                    detail: serde_json::Value::Object(audit.0.clone()),
                    trace_id: (!env.correlation_id.is_empty()).then(|| env.correlation_id.clone()),
                })
                .await
                .map_err(store_failed)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Lets a running task delegate through its agent.
struct CoreDelegator<S, T>(Arc<Core<S, T>>);

#[async_trait]
impl<S: GroupStore, T: Transport> Delegator for CoreDelegator<S, T> {
    async fn delegate(&self, parent: &TaskRequest, spec: TaskSpec) -> Result<TaskResponse> {
        self.0.submit(spec, Some(parent)).await?.wait().await
    }
}

/// The delegation event of a request (on the requests topic or a skill's): the chain
/// is keyed by the original requester, so every hop of one delegation shares it.
fn request_event(req: &TaskRequest, sender: &str) -> DelegationRecord {
    DelegationRecord {
        task_id: req.task_id.clone(),
        parent_task_id: (!req.parent_task_id.is_empty()).then(|| req.parent_task_id.clone()),
        event_type: "request".into(),
        sender_id: sender.to_owned(),
        receiver_id: req.target_id.clone().filter(|t| !t.is_empty()),
        depth: u32::try_from(req.delegation_depth).unwrap_or(0),
        deadline_at: parse_deadline(&req.deadline_at).ok().flatten(),
        summary: req.description.clone(),
        trace_id: Some(if req.original_requester_id.is_empty() {
            req.requester_id.clone()
        } else {
            req.original_requester_id.clone()
        }),
    }
}

/// The delegation event of a response: its status (or `response`) and the first line of
/// its content.
fn response_event(resp: &TaskResponse, sender: &str) -> DelegationRecord {
    DelegationRecord {
        task_id: resp.task_id.clone(),
        event_type: if resp.status.is_empty() {
            "response".into()
        } else {
            resp.status.clone()
        },
        sender_id: sender.to_owned(),
        receiver_id: Some(resp.responder_id.clone()),
        summary: resp
            .content
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
        ..DelegationRecord::default()
    }
}

/// Names one record: a response seen by the preview and again by the handler is the
/// same response, not a duplicate.
fn record_origin(record: &InRecord) -> String {
    format!("{}/{}/{}", record.topic, record.partition, record.offset)
}

impl<S: GroupStore, T: Transport> Core<S, T> {
    /// Whether a message of `zone` may be read: no zone (or an empty one) always; a
    /// zone, when no gate is set or the gate admits it.
    fn zone_admits(&self, zone: Option<&str>) -> bool {
        match (zone.filter(|z| !z.is_empty()), self.zone_gate.get()) {
            (Some(z), Some(gate)) => gate(z),
            _ => true,
        }
    }

    /// The request on a skill's requests topic as a skill task: its skill set from the
    /// topic, its target cleared (Go agents answer a targeted-looking skill task like
    /// any other).
    fn skill_task(&self, topic: &str, req: &TaskRequest) -> Option<TaskRequest> {
        let (skill, _) = crate::skills::parse_topic(&self.cfg.group, topic)?;
        let mut req = req.clone();
        req.skill = Some(skill.to_owned());
        req.target_id = None;
        Some(req)
    }

    /// A skill task from another agent on a skill's request topic.
    fn on_skill_request(
        self: &Arc<Self>,
        topic: &str,
        req: &TaskRequest,
        traceparent: Option<String>,
    ) {
        let Some(req) = self.skill_task(topic, req) else {
            return;
        };
        let Some(skill) = req.skill.clone() else {
            return;
        };
        if self.capable(&req) {
            lock(&self.state)
                .skill_tasks
                .insert(req.task_id.clone(), (skill, Instant::now()));
            self.on_request(req, traceparent);
        }
    }

    /// Requests and responses of other agents, acted on before their record's
    /// transaction: a waiting caller wakes and a task starts without waiting for the
    /// store. Both effects are idempotent (a task id runs once; a resolved task ignores
    /// the same record again), and `handle` still records them with the offset.
    fn preview(self: &Arc<Self>, record: &InRecord, decoded: &Decoded) {
        let Decoded::Group { envelope, .. } = decoded else {
            return;
        };
        let sender = envelope.sender_id.as_str();
        if sender == self.cfg.agent_id
            || (self.gated() && !self.is_admitted(sender))
            || !self.zone_admits(envelope.zone_id.as_deref())
        {
            return;
        }
        let topic = record.topic.as_str();
        let skill_dir = crate::skills::parse_topic(&self.cfg.group, topic).map(|(_, dir)| dir);
        match &envelope.message {
            Message::Request(req) if topic == self.topics.requests => {
                self.on_request(req.clone(), envelope.traceparent.clone());
            }
            Message::Response(resp) if topic == self.topics.responses => {
                self.on_response(resp, sender, &record_origin(record));
            }
            Message::SkillRequest(req) | Message::Request(req) if skill_dir == Some("requests") => {
                self.on_skill_request(topic, req, envelope.traceparent.clone());
            }
            Message::SkillResponse(resp) | Message::Response(resp)
                if skill_dir == Some("responses") =>
            {
                self.on_response(resp, sender, &record_origin(record));
            }
            _ => {}
        }
    }
}

/// The consumer's handler: applies envelopes to the core.
pub(crate) struct Protocol<S, T>(pub Arc<Core<S, T>>);

#[async_trait]
impl<S: GroupStore, T: Transport> EnvelopeHandler<S::Txn> for Protocol<S, T> {
    async fn handle_envelope(
        &self,
        record: &InRecord,
        decoded: Decoded,
        txn: &mut S::Txn,
    ) -> std::result::Result<(), HandlerError> {
        self.0.handle(record, decoded, txn).await
    }

    fn wants_preview(&self, topic: &str) -> bool {
        let core = &self.0;
        topic == core.topics.requests
            || topic == core.topics.responses
            || crate::skills::parse_topic(&core.cfg.group, topic).is_some()
    }

    fn preview_envelope(&self, record: &InRecord, decoded: &Decoded) {
        self.0.preview(record, decoded);
    }
}
