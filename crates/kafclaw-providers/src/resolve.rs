//! Which model answers a call, in the seeds' order: the agent's own model
//! (`agents.list[].model.primary`), then task-type routing (`model.taskRouting`, then the
//! classifier's `contentClassification.taskTypeRoutes`), then the global `model.name`;
//! plus the fallback models tried after it.

use std::collections::BTreeMap;
use std::fmt;

use kafclaw_config::{AgentEntry, Config};

use crate::registry::ModelRef;
use crate::{Error, Result};

/// Where the chosen model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The caller named the model.
    Explicit,
    /// The content classifier rerouted a sensitive request.
    Sensitivity {
        /// The matching sensitivity level.
        level: String,
    },
    /// The agent's own model.
    Agent {
        /// The agent id.
        agent_id: String,
    },
    /// `model.taskRouting`.
    TaskRouting {
        /// The task category.
        category: String,
    },
    /// `contentClassification.taskTypeRoutes`.
    ClassifierRoute {
        /// The task category.
        category: String,
    },
    /// `model.name`.
    Global,
}

impl fmt::Display for ModelSource {
    /// The config key the model string was read from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSource::Explicit => f.write_str("request"),
            ModelSource::Sensitivity { level } => {
                write!(f, "contentClassification.sensitivityLevels.{level}.routeTo")
            }
            ModelSource::Agent { agent_id } => {
                write!(f, "agents.list[{agent_id}].model.primary")
            }
            ModelSource::TaskRouting { category } => write!(f, "model.taskRouting.{category}"),
            ModelSource::ClassifierRoute { category } => {
                write!(f, "contentClassification.taskTypeRoutes.{category}")
            }
            ModelSource::Global => f.write_str("model.name"),
        }
    }
}

/// The models for one call: the primary first, then the fallbacks in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPlan {
    /// The model tried first.
    pub primary: ModelRef,
    /// Models tried, in order, when the previous one failed.
    pub fallbacks: Vec<ModelRef>,
    /// Where `primary` came from.
    pub source: ModelSource,
}

impl ModelPlan {
    /// Primary and fallbacks in order.
    pub fn models(&self) -> impl Iterator<Item = &ModelRef> {
        std::iter::once(&self.primary).chain(&self.fallbacks)
    }
}

/// Resolves model strings from the configuration.
#[derive(Debug, Clone)]
pub struct Resolver {
    global: String,
    global_fallbacks: Vec<String>,
    task_routing: BTreeMap<String, String>,
    classifier_routes: BTreeMap<String, String>,
    agents: Vec<AgentEntry>,
}

/// Parses a configured model string; an error names the key it came from.
fn parse_at(key: &str, value: &str) -> Result<ModelRef> {
    ModelRef::parse(value).map_err(|e| Error::Config {
        key: key.to_owned(),
        problem: e.to_string(),
    })
}

impl Resolver {
    /// The resolver of a configuration. The classifier's task routes count only when
    /// `contentClassification.enabled` is on.
    pub fn from_config(config: &Config) -> Self {
        let cc = &config.content_classification;
        Self {
            global: config.model.name.clone(),
            global_fallbacks: config.model.fallbacks.clone(),
            task_routing: config.model.task_routing.clone(),
            classifier_routes: if cc.enabled {
                cc.task_type_routes.clone()
            } else {
                BTreeMap::new()
            },
            agents: config.agents.list.clone(),
        }
    }

    /// Checks every configured model string; the first bad one is returned as an error
    /// naming its key.
    pub fn validate(&self) -> Result<()> {
        parse_at("model.name", &self.global)?;
        for (i, f) in self.global_fallbacks.iter().enumerate() {
            parse_at(&format!("model.fallbacks[{i}]"), f)?;
        }
        for (cat, m) in &self.task_routing {
            parse_at(&format!("model.taskRouting.{cat}"), m)?;
        }
        for (cat, m) in &self.classifier_routes {
            parse_at(&format!("contentClassification.taskTypeRoutes.{cat}"), m)?;
        }
        for a in &self.agents {
            if let Some(m) = &a.model {
                if !m.primary.trim().is_empty() {
                    parse_at(&format!("agents.list[{}].model.primary", a.id), &m.primary)?;
                }
                for (i, f) in m.fallbacks.iter().enumerate() {
                    parse_at(&format!("agents.list[{}].model.fallbacks[{i}]", a.id), f)?;
                }
            }
        }
        Ok(())
    }

    /// The model plan for a call by `agent_id` on a task of category `task_type`.
    pub fn resolve(&self, agent_id: Option<&str>, task_type: Option<&str>) -> Result<ModelPlan> {
        let agent = agent_id.and_then(|id| self.agents.iter().find(|a| a.id == id));
        let agent_model = agent
            .and_then(|a| a.model.as_ref().map(|m| (a, m)))
            .filter(|(_, m)| !m.primary.trim().is_empty());

        if let Some((a, m)) = agent_model {
            let primary = parse_at(&format!("agents.list[{}].model.primary", a.id), &m.primary)?;
            let fallbacks = if m.fallbacks.is_empty() {
                self.parse_fallbacks("model.fallbacks", &self.global_fallbacks)?
            } else {
                self.parse_fallbacks(
                    &format!("agents.list[{}].model.fallbacks", a.id),
                    &m.fallbacks,
                )?
            };
            return Ok(plan(
                primary,
                fallbacks,
                ModelSource::Agent {
                    agent_id: a.id.clone(),
                },
            ));
        }
        let fallbacks = self.parse_fallbacks("model.fallbacks", &self.global_fallbacks)?;
        if let Some(cat) = task_type {
            if let Some(m) = self.task_routing.get(cat) {
                let primary = parse_at(&format!("model.taskRouting.{cat}"), m)?;
                return Ok(plan(
                    primary,
                    fallbacks,
                    ModelSource::TaskRouting {
                        category: cat.to_owned(),
                    },
                ));
            }
            if let Some(m) = self.classifier_routes.get(cat) {
                let primary = parse_at(&format!("contentClassification.taskTypeRoutes.{cat}"), m)?;
                return Ok(plan(
                    primary,
                    fallbacks,
                    ModelSource::ClassifierRoute {
                        category: cat.to_owned(),
                    },
                ));
            }
        }
        let primary = parse_at("model.name", &self.global)?;
        Ok(plan(primary, fallbacks, ModelSource::Global))
    }

    /// The plan for a model string the caller chose, with the global fallbacks.
    pub fn explicit(&self, model: &str) -> Result<ModelPlan> {
        let primary = ModelRef::parse(model)?;
        let fallbacks = self.parse_fallbacks("model.fallbacks", &self.global_fallbacks)?;
        Ok(plan(primary, fallbacks, ModelSource::Explicit))
    }

    fn parse_fallbacks(&self, key: &str, list: &[String]) -> Result<Vec<ModelRef>> {
        list.iter()
            .enumerate()
            .map(|(i, f)| parse_at(&format!("{key}[{i}]"), f))
            .collect()
    }
}

/// A plan without duplicates (a fallback equal to the primary or to an earlier fallback
/// would only repeat a failure).
fn plan(primary: ModelRef, fallbacks: Vec<ModelRef>, source: ModelSource) -> ModelPlan {
    let mut seen = vec![primary.clone()];
    let mut unique = Vec::new();
    for f in fallbacks {
        if !seen.contains(&f) {
            seen.push(f.clone());
            unique.push(f);
        }
    }
    ModelPlan {
        primary,
        fallbacks: unique,
        source,
    }
}
