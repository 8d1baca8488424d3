//! The runtime behind [`crate::Agent`]: the durable queue (the timeline's task table),
//! one worker per active session (sessions run side by side, the tasks of one session one
//! after the other), the global concurrency cap, waiting for outcomes, approval decisions,
//! the approval expiry sweep, and shutdown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use chrono::Utc;
use kafclaw_policy::PolicyEngine;
use kafclaw_providers::{CallContext, ChatChain, provider_status};
use kafclaw_timeline::{
    ApprovalAnswer, ApprovalFilter, ApprovalStatus, MAX_LIMIT, NewEvent, NewTask, SettingKey, Task,
    TaskFilter, TaskStatus, Timeline,
};
use kafclaw_tools::Registry;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api::{
    AgentDeps, Error, InboundMessage, Result, StartReport, Submitted, TaskOutcome, TaskState,
};
use crate::context::cut;
use crate::events;
use crate::options::AgentOptions;
use crate::session;
use crate::trace::{new_span_id, new_trace_id, parse_traceparent};

/// Longest channel name accepted (bytes).
const MAX_CHANNEL_BYTES: usize = 40;
/// Longest idempotency key accepted (bytes).
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;

/// How many finished outcomes [`Inner`] keeps for `wait`.
const RECENT_OUTCOMES: usize = 256;

/// Locks a mutex, taking the data even if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct Queue {
    /// Active sessions with their waiting tasks; a worker runs for every key.
    sessions: HashMap<String, VecDeque<String>>,
    /// Tasks queued or running in this process.
    queued: HashSet<String>,
}

/// The shared state of a running agent.
pub(crate) struct Inner {
    pub(crate) timeline: Timeline,
    pub(crate) chat: Arc<ChatChain>,
    pub(crate) tools: Arc<Registry>,
    pub(crate) policy: Arc<PolicyEngine>,
    pub(crate) sessions_dir: PathBuf,
    pub(crate) workspace: PathBuf,
    /// The soul files of `workspace`, read again only when one changes.
    pub(crate) souls: crate::context::SoulCache,
    pub(crate) opts: AgentOptions,
    pub(crate) max_iterations: u32,
    pub(crate) agent_id: Option<String>,
    pub(crate) start_report: StartReport,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) stop: watch::Sender<bool>,
    /// Parked tool calls by approval id, woken by `decide_approval` and the sweep.
    pub(crate) approvals: Mutex<HashMap<String, Arc<Notify>>>,
    /// Tasks parked for an approval in this process.
    pub(crate) parked: Mutex<HashSet<String>>,
    queue: Mutex<Queue>,
    /// Bumped whenever a task of this process finishes.
    finished: watch::Sender<u64>,
    /// The outcomes of the tasks this process finished most recently (at most
    /// [`RECENT_OUTCOMES`]), as committed: `wait` answers from here without reading
    /// the task row back.
    recent: Mutex<VecDeque<TaskOutcome>>,
    /// Tasks queued or running in this process.
    busy: watch::Sender<usize>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Held while this runtime owns the timeline's queue (see `acquire_queue_lock`);
    /// released at shutdown so the next runtime recovers what this one left.
    queue_lock: Mutex<Option<std::fs::File>>,
}

/// The session a task runs in; tasks created without one run alone.
fn session_of(task: &Task) -> String {
    task.session_key
        .clone()
        .unwrap_or_else(|| format!("task:{}", task.task_id))
}

fn outcome_of(task: Task, state: TaskState) -> TaskOutcome {
    TaskOutcome {
        session: session_of(&task),
        trace_id: task.trace_id.unwrap_or_default(),
        reply: (state == TaskState::Completed).then(|| task.content_out.unwrap_or_default()),
        error: (state == TaskState::Failed).then(|| task.error.unwrap_or_default()),
        task_id: task.task_id,
        state,
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Fails with [`Error::NoProvider`] when the model of `model.name` (or the agent's own
/// model) cannot be reached, saying what to set.
fn check_provider(deps: &AgentDeps, agent_id: Option<&str>) -> Result<()> {
    const HOW: &str = "set a key and a model, e.g. `kafclaw config set providers.openai.apiKey sk-...` \
        and `kafclaw config set model.name openai/gpt-4o-mini` (or the environment variables \
        OPENAI_API_KEY / KAFCLAW_PROVIDERS_ANTHROPIC_API_KEY and KAFCLAW_AGENTS_MODEL), or run \
        `kafclaw onboard`";
    let ctx = CallContext {
        agent_id: agent_id.map(str::to_owned),
        ..CallContext::default()
    };
    let plan = deps
        .chat
        .plan(&ctx)
        .map_err(|e| Error::NoProvider(format!("{e}; {HOW}")))?;
    let problem = provider_status(&deps.config.config.providers)
        .into_iter()
        .find(|s| s.id == plan.primary.provider)
        .and_then(|s| s.problem);
    match problem {
        Some(p) => Err(Error::NoProvider(format!(
            "the model {} (from {}) cannot be used: {p}; {HOW}",
            plan.primary, plan.source
        ))),
        None => Ok(()),
    }
}

/// Takes the advisory lock `<timeline>.queue.lock` without waiting; `None` when another
/// live runtime holds it (the lock goes away with its process, crash included).
fn acquire_queue_lock(timeline: &std::path::Path) -> Result<Option<std::fs::File>> {
    let mut name = timeline.as_os_str().to_owned();
    name.push(".queue.lock");
    let path = PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io {
            path: path.clone(),
            action: "open the queue lock",
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
            path,
            action: "lock the queue",
            source,
        }),
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        action: "create the sessions directory",
        source,
    })
}

impl Inner {
    pub(crate) async fn start(deps: AgentDeps, opts: AgentOptions) -> Result<Arc<Inner>> {
        let agent_id = deps
            .config
            .config
            .agents
            .list
            .iter()
            .find(|a| a.default)
            .map(|a| a.id.clone())
            .filter(|id| !id.is_empty());
        if opts.require_provider {
            check_provider(&deps, agent_id.as_deref())?;
        }
        create_private_dir(&deps.sessions_dir)?;
        let tl = deps.timeline.clone();

        // One runtime per timeline works the durable queue: the one that holds the queue
        // lock recovers what a crash interrupted and picks up every pending task. A second
        // runtime on the same timeline (e.g. `kafclaw agent` beside a running gateway) works
        // only the tasks submitted to it, and never re-queues the other's running tasks.
        let queue_lock = acquire_queue_lock(tl.path())?;
        let recovery = match &queue_lock {
            Some(_) => tl.recover_interrupted().await?,
            None => {
                tracing::info!(
                    path = %tl.path().display(),
                    "another agent runtime works this timeline's queue; only tasks submitted here run here"
                );
                kafclaw_timeline::Recovery::default()
            }
        };
        let mut pending = Vec::new();
        let mut offset = 0u32;
        while queue_lock.is_some() {
            let page = tl
                .list_tasks(&TaskFilter {
                    status: Some(TaskStatus::Pending),
                    limit: Some(MAX_LIMIT),
                    offset,
                    ..TaskFilter::default()
                })
                .await?;
            let n = u32::try_from(page.len()).unwrap_or(MAX_LIMIT);
            pending.extend(page);
            if n < MAX_LIMIT {
                break;
            }
            offset += n;
        }
        pending.sort_by_key(|t| t.id);
        let report = StartReport {
            resumed: recovery
                .requeued
                .iter()
                .map(|t| t.task_id.clone())
                .collect(),
            queued: pending.iter().map(|t| t.task_id.clone()).collect(),
            failed: recovery
                .failed
                .iter()
                .map(|t| (t.task_id.clone(), t.error.clone().unwrap_or_default()))
                .collect(),
        };
        for t in &recovery.failed {
            let reason = t.error.clone().unwrap_or_default();
            tracing::warn!(task_id = %t.task_id, %reason, "a task interrupted by a restart has failed");
            append_event(
                &tl,
                NewEvent {
                    event_type: events::EVENT_TASK_FAILED.into(),
                    trace_id: t.trace_id.clone(),
                    span_id: t.metadata["span_id"].as_str().map(str::to_owned),
                    parent_span_id: t.metadata["parent_span_id"].as_str().map(str::to_owned),
                    sender: t.sender.clone(),
                    channel: t.channel.clone(),
                    content: reason,
                    metadata: serde_json::json!({"task_id": t.task_id, "attempts": t.attempts}),
                    created_at: None,
                },
            )
            .await;
        }

        let max_iterations = deps.config.config.model.max_tool_iterations.max(1);
        let concurrency = opts.concurrency.max(1);
        let inner = Arc::new(Inner {
            timeline: tl,
            chat: deps.chat,
            tools: deps.tools,
            policy: deps.policy,
            sessions_dir: deps.sessions_dir,
            workspace: deps.workspace,
            souls: crate::context::SoulCache::default(),
            opts,
            max_iterations,
            agent_id,
            start_report: report,
            permits: Arc::new(Semaphore::new(concurrency)),
            stop: watch::Sender::new(false),
            approvals: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashSet::new()),
            queue: Mutex::new(Queue::default()),
            finished: watch::Sender::new(0),
            recent: Mutex::new(VecDeque::with_capacity(RECENT_OUTCOMES)),
            busy: watch::Sender::new(0),
            workers: Mutex::new(Vec::new()),
            queue_lock: Mutex::new(queue_lock),
        });
        for t in &pending {
            inner.enqueue(session_of(t), t.task_id.clone());
        }
        if !pending.is_empty() {
            tracing::info!(
                queued = pending.len(),
                resumed = inner.start_report.resumed.len(),
                "picked up the durable queue"
            );
        }
        tokio::spawn(sweep_approvals(Arc::downgrade(&inner)));
        Ok(inner)
    }

    pub(crate) async fn submit(self: &Arc<Self>, msg: InboundMessage) -> Result<Submitted> {
        self.submit_with(msg, None).await
    }

    pub(crate) async fn submit_with(
        self: &Arc<Self>,
        msg: InboundMessage,
        deadline: Option<chrono::DateTime<Utc>>,
    ) -> Result<Submitted> {
        if *self.stop.borrow() {
            return Err(Error::ShuttingDown);
        }
        let channel = msg.channel.trim();
        if channel.is_empty() {
            return Err(invalid(
                "channel",
                "must name the channel the message came in on",
            ));
        }
        if channel.len() > MAX_CHANNEL_BYTES || channel.chars().any(char::is_control) {
            return Err(invalid(
                "channel",
                format!("at most {MAX_CHANNEL_BYTES} bytes without control characters"),
            ));
        }
        if msg.content.trim().is_empty() {
            return Err(invalid("content", "the message is empty"));
        }
        if msg.content.len() > self.opts.max_message_bytes {
            return Err(invalid(
                "content",
                format!(
                    "the message has {} bytes; at most {} are accepted",
                    msg.content.len(),
                    self.opts.max_message_bytes
                ),
            ));
        }
        if let Some(k) = &msg.idempotency_key
            && (k.trim().is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_BYTES)
        {
            return Err(invalid(
                "idempotency_key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
            ));
        }
        let session = match msg.session {
            Some(s) => s,
            None => format!("{channel}:{}", new_span_id()),
        };
        session::check_key(&session).map_err(|reason| invalid("session", reason))?;
        let (trace_id, parent_span_id) = match msg.traceparent.as_deref().map(parse_traceparent) {
            Some(Some((trace, parent))) => (trace, Some(parent)),
            Some(None) => {
                tracing::debug!("ignoring a malformed traceparent; starting a new trace");
                (new_trace_id(), None)
            }
            None => (new_trace_id(), None),
        };
        let span_id = new_span_id();
        // The task row and its `message_in` event go to the timeline in one round trip;
        // the task is committed (durable) before this returns.
        let (sender, idempotency_key) = (msg.sender.clone(), msg.idempotency_key.clone());
        let in_event = |task_id: &str| NewEvent {
            event_type: events::EVENT_MESSAGE_IN.into(),
            trace_id: Some(trace_id.clone()),
            span_id: Some(span_id.clone()),
            parent_span_id: parent_span_id.clone(),
            sender: sender.clone(),
            channel: channel.to_owned(),
            content: cut(&msg.content, events::MAX_EVENT_TEXT).to_owned(),
            metadata: serde_json::json!({
                "task_id": task_id,
                "session": session,
                "trust_class": msg.trust.as_str(),
                "idempotency_key": idempotency_key,
            }),
            created_at: None,
        };
        let created = self
            .timeline
            .create_task_with_event(
                NewTask {
                    task_id: None,
                    idempotency_key: msg.idempotency_key.clone(),
                    trace_id: Some(trace_id.clone()),
                    session_key: Some(session.clone()),
                    channel: channel.to_owned(),
                    chat_id: None,
                    sender: msg.sender.clone(),
                    trust_class: msg.trust,
                    content_in: msg.content.clone(),
                    metadata: match deadline {
                        None => serde_json::json!({
                            "span_id": span_id,
                            "parent_span_id": parent_span_id,
                        }),
                        Some(d) => serde_json::json!({
                            "span_id": span_id,
                            "parent_span_id": parent_span_id,
                            "deadline_at": d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        }),
                    },
                },
                in_event,
            )
            .await?;
        let task = created.task;
        if task.status == TaskStatus::Pending {
            self.enqueue(session_of(&task), task.task_id.clone());
        }
        Ok(Submitted {
            session: session_of(&task),
            trace_id: task.trace_id.unwrap_or_default(),
            task_id: task.task_id,
            is_new: created.is_new,
        })
    }

    /// Puts a task at the end of its session's queue (once), starting the session's
    /// worker when it has none.
    fn enqueue(self: &Arc<Self>, session: String, task_id: String) {
        if *self.stop.borrow() {
            return;
        }
        let mut q = lock(&self.queue);
        if !q.queued.insert(task_id.clone()) {
            return;
        }
        self.busy.send_modify(|n| *n += 1);
        if let Some(waiting) = q.sessions.get_mut(&session) {
            waiting.push_back(task_id);
            return;
        }
        q.sessions
            .insert(session.clone(), VecDeque::from([task_id]));
        drop(q);
        let handle = tokio::spawn(session_worker(self.clone(), session));
        let mut workers = lock(&self.workers);
        workers.retain(|h| !h.is_finished());
        workers.push(handle);
    }

    pub(crate) async fn wait(&self, task_id: &str, timeout: Duration) -> Result<TaskOutcome> {
        let deadline = Instant::now() + timeout;
        let mut finished = self.finished.subscribe();
        loop {
            // A task this process finished: its outcome as committed. A task still queued
            // or running here cannot have finished (only this process runs it, and it
            // records the outcome before taking it out of the queue), so the timeline is
            // read only for the others.
            if let Some(o) = self.recent_outcome(task_id) {
                return Ok(o);
            }
            if !lock(&self.queue).queued.contains(task_id) {
                let o = self.outcome(task_id).await?;
                if matches!(o.state, TaskState::Completed | TaskState::Failed) {
                    return Ok(o);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    task_id: task_id.to_owned(),
                    waited: timeout,
                });
            }
            // Woken when a task of this process finishes; the periodic look also sees
            // tasks that another process sharing the timeline finishes.
            let slice = (deadline - now).min(Duration::from_secs(1));
            let _ = tokio::time::timeout(slice, finished.changed()).await;
        }
    }

    pub(crate) async fn outcome(&self, task_id: &str) -> Result<TaskOutcome> {
        let task = self
            .timeline
            .get_task(task_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "task",
                id: task_id.to_owned(),
            })?;
        let state = match task.status {
            TaskStatus::Pending => TaskState::Pending,
            TaskStatus::Completed => TaskState::Completed,
            TaskStatus::Failed => TaskState::Failed,
            TaskStatus::Processing => {
                let parked_here = lock(&self.parked).contains(task_id);
                let parked = parked_here
                    || !self
                        .timeline
                        .list_approvals(&ApprovalFilter {
                            status: Some(ApprovalStatus::Pending),
                            task_id: Some(task_id.to_owned()),
                            limit: Some(1),
                            ..ApprovalFilter::default()
                        })
                        .await?
                        .is_empty();
                if parked {
                    TaskState::AwaitingApproval
                } else {
                    TaskState::Processing
                }
            }
        };
        Ok(outcome_of(task, state))
    }

    /// Keeps the committed end of a task of this process for `wait` (before
    /// [`Self::task_done`] wakes the waiters).
    pub(crate) fn remember_finished(&self, task: Task) {
        let state = match task.status {
            TaskStatus::Completed => TaskState::Completed,
            TaskStatus::Failed => TaskState::Failed,
            _ => return,
        };
        let mut recent = lock(&self.recent);
        if recent.len() >= RECENT_OUTCOMES {
            recent.pop_front();
        }
        recent.push_back(outcome_of(task, state));
    }

    fn recent_outcome(&self, task_id: &str) -> Option<TaskOutcome> {
        lock(&self.recent)
            .iter()
            .rev()
            .find(|o| o.task_id == task_id)
            .cloned()
    }

    pub(crate) async fn decide_approval(
        &self,
        approval_id: &str,
        approve: bool,
        decided_by: &str,
    ) -> Result<()> {
        if decided_by.trim().is_empty() {
            return Err(invalid("decided_by", "must name who decided"));
        }
        let answer = if approve {
            ApprovalAnswer::Approve
        } else {
            ApprovalAnswer::Deny
        };
        match self
            .timeline
            .decide_approval(approval_id, answer, decided_by.trim())
            .await
        {
            Ok(_) => {
                self.wake_approval(approval_id);
                Ok(())
            }
            Err(kafclaw_timeline::Error::ApprovalNotFound { .. }) => Err(Error::NotFound {
                what: "approval",
                id: approval_id.to_owned(),
            }),
            Err(kafclaw_timeline::Error::ApprovalNotPending { status, .. }) => Err(invalid(
                "approval_id",
                format!("approval {approval_id} is already {status}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn wake_approval(&self, approval_id: &str) {
        if let Some(n) = lock(&self.approvals).get(approval_id) {
            n.notify_one();
        }
    }

    /// How long an approval request waits: the `approval_timeout_seconds` setting when set
    /// to a positive number, else the option.
    pub(crate) async fn approval_timeout(&self) -> Duration {
        match self
            .timeline
            .get_setting(SettingKey::ApprovalTimeoutSeconds.as_str())
            .await
        {
            Ok(Some(s)) => match s.value.parse::<u64>() {
                Ok(n) if n > 0 => Duration::from_secs(n),
                _ => self.opts.approval_timeout,
            },
            Ok(None) => self.opts.approval_timeout,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read approval_timeout_seconds; using the default");
                self.opts.approval_timeout
            }
        }
    }

    pub(crate) async fn shutdown(&self, grace: Duration) {
        self.stop.send_replace(true);
        let handles = std::mem::take(&mut *lock(&self.workers));
        let deadline = Instant::now() + grace;
        for h in handles {
            let abort = h.abort_handle();
            if tokio::time::timeout_at(deadline, h).await.is_err() {
                abort.abort();
            }
        }
        lock(&self.queue_lock).take();
    }

    pub(crate) async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut busy = self.busy.subscribe();
        matches!(
            tokio::time::timeout(timeout, busy.wait_for(|n| *n == 0)).await,
            Ok(Ok(_))
        )
    }

    /// Marks a task of this process done: out of the queue, waiters woken.
    fn task_done(&self, task_id: &str) {
        lock(&self.queue).queued.remove(task_id);
        self.busy.send_modify(|n| *n = n.saturating_sub(1));
        self.finished.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Runs the tasks of one session in order until its queue is empty (or the agent stops,
/// leaving the rest pending in the timeline for the next start).
async fn session_worker(inner: Arc<Inner>, session: String) {
    loop {
        let next = {
            let mut q = lock(&inner.queue);
            if *inner.stop.borrow() {
                if let Some(left) = q.sessions.remove(&session) {
                    for id in &left {
                        q.queued.remove(id);
                    }
                    inner
                        .busy
                        .send_modify(|n| *n = n.saturating_sub(left.len()));
                }
                return;
            }
            match q.sessions.get_mut(&session).and_then(VecDeque::pop_front) {
                Some(id) => id,
                None => {
                    q.sessions.remove(&session);
                    return;
                }
            }
        };
        crate::turn::run(&inner, &next).await;
        inner.task_done(&next);
    }
}

/// Expires approval requests older than the timeout, now and then, and wakes their tasks.
/// Holds only a weak reference, so it ends with the agent.
async fn sweep_approvals(weak: Weak<Inner>) {
    loop {
        let period = {
            let Some(inner) = weak.upgrade() else { return };
            if *inner.stop.borrow() {
                return;
            }
            let timeout = inner.approval_timeout().await;
            let before = Utc::now() - chrono::Duration::from_std(timeout).unwrap_or_default();
            match inner.timeline.expire_approvals(before).await {
                Ok(expired) => {
                    for a in expired {
                        tracing::info!(approval_id = %a.approval_id, tool = %a.tool, "approval request expired");
                        inner.wake_approval(&a.approval_id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot expire old approval requests"),
            }
            (timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(60))
        };
        tokio::time::sleep(period).await;
    }
}

/// Appends an event; a failure is logged, never fatal (the task record stays the truth).
pub(crate) async fn append_event(tl: &Timeline, event: NewEvent) {
    let kind = event.event_type.clone();
    if let Err(e) = tl.append_event(event).await {
        tracing::warn!(event = %kind, error = %e, "cannot append a timeline event");
    }
}
