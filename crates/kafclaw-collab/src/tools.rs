//! The model's group tools: `group_members` (tier 0), `delegate_task` and
//! `share_memory` (tier 1). A delegation's response comes back as the tool result,
//! never as a new task.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kafclaw_group::{Member, MemoryShare, PendingTask, TaskSpec};
use kafclaw_policy::ToolTier;
use kafclaw_tools::{Registry, Tool, ToolContext, ToolOutput};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::Result;
use crate::hub::{Collab, Group, Hub};

/// How long a tool waits for the group agent to be bound.
const BIND_WAIT: Duration = Duration::from_secs(5);
/// Longest `timeout_secs` a delegation may ask for.
const MAX_TIMEOUT_SECS: u64 = 3600;

pub(crate) fn register(collab: &Collab, registry: &mut Registry) -> Result<()> {
    let hub = &collab.hub;
    registry.register(Arc::new(GroupMembers {
        hub: Arc::clone(hub),
    }))?;
    registry.register(Arc::new(DelegateTask {
        hub: Arc::clone(hub),
    }))?;
    registry.register(Arc::new(ShareMemory {
        hub: Arc::clone(hub),
    }))?;
    Ok(())
}

fn error(text: impl Into<String>) -> ToolOutput {
    ToolOutput::text(text).with_error(true)
}

const NOT_IN_GROUP: &str =
    "this agent is not in a group (start it with `kafclaw gateway --mode group`)";

struct GroupMembers {
    hub: Arc<Hub>,
}

#[async_trait]
impl Tool for GroupMembers {
    fn name(&self) -> &str {
        "group_members"
    }
    fn description(&self) -> &str {
        "List the agents of this agent's Kafka group that are alive now: id, role, zone, the skills each offers, and which one is you. Use it before delegate_task to pick an agent or a skill."
    }
    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    }
    fn tier(&self) -> ToolTier {
        ToolTier::ReadOnly
    }
    async fn execute(&self, _args: Value, _ctx: &ToolContext) -> kafclaw_tools::Result<ToolOutput> {
        let Some(group) = self.hub.group(BIND_WAIT).await else {
            return Ok(error(NOT_IN_GROUP));
        };
        let members: Vec<Value> = group
            .roster()
            .iter()
            .map(|m| {
                json!({
                    "agent_id": m.agent_id,
                    "role": m.identity.role,
                    "zone": m.identity.zone_id,
                    "skills": m.identity.skills,
                    "you": m.is_self,
                })
            })
            .collect();
        let skills: Vec<Value> = group
            .skills()
            .iter()
            .map(|s| json!({"skill": s.name, "live_providers": s.live_providers}))
            .collect();
        let text = serde_json::to_string_pretty(&json!({
            "group": group.group(),
            "members": members,
            "skills": skills,
        }))
        .unwrap_or_default();
        Ok(ToolOutput::text(text))
    }
}

struct DelegateTask {
    hub: Arc<Hub>,
}

/// Completes with the id of the agent working on the task once it has left the roster
/// (it was seen in it before): it expired or announced leave. Pending forever otherwise.
async fn worker_gone(
    mut progress: watch::Receiver<kafclaw_group::TaskProgress>,
    mut roster: watch::Receiver<Vec<Member>>,
) -> String {
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let worker = progress.borrow_and_update().worker.clone();
        if let Some(w) = worker {
            let present = roster.borrow_and_update().iter().any(|m| m.agent_id == w);
            if present {
                seen.insert(w);
            } else if seen.contains(&w) {
                return w;
            }
        }
        tokio::select! {
            r = progress.changed() => if r.is_err() { std::future::pending::<()>().await },
            r = roster.changed() => if r.is_err() { std::future::pending::<()>().await },
        }
    }
}

impl DelegateTask {
    async fn wait(&self, group: &Group, pending: PendingTask, timeout: Duration) -> ToolOutput {
        let task_id = pending.task_id().to_owned();
        let gone = worker_gone(pending.progress(), group.watch_roster());
        tokio::select! {
            r = pending.wait() => match r {
                Ok(resp) if resp.status == "completed" => ToolOutput::text(format!(
                    "answer from {} (task {task_id}):\n{}", resp.responder_id, resp.content
                )),
                Ok(resp) => error(format!(
                    "task {task_id} {} by {}: {}", resp.status, resp.responder_id, resp.content
                )),
                Err(kafclaw_group::Error::TaskTimeout { .. }) => error(format!(
                    "no response to task {task_id} within {} s; nobody answered in time", timeout.as_secs()
                )),
                Err(e) => error(format!("task {task_id} failed: {e}")),
            },
            worker = gone => error(format!(
                "task {task_id} failed: {worker}, which was working on it, left the group (it stopped heartbeating or announced leave) before answering"
            )),
        }
    }
}

#[async_trait]
impl Tool for DelegateTask {
    fn name(&self) -> &str {
        "delegate_task"
    }
    fn description(&self) -> &str {
        "Give a task to another agent of the group and wait for its answer, which comes back as this tool's result. Set exactly one of: `to` (an agent id), `skill` (any agent offering that skill takes it), or `open: true` (any capable agent takes it). Optional `timeout_secs` (default: the group's task timeout). Delegations from a delegated task count towards the group's depth limit."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "content": {"type": "string", "minLength": 1, "maxLength": 65536, "description": "What the other agent should do, self-contained."},
                "to": {"type": "string", "minLength": 1, "maxLength": 200, "description": "The agent id to give it to."},
                "skill": {"type": "string", "minLength": 1, "maxLength": 200, "description": "A skill name; one of its providers takes it."},
                "open": {"type": "boolean", "description": "true: any capable agent may take it."},
                "timeout_secs": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECS, "description": "How long to wait for the answer."}
            },
            "required": ["content"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::Write
    }
    async fn execute(&self, args: Value, ctx: &ToolContext) -> kafclaw_tools::Result<ToolOutput> {
        let content = args["content"].as_str().unwrap_or_default().to_owned();
        let to = args["to"].as_str().map(str::to_owned);
        let skill = args["skill"].as_str().map(str::to_owned);
        let open = args["open"].as_bool() == Some(true);
        let chosen = usize::from(to.is_some()) + usize::from(skill.is_some()) + usize::from(open);
        if chosen != 1 {
            return Ok(error(
                "set exactly one of `to` (an agent id), `skill` (a skill name) or `open: true`",
            ));
        }
        let Some(group) = self.hub.group(BIND_WAIT).await else {
            return Ok(error(NOT_IN_GROUP));
        };
        if to.as_deref() == Some(group.agent_id()) {
            return Ok(error("`to` names this agent itself; do the work directly"));
        }
        let timeout = args["timeout_secs"]
            .as_u64()
            .map_or(self.hub.delegate_timeout, |s| {
                Duration::from_secs(s.clamp(1, MAX_TIMEOUT_SECS))
            });
        let scope = kafclaw_agent::current_tool_call();
        let mut deadline = Utc::now() + chrono::Duration::from_std(timeout).unwrap_or_default();
        if let Some(d) = scope.as_ref().and_then(|s| s.deadline) {
            deadline = deadline.min(d);
        }
        let mut spec = match (&to, &skill) {
            (Some(agent), _) => TaskSpec::to(agent.clone(), content),
            (None, Some(s)) => TaskSpec::open(content).skill(s.clone()),
            (None, None) => TaskSpec::open(content),
        }
        .deadline(deadline)
        .timeout(timeout);
        if let Some(s) = &scope {
            spec = spec.traceparent(s.traceparent());
        }
        let parent = match &ctx.task_id {
            Some(id) => self.hub.parent_task_of(id).await,
            None => None,
        };
        let submitted = match &parent {
            Some(parent) => group.delegate_from(parent, spec).await,
            None => group.submit_task(spec).await,
        };
        let pending = match submitted {
            Ok(p) => p,
            Err(kafclaw_group::Error::DelegationTooDeep {
                depth,
                max,
                parent_task_id,
            }) => {
                return Ok(error(format!(
                    "refused: delegating from task {parent_task_id} would make delegation depth {depth}, over this group's maximum of {max}; answer without delegating"
                )));
            }
            Err(e) => return Ok(error(format!("cannot delegate: {e}"))),
        };
        Ok(self.wait(&group, pending, timeout).await)
    }
}

struct ShareMemory {
    hub: Arc<Hub>,
}

#[async_trait]
impl Tool for ShareMemory {
    fn name(&self) -> &str {
        "share_memory"
    }
    fn description(&self) -> &str {
        "Share a piece of knowledge with every agent of the group (published on the group's shared memory topic): a title, the text, and optional tags."
    }
    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "content": {"type": "string", "minLength": 1, "maxLength": 1048576},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 64}, "maxItems": 20}
            },
            "required": ["title", "content"],
            "additionalProperties": false
        })
    }
    fn tier(&self) -> ToolTier {
        ToolTier::Write
    }
    async fn execute(&self, args: Value, _ctx: &ToolContext) -> kafclaw_tools::Result<ToolOutput> {
        let Some(group) = self.hub.group(BIND_WAIT).await else {
            return Ok(error(NOT_IN_GROUP));
        };
        let title = args["title"].as_str().unwrap_or_default().to_owned();
        let content = args["content"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        let tags: Vec<String> = args["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        match group
            .share_memory(MemoryShare::new(title.clone(), content).tags(tags))
            .await
        {
            Ok(item) => Ok(ToolOutput::text(format!(
                "shared \"{title}\" with the group as item {}",
                item.item_id
            ))),
            Err(e) => Ok(error(format!("cannot share \"{title}\": {e}"))),
        }
    }
}
