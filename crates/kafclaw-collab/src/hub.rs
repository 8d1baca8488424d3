//! [`Collab`]: the hub that joins the agent runtime and the group agent. Both need each
//! other (the group agent runs its tasks through the agent; the agent's tools delegate
//! through the group agent), so the hub is created first and each side is bound to it
//! once it exists (late binding).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use kafclaw_agent::Agent;
use kafclaw_envelope::TaskRequest;
use kafclaw_group::{GroupAgent, TaskHandler};
use kafclaw_timeline::Timeline;
use kafclaw_tools::Registry;
use tokio::sync::watch;

use crate::command::CommandSkills;
use crate::error::{Error, Result};

/// The prefix of the idempotency key of an agent task made from a group task.
pub(crate) const GROUP_KEY_PREFIX: &str = "group:";

/// The group agent this crate works with: it persists into the agent's timeline.
pub type Group = GroupAgent<Timeline>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) struct Hub {
    pub(crate) timeline: Timeline,
    pub(crate) commands: CommandSkills,
    /// How long `delegate_task` waits when the model gives no `timeout_secs`.
    pub(crate) delegate_timeout: Duration,
    agent: OnceLock<Agent>,
    group: watch::Sender<Option<Group>>,
    /// Group tasks being worked by the agent, by group task id: the tools of the agent
    /// task delegate on their behalf.
    /// The tasks from other agents the agent is working on, as requests, by the agent
    /// task's idempotency key (`group:<id>`, `zone:<id>`).
    running: Mutex<HashMap<String, TaskRequest>>,
}

/// Connects an agent runtime ([`kafclaw_agent::Agent`]) to its group
/// ([`kafclaw_group::GroupAgent`]). Cheap to clone.
///
/// Construction order (the two sides need each other):
/// 1. [`Collab::new`], then [`Collab::register_tools`] into the registry the agent will use;
/// 2. start the agent, then [`Collab::bind_agent`];
/// 3. build the group agent with [`Collab::handler`] as its task handler and
///    [`Collab::skills`] as its skills, then [`Collab::bind_group`], then join.
///
/// A group task arriving before step 3 ends waits (up to its deadline) for the binding;
/// a tool called without a group answers that the agent is not in a group.
#[derive(Clone)]
pub struct Collab {
    pub(crate) hub: Arc<Hub>,
}

impl std::fmt::Debug for Collab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collab")
            .field("command_skills", &self.hub.commands.names())
            .field("agent_bound", &self.hub.agent.get().is_some())
            .field("group_bound", &self.hub.group.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl Collab {
    /// A hub over the agent's `timeline` (the agent's events are read from it to
    /// publish spans) with the command skills `commands`.
    pub fn new(timeline: Timeline, commands: CommandSkills) -> Self {
        Self {
            hub: Arc::new(Hub {
                timeline,
                commands,
                delegate_timeout: Duration::from_secs(300),
                agent: OnceLock::new(),
                group: watch::Sender::new(None),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How long `delegate_task` waits for a response when the model sets no timeout
    /// (default 300 s; use `group.defaultTaskTimeoutSecs`). Call before sharing the hub.
    pub fn with_delegate_timeout(mut self, timeout: Duration) -> Self {
        if let Some(hub) = Arc::get_mut(&mut self.hub) {
            hub.delegate_timeout = timeout;
        }
        self
    }

    /// Registers `group_members`, `delegate_task` and `share_memory` in `registry`.
    pub fn register_tools(&self, registry: &mut Registry) -> Result<()> {
        crate::tools::register(self, registry)
    }

    /// The task handler for [`kafclaw_group::GroupAgentBuilder::task_handler_arc`].
    pub fn handler(&self) -> Arc<dyn TaskHandler> {
        Arc::new(crate::handler::GroupTaskHandler {
            hub: Arc::clone(&self.hub),
        })
    }

    /// The skills to offer: `model_skills` (answered by the model) and the command skills.
    pub fn skills(&self, model_skills: &[String]) -> Vec<String> {
        let mut all: Vec<String> = model_skills.to_vec();
        for s in self.hub.commands.names() {
            if !all.contains(&s) {
                all.push(s);
            }
        }
        all
    }

    /// Binds the running agent (once).
    pub fn bind_agent(&self, agent: Agent) -> Result<()> {
        self.hub.agent.set(agent).map_err(|_| Error::AlreadyBound {
            what: "agent runtime",
        })
    }

    /// Binds the group agent (once).
    pub fn bind_group(&self, group: Group) -> Result<()> {
        let mut bound = false;
        self.hub.group.send_if_modified(|g| {
            if g.is_some() {
                return false;
            }
            *g = Some(group);
            bound = true;
            true
        });
        if bound {
            Ok(())
        } else {
            Err(Error::AlreadyBound {
                what: "group agent",
            })
        }
    }

    /// Drops the hub's handle of the group agent (the group agent holds the hub through
    /// its handler; this breaks the cycle after shutdown).
    pub fn unbind_group(&self) {
        self.hub.group.send_replace(None);
    }
}

impl Hub {
    pub(crate) fn agent(&self) -> Option<&Agent> {
        self.agent.get()
    }

    /// The group agent, now.
    pub(crate) fn group_now(&self) -> Option<Group> {
        self.group.borrow().clone()
    }

    /// The group agent, waiting up to `within` for it to be bound.
    pub(crate) async fn group(&self, within: Duration) -> Option<Group> {
        let mut rx = self.group.subscribe();
        match tokio::time::timeout(within, rx.wait_for(Option::is_some)).await {
            Ok(Ok(g)) => g.clone(),
            _ => None,
        }
    }

    pub(crate) fn start_running(&self, key: &str, task: TaskRequest) {
        lock(&self.running).insert(key.to_owned(), task);
    }

    pub(crate) fn stop_running(&self, key: &str) {
        lock(&self.running).remove(key);
    }

    /// The task from another agent (group or zone task) an agent task works on, if it
    /// is one (found through the agent task's idempotency key).
    pub(crate) async fn parent_task_of(&self, agent_task_id: &str) -> Option<TaskRequest> {
        let task = self.timeline.get_task(agent_task_id).await.ok().flatten()?;
        let key = task.idempotency_key?;
        lock(&self.running).get(&key).cloned()
    }
}
