//! One task from start to finish: the attack-intent check, the session transcript, the
//! context, and the tool loop — up to `model.maxToolIterations` model calls, every tool
//! call judged by the policy engine first, approvals parked without holding a worker slot
//! — then the task record completed or failed with its reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kafclaw_policy::{Decision, Outcome, ToolRequest, TrustClass};
use kafclaw_providers::{CallContext, ChatMessage, ChatRequest, ToolCall, ToolSpec};
use kafclaw_timeline::{Approval, ApprovalFilter, ApprovalStatus, NewApproval, NewEvent, Task};
use kafclaw_tools::{Error as ToolError, ToolContext, detect_attack_intent};
use serde_json::{Value, json};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::context::{cut, render_user};
use crate::events::*;
use crate::options::AttackAction;
use crate::runtime::{Inner, append_event, lock};
use crate::session::{Entry, EntryRole, EntryToolCall, SessionLog, Snapshot, Window};
use crate::trace::{new_span_id, new_trace_id};

/// Longest tool result handed to the model (bytes); tools cap their own output lower.
const MAX_TOOL_RESULT: usize = 256 * 1024;
/// Longest tool result kept in a session transcript (bytes).
const MAX_STORED_TOOL_RESULT: usize = 64 * 1024;
/// Longest tool-call arguments kept in an event (bytes of JSON).
const MAX_EVENT_ARGS: usize = 2 * 1024;

/// The request context of one task: fixed when the message was accepted, stored on the
/// task row, passed by reference through the turn. Nothing here is shared or mutable.
#[derive(Debug, Clone)]
pub(crate) struct TaskCtx {
    pub task_id: String,
    pub trace_id: String,
    /// The task's span; model and tool calls are its children.
    pub span_id: String,
    /// The caller's span (from `traceparent`), if any.
    pub parent_span_id: Option<String>,
    pub session: String,
    pub trust: TrustClass,
    pub sender: String,
    pub channel: String,
    pub attempt: u32,
    /// When the task must be finished (`submit_until`); checked before it starts and
    /// before every model and tool call.
    pub deadline: Option<chrono::DateTime<Utc>>,
}

impl TaskCtx {
    fn from_task(t: &Task) -> Self {
        let meta = |k: &str| t.metadata.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            task_id: t.task_id.clone(),
            trace_id: t.trace_id.clone().unwrap_or_else(new_trace_id),
            span_id: meta("span_id").unwrap_or_else(new_span_id),
            parent_span_id: meta("parent_span_id"),
            session: t
                .session_key
                .clone()
                .unwrap_or_else(|| format!("task:{}", t.task_id)),
            trust: t.trust_class,
            sender: t.sender.clone(),
            channel: t.channel.clone(),
            attempt: t.attempts,
            deadline: meta("deadline_at")
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(&d).ok())
                .map(|d| d.with_timezone(&Utc)),
        }
    }

    /// The reason to stop when the deadline has passed.
    fn past_deadline(&self, what: &str) -> Option<String> {
        let d = self.deadline?;
        let now = Utc::now();
        (now >= d).then(|| {
            format!(
                "the task's deadline {} passed {} ms {what}",
                d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                (now - d).num_milliseconds()
            )
        })
    }

    /// An event of the task itself (the task span).
    fn task_event(&self, kind: &str, content: &str, metadata: Value) -> NewEvent {
        NewEvent {
            event_type: kind.into(),
            trace_id: Some(self.trace_id.clone()),
            span_id: Some(self.span_id.clone()),
            parent_span_id: self.parent_span_id.clone(),
            sender: self.sender.clone(),
            channel: self.channel.clone(),
            content: cut(content, MAX_EVENT_TEXT).to_owned(),
            metadata,
            created_at: None,
        }
    }

    /// An event of a child span (a model or tool call).
    fn child_event(&self, kind: &str, span: &str, content: &str, metadata: Value) -> NewEvent {
        NewEvent {
            span_id: Some(span.to_owned()),
            parent_span_id: Some(self.span_id.clone()),
            ..self.task_event(kind, content, metadata)
        }
    }
}

/// A worker slot under the global concurrency cap, given back while a task is parked.
pub(crate) struct Slot {
    sem: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    /// Takes a slot; false when the agent stops first.
    async fn acquire(&mut self, stop: &watch::Sender<bool>) -> bool {
        if self.permit.is_some() {
            return true;
        }
        let mut stop = stop.subscribe();
        if *stop.borrow_and_update() {
            return false;
        }
        tokio::select! {
            p = self.sem.clone().acquire_owned() => {
                self.permit = p.ok();
                self.permit.is_some()
            }
            _ = stop.changed() => false,
        }
    }

    fn release(&mut self) {
        self.permit = None;
    }
}

/// How a turn ended.
enum TurnEnd {
    Answer(String),
    Failed(String),
    /// The agent is stopping: the task stays `processing` and the next start re-queues it.
    Interrupted,
}

/// Runs one queued task of this process.
pub(crate) async fn run(inner: &Arc<Inner>, task_id: &str) {
    let mut slot = Slot {
        sem: inner.permits.clone(),
        permit: None,
    };
    if !slot.acquire(&inner.stop).await {
        return; // stopping: the task stays pending
    }
    let Some(task) = start(inner, task_id).await else {
        return;
    };
    let ctx = TaskCtx::from_task(&task);
    if let Some(reason) = ctx.past_deadline("before a worker took it; it was not worked on") {
        finish(inner, &ctx, Err(&reason)).await;
        return;
    }
    if ctx.attempt > 1 {
        tracing::info!(
            task_id,
            attempt = ctx.attempt,
            "resuming a task interrupted by a restart"
        );
        append_event(
            &inner.timeline,
            ctx.task_event(
                EVENT_TASK_RESUMED,
                "started again after a restart, from the start of its turn",
                json!({"task_id": ctx.task_id, "attempt": ctx.attempt}),
            ),
        )
        .await;
    }
    let mut turn = Turn {
        inner,
        ctx: &ctx,
        slot: &mut slot,
        used_approvals: Vec::new(),
    };
    match turn.run(&task.content_in).await {
        TurnEnd::Answer(text) => finish(inner, &ctx, Ok(&text)).await,
        TurnEnd::Failed(reason) => finish(inner, &ctx, Err(&reason)).await,
        TurnEnd::Interrupted => {
            tracing::info!(
                task_id,
                "task interrupted by shutdown; the next start resumes it"
            );
        }
    }
}

/// pending → processing. `None` when another worker or process has the task, or it is
/// finished already.
async fn start(inner: &Inner, task_id: &str) -> Option<Task> {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=3 {
        match inner.timeline.start_task(task_id).await {
            Ok(t) => return Some(t),
            Err(
                kafclaw_timeline::Error::InvalidTransition { .. }
                | kafclaw_timeline::Error::TaskNotFound { .. },
            ) => {
                tracing::debug!(task_id, "task is no longer pending; skipped");
                return None;
            }
            Err(e) if attempt < 3 => {
                tracing::warn!(task_id, error = %e, "cannot start a task; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(task_id, error = %e, "cannot start a task; it stays pending until the next start");
            }
        }
    }
    None
}

/// Completes or fails the task together with the matching event (one round trip to the
/// timeline; the event gets the task's committed token, cost and attempt totals).
async fn finish(inner: &Inner, ctx: &TaskCtx, result: std::result::Result<&str, &str>) {
    let tl = &inner.timeline;
    let write = || async {
        match result {
            Ok(text) => {
                let event =
                    ctx.task_event(EVENT_MESSAGE_OUT, text, json!({"task_id": ctx.task_id}));
                tl.complete_task_with_event(&ctx.task_id, text, event).await
            }
            Err(reason) => {
                let event =
                    ctx.task_event(EVENT_TASK_FAILED, reason, json!({"task_id": ctx.task_id}));
                tl.fail_task_with_event(&ctx.task_id, reason, event).await
            }
        }
    };
    let mut done = write().await;
    if let Err(kafclaw_timeline::Error::InvalidTransition {
        from: kafclaw_timeline::TaskStatus::Pending,
        ..
    }) = &done
    {
        // Another process opened the timeline meanwhile and its crash recovery put this
        // running task back to pending; take it again and record the result.
        tracing::warn!(task_id = %ctx.task_id, "the task was re-queued under us by another process's recovery; finishing it anyway");
        if tl.start_task(&ctx.task_id).await.is_ok() {
            done = write().await;
        }
    }
    match done {
        Ok(task) => {
            if let Err(reason) = result {
                tracing::info!(task_id = %ctx.task_id, %reason, "task failed");
            }
            inner.remember_finished(task);
        }
        Err(e) => {
            tracing::error!(task_id = %ctx.task_id, error = %e, "cannot record the end of a task; the next start re-runs it");
        }
    }
}

struct Turn<'a> {
    inner: &'a Arc<Inner>,
    ctx: &'a TaskCtx,
    slot: &'a mut Slot,
    /// Approval requests already consumed by this run (a resumed task may reuse earlier
    /// requests for the same call, each once).
    used_approvals: Vec<String>,
}

/// What happened to one tool call.
struct ToolEnd {
    /// The text the model gets as the tool result.
    result: String,
    is_error: bool,
    outcome: Outcome,
    reason: String,
    approval: Option<(String, ApprovalStatus)>,
}

impl Turn<'_> {
    async fn event(&self, e: NewEvent) {
        append_event(&self.inner.timeline, e).await;
    }

    async fn run(&mut self, content: &str) -> TurnEnd {
        let inner = self.inner;
        let ctx = self.ctx;

        // 1. Attack intent, for everyone but the operator.
        if ctx.trust != TrustClass::Owner
            && let Some(m) = detect_attack_intent(content)
        {
            let action = inner.opts.attack_action;
            let refused = action == AttackAction::Refuse;
            self.event(ctx.task_event(
                EVENT_SECURITY,
                m.rule.as_str(),
                json!({
                    "task_id": ctx.task_id,
                    "rule": m.rule.as_str(),
                    "excerpt": cut(&m.excerpt, 200),
                    "action": if refused { "refuse" } else { "mark" },
                    "trust_class": ctx.trust.as_str(),
                }),
            ))
            .await;
            if refused {
                return TurnEnd::Failed(format!(
                    "refused: the message matches the attack-intent rule {} and was not sent to the model",
                    m.rule.as_str()
                ));
            }
        }

        // 2. The session transcript (an answer a crashed attempt already wrote, else the
        //    user message, written once per task, and the history) and 3. the system
        //    prompt with the tools this sender may use: all the file work of the turn
        //    before the model call, in one trip to the blocking pool.
        let log = SessionLog::new(&inner.sessions_dir, &ctx.session);
        let window = Window {
            messages: inner.opts.history_messages,
            chars: inner.opts.history_chars,
        };
        let max_tier = inner.policy.max_tier(ctx.trust);
        let definitions: Vec<_> = inner
            .tools
            .definitions()
            .into_iter()
            .filter(|d| d.tier <= max_tier)
            .collect();
        let prepared = {
            let (l, inner, tctx, defs) =
                (log.clone(), inner.clone(), ctx.clone(), definitions.clone());
            let content = content.to_owned();
            tokio::task::spawn_blocking(move || prepare(&l, &inner, &tctx, &content, window, &defs))
                .await
        };
        let (snap, system) = match prepared {
            Ok(Ok(Prepared::Answered(answer))) => {
                tracing::info!(task_id = %ctx.task_id, "the transcript already holds this task's answer");
                return TurnEnd::Answer(answer);
            }
            Ok(Ok(Prepared::Ready { snap, system })) => (snap, system),
            Ok(Err(e)) => return TurnEnd::Failed(e),
            Err(e) => return TurnEnd::Failed(format!("reading the session transcript: {e}")),
        };
        let mut seq = snap.last_seq;
        let mut hist = snap.last_hist;
        if !snap.has_user_line {
            seq += 1;
            hist += 1;
        }
        let mut messages = vec![ChatMessage::system(system)];
        for e in &snap.history {
            messages.push(match e.role {
                EntryRole::User => ChatMessage::user(render_user(
                    &e.content,
                    e.sender.as_deref().unwrap_or_default(),
                    e.channel.as_deref().unwrap_or_default(),
                    e.trust.unwrap_or(TrustClass::External),
                )),
                _ => ChatMessage::assistant(e.content.clone()),
            });
        }
        messages.push(ChatMessage::user(render_user(
            content,
            &ctx.sender,
            &ctx.channel,
            ctx.trust,
        )));
        let tools: Vec<ToolSpec> = definitions
            .into_iter()
            .map(|d| ToolSpec {
                name: d.name,
                description: d.description,
                parameters: d.parameters,
            })
            .collect();
        let mut request = ChatRequest::new(messages).with_tools(tools);

        // 4. The tool loop.
        let mut lines: Vec<Entry> = Vec::new();
        let max = inner.max_iterations;
        for iteration in 1..=max {
            if let Some(reason) =
                ctx.past_deadline(&format!("before model call {iteration}; the turn stopped"))
            {
                return TurnEnd::Failed(reason);
            }
            let span = new_span_id();
            let started = Instant::now();
            let call_ctx = CallContext {
                task_id: Some(ctx.task_id.clone()),
                agent_id: inner.agent_id.clone(),
                ..CallContext::default()
            };
            let result = inner.chat.chat(&call_ctx, request.clone()).await;
            let elapsed = started.elapsed().as_millis();
            let reply = match result {
                Ok(r) => r,
                Err(e) => {
                    let reason = format!("model call {iteration} failed: {e}");
                    self.event(ctx.child_event(
                        EVENT_LLM_CALL,
                        &span,
                        &reason,
                        json!({
                            "task_id": ctx.task_id,
                            "iteration": iteration,
                            "duration_ms": elapsed,
                            "error": e.to_string(),
                        }),
                    ))
                    .await;
                    return TurnEnd::Failed(reason);
                }
            };
            let resp = &reply.response;
            self.event(ctx.child_event(
                EVENT_LLM_CALL,
                &span,
                &resp.content,
                json!({
                    "task_id": ctx.task_id,
                    "iteration": iteration,
                    "model": reply.model.to_string(),
                    "source": reply.source.to_string(),
                    "duration_ms": elapsed,
                    "tokens_in": resp.usage.input_tokens,
                    "tokens_out": resp.usage.output_tokens,
                    "cost_usd": reply.cost_usd,
                    "stop_reason": resp.stop_reason.to_string(),
                    "tool_calls": resp.tool_calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                    "chain": reply.events.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }),
            ))
            .await;

            if resp.tool_calls.is_empty() {
                if resp.content.trim().is_empty() {
                    return TurnEnd::Failed(format!(
                        "the model {} returned an empty answer (stop reason {})",
                        reply.model, resp.stop_reason
                    ));
                }
                seq += 1;
                hist += 1;
                lines.push(Entry {
                    seq,
                    hist: Some(hist),
                    task_id: ctx.task_id.clone(),
                    role: EntryRole::Assistant,
                    content: resp.content.clone(),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    is_final: true,
                    sender: None,
                    channel: None,
                    trust: None,
                    time: Utc::now(),
                });
                if let Err(e) = append(&log, lines).await {
                    return TurnEnd::Failed(e);
                }
                return TurnEnd::Answer(resp.content.clone());
            }

            seq += 1;
            lines.push(Entry {
                seq,
                hist: None,
                task_id: ctx.task_id.clone(),
                role: EntryRole::Assistant,
                content: resp.content.clone(),
                tool_calls: resp
                    .tool_calls
                    .iter()
                    .map(|c| EntryToolCall {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                    })
                    .collect(),
                tool_call_id: None,
                is_final: false,
                sender: None,
                channel: None,
                trust: None,
                time: Utc::now(),
            });
            request.messages.push(ChatMessage::assistant_tool_calls(
                resp.content.clone(),
                resp.tool_calls.clone(),
            ));
            for call in &resp.tool_calls {
                if let Some(reason) = ctx.past_deadline(&format!(
                    "before the call of tool {}; the turn stopped",
                    call.name
                )) {
                    return TurnEnd::Failed(reason);
                }
                let Some(end) = self.tool_call(call).await else {
                    return TurnEnd::Interrupted;
                };
                let result = cut(&end.result, MAX_TOOL_RESULT).to_owned();
                seq += 1;
                lines.push(Entry {
                    seq,
                    hist: None,
                    task_id: ctx.task_id.clone(),
                    role: EntryRole::Tool,
                    content: cut(&result, MAX_STORED_TOOL_RESULT).to_owned(),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call.id.clone()),
                    is_final: false,
                    sender: None,
                    channel: None,
                    trust: None,
                    time: Utc::now(),
                });
                request
                    .messages
                    .push(ChatMessage::tool_result(call.id.clone(), result));
            }
        }
        TurnEnd::Failed(format!(
            "no final answer after {max} model calls (model.maxToolIterations = {max}): the model kept asking for tools"
        ))
    }

    /// Judges and (when allowed) runs one tool call; `None` when the agent stops while
    /// the call waits for an approval.
    async fn tool_call(&mut self, call: &ToolCall) -> Option<ToolEnd> {
        let inner = self.inner;
        let ctx = self.ctx;
        let span = new_span_id();
        let started = Instant::now();
        let tier = inner.tools.get(&call.name).map(|t| t.tier());
        let request = ToolRequest {
            tool: call.name.clone(),
            tier,
            sender: ctx.sender.clone(),
            trust_class: ctx.trust,
            channel: ctx.channel.clone(),
            trace_id: Some(ctx.trace_id.clone()),
            task_id: Some(ctx.task_id.clone()),
        };
        let end = match inner.policy.evaluate(request).await {
            Err(e) => ToolEnd {
                result: format!(
                    "refused: the policy decision could not be recorded ({e}); the tool did not run"
                ),
                is_error: true,
                outcome: Outcome::Deny,
                reason: e.to_string(),
                approval: None,
            },
            Ok(decision) => match decision.outcome {
                Outcome::Allow => self.execute(call, &decision, &span).await,
                Outcome::Deny => ToolEnd {
                    result: format!("refused by policy: {}", decision.reason),
                    is_error: true,
                    outcome: Outcome::Deny,
                    reason: decision.reason.clone(),
                    approval: None,
                },
                Outcome::RequireApproval => self.with_approval(call, decision, &span).await?,
            },
        };
        let args = call.arguments.to_string();
        self.event(ctx.child_event(
            EVENT_TOOL_CALL,
            &span,
            &end.result,
            json!({
                "task_id": ctx.task_id,
                "tool": call.name,
                "tool_call_id": call.id,
                "tier": tier.map(u8::from),
                "arguments": cut(&args, MAX_EVENT_ARGS),
                "outcome": end.outcome.as_str(),
                "reason": end.reason,
                "approval_id": end.approval.as_ref().map(|a| a.0.clone()),
                "approval_status": end.approval.as_ref().map(|a| a.1.as_str()),
                "is_error": end.is_error,
                "duration_ms": started.elapsed().as_millis(),
            }),
        ))
        .await;
        Some(end)
    }

    /// Runs an allowed tool call in the sandbox. A sandbox refusal is recorded as a second
    /// decision (like `kafclaw tools run`) and reaches the model as the tool result.
    async fn execute(&self, call: &ToolCall, decision: &Decision, span: &str) -> ToolEnd {
        let ctx = self.ctx;
        let tctx = ToolContext::new(ctx.trust)
            .with_sender(&ctx.sender)
            .with_channel(&ctx.channel)
            .with_trace_id(&ctx.trace_id)
            .with_task_id(&ctx.task_id);
        let scope = crate::scope::ToolCallScope {
            task_id: ctx.task_id.clone(),
            trace_id: ctx.trace_id.clone(),
            span_id: span.to_owned(),
            deadline: ctx.deadline,
        };
        let run = self
            .inner
            .tools
            .execute(&call.name, call.arguments.clone(), &tctx);
        match crate::scope::with_tool_call(scope, run).await {
            Ok(out) => ToolEnd {
                result: out.content,
                is_error: out.is_error,
                outcome: Outcome::Allow,
                reason: decision.reason.clone(),
                approval: None,
            },
            Err(ToolError::Refused { refusal, .. }) => {
                let reason = format!("sandbox_{}: {}", refusal.rule.as_str(), refusal.reason);
                self.record(decision, Outcome::Deny, &reason).await;
                ToolEnd {
                    result: format!("refused by the sandbox: {reason}"),
                    is_error: true,
                    outcome: Outcome::Deny,
                    reason,
                    approval: None,
                }
            }
            Err(e) => ToolEnd {
                result: format!("error: {e}"),
                is_error: true,
                outcome: Outcome::Allow,
                reason: decision.reason.clone(),
                approval: None,
            },
        }
    }

    /// Records a decision taken after the engine's (sandbox refusal, human decision).
    async fn record(&self, base: &Decision, outcome: Outcome, reason: &str) {
        let d = Decision {
            outcome,
            reason: reason.to_owned(),
            ..base.clone()
        };
        if let Err(e) = self.inner.timeline.record_decision(&d).await {
            tracing::warn!(task_id = %self.ctx.task_id, error = %e, "cannot record a policy decision");
        }
    }

    /// The approval path: find or create the request, park (without a worker slot), and
    /// act on the decision.
    async fn with_approval(
        &mut self,
        call: &ToolCall,
        decision: Decision,
        span: &str,
    ) -> Option<ToolEnd> {
        let inner = self.inner;
        let ctx = self.ctx;
        let timeout = inner.approval_timeout().await;
        let approval = match self.find_or_create_approval(call, &decision).await {
            Ok(a) => a,
            Err(e) => {
                let reason =
                    format!("approval_unavailable: cannot store the approval request: {e}");
                self.record(&decision, Outcome::Deny, &reason).await;
                return Some(ToolEnd {
                    result: format!("refused: {reason}; the tool did not run"),
                    is_error: true,
                    outcome: Outcome::Deny,
                    reason,
                    approval: None,
                });
            }
        };
        let id = approval.approval_id.clone();
        self.event(ctx.child_event(
            EVENT_APPROVAL_REQUESTED,
            span,
            &format!(
                "tool {} (tier {}) waits for approval {id}",
                call.name,
                decision.tier.map_or(-1, |t| i16::from(u8::from(t)))
            ),
            json!({
                "task_id": ctx.task_id,
                "approval_id": id,
                "tool": call.name,
                "tier": decision.tier.map(u8::from),
                "arguments": cut(&call.arguments.to_string(), MAX_EVENT_ARGS),
                "timeout_secs": timeout.as_secs(),
            }),
        ))
        .await;
        let decided = self.park(&approval, timeout).await?;
        self.used_approvals.push(id.clone());
        let by = decided.decided_by.clone().unwrap_or_default();
        self.event(ctx.child_event(
            EVENT_APPROVAL_DECIDED,
            span,
            &format!("approval {id}: {}", decided.status),
            json!({
                "task_id": ctx.task_id,
                "approval_id": id,
                "status": decided.status.as_str(),
                "decided_by": decided.decided_by,
            }),
        ))
        .await;
        let approval_state = Some((id.clone(), decided.status));
        let (reason, result) = match decided.status {
            ApprovalStatus::Approved => {
                let reason = format!("approved: approval {id} by {by}");
                self.record(&decision, Outcome::Allow, &reason).await;
                let mut end = self.execute(call, &decision, span).await;
                if end.outcome == Outcome::Allow {
                    end.reason = reason;
                }
                end.approval = approval_state;
                return Some(end);
            }
            ApprovalStatus::Denied => (
                format!("approval_denied: approval {id} was denied by {by}"),
                format!(
                    "refused: the operator denied this call (approval {id}); the tool did not run"
                ),
            ),
            ApprovalStatus::Expired | ApprovalStatus::Pending => (
                format!(
                    "approval_expired: no decision on approval {id} within {} s",
                    timeout.as_secs()
                ),
                format!(
                    "refused: the approval request {id} expired after {} s without a decision; the tool did not run",
                    timeout.as_secs()
                ),
            ),
        };
        self.record(&decision, Outcome::Deny, &reason).await;
        Some(ToolEnd {
            result,
            is_error: true,
            outcome: Outcome::Deny,
            reason,
            approval: approval_state,
        })
    }

    /// A resumed task reuses the request an earlier attempt made for the same call (same
    /// tool, same arguments) unless it expired; otherwise a new request is stored.
    async fn find_or_create_approval(
        &self,
        call: &ToolCall,
        decision: &Decision,
    ) -> kafclaw_timeline::Result<Approval> {
        let tl = &self.inner.timeline;
        if self.ctx.attempt > 1 {
            let earlier = tl
                .list_approvals(&ApprovalFilter {
                    task_id: Some(self.ctx.task_id.clone()),
                    ..ApprovalFilter::default()
                })
                .await?;
            if let Some(a) = earlier.into_iter().rev().find(|a| {
                a.tool == call.name
                    && a.args == call.arguments
                    && a.status != ApprovalStatus::Expired
                    && !self.used_approvals.contains(&a.approval_id)
            }) {
                return Ok(a);
            }
        }
        tl.create_approval(NewApproval {
            task_id: Some(self.ctx.task_id.clone()),
            trace_id: Some(self.ctx.trace_id.clone()),
            tool: call.name.clone(),
            tier: decision.tier,
            args: call.arguments.clone(),
            sender: self.ctx.sender.clone(),
            channel: self.ctx.channel.clone(),
        })
        .await
    }

    /// Waits for a decision on `approval` without holding a worker slot: woken by
    /// `decide_approval` in this process, re-reading the timeline now and then (another
    /// process may decide), expiring the request at its deadline. `None` when the agent
    /// stops first.
    async fn park(&mut self, approval: &Approval, timeout: Duration) -> Option<Approval> {
        let inner = self.inner;
        let id = approval.approval_id.clone();
        let notify = Arc::new(Notify::new());
        lock(&inner.approvals).insert(id.clone(), notify.clone());
        lock(&inner.parked).insert(self.ctx.task_id.clone());
        self.slot.release();
        let age = (Utc::now() - approval.requested_at)
            .to_std()
            .unwrap_or_default();
        let deadline = Instant::now() + timeout.saturating_sub(age);
        let mut stop = inner.stop.subscribe();
        let decided = loop {
            if *stop.borrow_and_update() {
                break None;
            }
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match inner.timeline.get_approval(&id).await {
                Ok(Some(a)) if a.status != ApprovalStatus::Pending => break Some(a),
                Ok(Some(_)) => {}
                Ok(None) => {
                    // Pruned or deleted under us: treat as expired.
                    let mut a = approval.clone();
                    a.status = ApprovalStatus::Expired;
                    break Some(a);
                }
                Err(e) => {
                    tracing::warn!(approval_id = %id, error = %e, "cannot read an approval request")
                }
            }
            let now = Instant::now();
            let wait = if now >= deadline {
                let before = Utc::now() - chrono::Duration::from_std(timeout).unwrap_or_default();
                if let Err(e) = inner.timeline.expire_approvals(before).await {
                    tracing::warn!(error = %e, "cannot expire approval requests");
                }
                Duration::from_millis(50)
            } else {
                (deadline - now).min(inner.opts.approval_poll)
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        };
        lock(&inner.approvals).remove(&id);
        lock(&inner.parked).remove(&self.ctx.task_id);
        match decided {
            Some(a) if self.slot.acquire(&inner.stop).await => Some(a),
            _ => None,
        }
    }
}

/// Appends transcript lines off the async threads.
async fn append(log: &SessionLog, lines: Vec<Entry>) -> std::result::Result<(), String> {
    let l = log.clone();
    match tokio::task::spawn_blocking(move || l.append(&lines)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "cannot append to the session transcript {}: {e}",
            log.path().display()
        )),
        Err(e) => Err(format!("appending to the session transcript: {e}")),
    }
}

/// What the file work before a turn's first model call found.
enum Prepared {
    /// A crashed attempt already wrote this task's answer to the transcript.
    Answered(String),
    /// The transcript as it was before this turn (its user line, when missing, is now
    /// written), and the system prompt.
    Ready { snap: Snapshot, system: String },
}

/// Reads the transcript, appends the task's user line when an earlier attempt did not,
/// and builds the system prompt (soul files from the cache). Runs on the blocking pool.
fn prepare(
    log: &SessionLog,
    inner: &Inner,
    ctx: &TaskCtx,
    content: &str,
    window: Window,
    definitions: &[kafclaw_tools::ToolDefinition],
) -> std::result::Result<Prepared, String> {
    let snap = log.snapshot(&ctx.task_id, window).map_err(|e| {
        format!(
            "cannot read the session transcript {}: {e}",
            log.path().display()
        )
    })?;
    if let Some(answer) = snap.final_answer {
        return Ok(Prepared::Answered(answer));
    }
    if !snap.has_user_line {
        let entry = Entry {
            seq: snap.last_seq + 1,
            hist: Some(snap.last_hist + 1),
            task_id: ctx.task_id.clone(),
            role: EntryRole::User,
            content: content.to_owned(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_final: false,
            sender: Some(ctx.sender.clone()),
            channel: Some(ctx.channel.clone()),
            trust: Some(ctx.trust),
            time: Utc::now(),
        };
        log.append(&[entry]).map_err(|e| {
            format!(
                "cannot append to the session transcript {}: {e}",
                log.path().display()
            )
        })?;
    }
    let system = inner.souls.system_prompt(&inner.workspace, definitions);
    Ok(Prepared::Ready { snap, system })
}
