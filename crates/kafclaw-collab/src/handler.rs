//! The group's task handler: a group task addressed to this agent, claimed by it, or
//! for a skill it provides becomes an agent task (channel `group`, the requester as
//! sender, trust class `peer`, the requester's trace continued, the group task id as
//! idempotency key, the deadline kept) — or, for a command skill, runs the command.
//! Zone tasks of the orchestrator ([`crate::ZoneWork`]) go through the same path.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kafclaw_agent::{InboundMessage, TaskState};
use kafclaw_envelope::{TaskRequest, TracePayload};
use kafclaw_group::{IncomingTask, TaskHandler, TaskResult};
use kafclaw_policy::{Decision, Outcome, ToolTier, TrustClass};
use tracing::{info, warn};

use crate::hub::{GROUP_KEY_PREFIX, Hub};

/// The channel name of agent tasks made from group tasks.
pub const GROUP_CHANNEL: &str = "group";

/// How long a task without a deadline may take.
const NO_DEADLINE_WAIT: Duration = Duration::from_secs(3600);

/// Longest session key the runtime accepts (bytes).
const MAX_SESSION: usize = 80;
/// Longest idempotency key the runtime accepts (bytes).
const MAX_KEY: usize = 200;

pub(crate) struct GroupTaskHandler {
    pub(crate) hub: Arc<Hub>,
}

/// Removes a task from the running map when its handling ends (also when the group
/// layer drops the handler at the deadline).
struct Running<'a> {
    hub: &'a Hub,
    key: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.hub.stop_running(&self.key);
    }
}

#[async_trait]
impl TaskHandler for GroupTaskHandler {
    async fn handle(&self, task: IncomingTask) -> TaskResult {
        let skill = task.request().skill.clone();
        match skill {
            Some(s) if self.hub.commands.contains(&s) => self.command(&task, &s).await,
            _ => self.agent_task(&task, skill.as_deref()).await,
        }
    }
}

impl GroupTaskHandler {
    async fn agent_task(&self, task: &IncomingTask, skill: Option<&str>) -> TaskResult {
        let id = task.task_id();
        let content = match skill {
            Some(s) => format!("(skill requested: {s})\n{}", task.content()),
            None => task.content().to_owned(),
        };
        let run = AgentRun {
            channel: GROUP_CHANNEL,
            key: format!("{GROUP_KEY_PREFIX}{id}"),
            sender: task.requester_id().to_owned(),
            content,
            traceparent: task.traceparent().map(str::to_owned),
            deadline: task.deadline(),
            title_suffix: format!("group task {id} from {}", task.requester_id()),
            parent: Some(task.request().clone()),
            spans: SpanRoute::Group,
        };
        run_in_agent(&self.hub, run).await.0
    }

    /// A command skill: the policy decision is recorded, the command runs (no model),
    /// and a task span is published.
    async fn command(&self, task: &IncomingTask, skill: &str) -> TaskResult {
        let hub = &self.hub;
        let started = Utc::now();
        let (trace_id, parent) = task
            .traceparent()
            .and_then(crate::trace::parse_traceparent)
            .map_or((None, String::new()), |(t, s)| (Some(t), s));
        let result = hub
            .commands
            .run(skill, task.content(), task.deadline())
            .await;
        let tool = format!("command_skill.{skill}");
        let (outcome, reason) = match &result {
            Err(crate::command::CommandFailure::Refused { rule, reason }) => {
                (Outcome::Deny, format!("sandbox_{rule}: {reason}"))
            }
            _ => (
                Outcome::Allow,
                format!("allowed: command skill configured in group.commandSkills.{skill}"),
            ),
        };
        let decision = Decision {
            outcome,
            reason,
            tool: tool.clone(),
            tier: Some(ToolTier::HighRisk),
            sender: task.requester_id().to_owned(),
            trust_class: TrustClass::Peer,
            channel: GROUP_CHANNEL.into(),
            trace_id: trace_id.clone(),
            task_id: Some(task.task_id().to_owned()),
        };
        if let Err(e) = hub.timeline.record_decision(&decision).await {
            warn!(error = %e, "cannot record the decision of a command skill");
        }
        let answer = result.map_err(|f| f.reason());
        if let Some(trace_id) = trace_id
            && let Some(group) = hub.group(Duration::from_secs(5)).await
        {
            let ended = Utc::now();
            let span = TracePayload {
                trace_id,
                span_id: span_id(),
                parent_span_id: parent,
                span_type: "TASK".into(),
                title: format!(
                    "{} ran command skill {skill} for {}",
                    group.agent_id(),
                    task.requester_id()
                ),
                content: match &answer {
                    Ok(a) => a.chars().take(2000).collect(),
                    Err(e) => format!("failed: {e}"),
                },
                started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ended_at: ended.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                duration_ms: (ended - started).num_milliseconds().max(0),
            };
            if let Err(e) = group.publish_trace(span).await {
                warn!(error = %e, "cannot publish the span of a command skill");
            }
        }
        answer
    }
}

/// An agent task made from work another agent sent (a group task or a zone task).
pub(crate) struct AgentRun {
    pub(crate) channel: &'static str,
    /// Session and idempotency key (`group:<id>`, `zone:<id>`).
    pub(crate) key: String,
    pub(crate) sender: String,
    pub(crate) content: String,
    pub(crate) traceparent: Option<String>,
    pub(crate) deadline: Option<DateTime<Utc>>,
    /// The task span's title after the agent's name (`group task ... from ...`).
    pub(crate) title_suffix: String,
    /// The task as a request, so the agent's tools delegate on its behalf (depth + 1,
    /// within its deadline).
    pub(crate) parent: Option<TaskRequest>,
    /// Where the finished task's spans go.
    pub(crate) spans: SpanRoute,
}

/// Where the spans of a finished agent task go.
pub(crate) enum SpanRoute {
    /// Published on the group's traces topic.
    Group,
    /// Returned to the caller (a zone task's spans stay on the zone's topics).
    Caller,
}

fn left(deadline: Option<DateTime<Utc>>) -> Option<Duration> {
    deadline.map(|d| (d - Utc::now()).to_std().unwrap_or_default())
}

/// Runs `run` through the agent loop with trust class `peer`, waits for its outcome
/// (until the deadline), publishes its spans (or returns them, [`SpanRoute::Caller`])
/// and returns the reply or the reason.
pub(crate) async fn run_in_agent(hub: &Hub, run: AgentRun) -> (TaskResult, Vec<TracePayload>) {
    let Some(agent) = hub.agent() else {
        return (
            Err("this agent's runtime is not running".into()),
            Vec::new(),
        );
    };
    if left(run.deadline).is_some_and(|l| l.is_zero()) {
        return (
            Err("the task's deadline passed before it could start".into()),
            Vec::new(),
        );
    }
    let key = run.key;
    let msg = InboundMessage {
        channel: run.channel.into(),
        sender: run.sender.clone(),
        trust: TrustClass::Peer,
        session: (key.len() <= MAX_SESSION && !key.chars().any(char::is_control))
            .then(|| key.clone()),
        content: run.content,
        idempotency_key: (key.len() <= MAX_KEY).then(|| key.clone()),
        traceparent: run.traceparent,
    };
    let _running = run.parent.map(|task| {
        hub.start_running(&key, task);
        Running {
            hub,
            key: key.clone(),
        }
    });
    let submitted = match run.deadline {
        Some(d) => agent.submit_until(msg, d).await,
        None => agent.submit(msg).await,
    };
    let submitted = match submitted {
        Ok(s) => s,
        Err(e) => {
            return (
                Err(format!("the agent did not accept the task: {e}")),
                Vec::new(),
            );
        }
    };
    info!(work = %key, agent_task = %submitted.task_id, requester = %run.sender, "work from a peer handed to the agent");
    let wait = left(run.deadline).unwrap_or(NO_DEADLINE_WAIT);
    let outcome = agent.wait(&submitted.task_id, wait).await;
    let name = hub
        .group_now()
        .map(|g| g.agent_id().to_owned())
        .unwrap_or_else(|| "this agent".into());
    let title = format!("{name} worked {}", run.title_suffix);
    let spans = match crate::trace::task_spans(
        &hub.timeline,
        &submitted.trace_id,
        &submitted.task_id,
        &title,
    )
    .await
    {
        Ok(spans) => spans,
        Err(e) => {
            warn!(error = %e, "cannot read the events of a peer's task");
            Vec::new()
        }
    };
    let spans = match run.spans {
        SpanRoute::Group => {
            publish_spans(hub, spans).await;
            Vec::new()
        }
        SpanRoute::Caller => spans,
    };
    let result = match outcome {
        Ok(o) if o.state == TaskState::Completed => Ok(o.reply.unwrap_or_default()),
        Ok(o) if o.state == TaskState::Failed => {
            Err(o.error.unwrap_or_else(|| "the task failed".into()))
        }
        Ok(o) => Err(format!("the task ended in state {:?}", o.state)),
        Err(kafclaw_agent::Error::Timeout { waited, .. }) => Err(format!(
            "no answer within the task's deadline ({} s)",
            waited.as_secs()
        )),
        Err(e) => Err(format!("waiting for the agent task failed: {e}")),
    };
    (result, spans)
}

/// Publishes the spans of a finished agent task on the traces topic.
async fn publish_spans(hub: &Hub, spans: Vec<TracePayload>) {
    if spans.is_empty() {
        return;
    }
    let Some(group) = hub.group(Duration::from_secs(5)).await else {
        return;
    };
    for span in spans {
        if let Err(e) = group.publish_trace(span).await {
            warn!(error = %e, "cannot publish a span of a peer's task");
            return;
        }
    }
}

/// A new span id (16 hex digits).
fn span_id() -> String {
    let id = kafclaw_envelope::new_traceparent();
    id.split('-')
        .nth(2)
        .unwrap_or("0000000000000001")
        .to_owned()
}
