//! The topic manifest (roster payload), its topic descriptors, and the ensure-topic heartbeat.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::topic::{GroupName, GroupTopic, SkillDirection, SkillName};
use crate::{Result, Timestamp};

wire_enum! {
    /// `category` of a topic descriptor.
    TopicCategory {
        /// Membership and coordination topics.
        Control = "control",
        /// Task requests, responses and status.
        Tasks = "tasks",
        /// Traces and audit.
        Observe = "observe",
        /// Shared memory.
        Memory = "memory",
        /// Per-skill request and response topics.
        Skill = "skill",
    }
}

/// One topic in a [`TopicManifest`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TopicDescriptor {
    /// Full topic name.
    pub name: String,
    /// One of [`TopicCategory`].
    #[schemars(extend("enum" = TopicCategory::NAMES))]
    pub category: String,
    /// Human-readable description (fixed texts for the core topics).
    pub description: String,
    /// Agent ids consuming the topic (informational). Go may write `null`.
    #[schemars(with = "Option<Vec<String>>")]
    pub consumers: Vec<String>,
}

/// The group's topic registry: payload of envelope type `roster` on
/// `group.{g}.control.roster`, and embedded in `onboard_complete`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TopicManifest {
    /// The group's name.
    pub group_name: String,
    /// Starts at 1; Go agents replace their manifest only by a higher version.
    pub version: i64,
    /// The 11 fixed group topics. Go may write `null`.
    #[schemars(with = "Option<Vec<TopicDescriptor>>")]
    pub core_topics: Vec<TopicDescriptor>,
    /// Skill topics, a requests and a responses entry per skill. Go may write `null`.
    #[schemars(with = "Option<Vec<TopicDescriptor>>")]
    pub skill_topics: Vec<TopicDescriptor>,
    /// Last change.
    pub updated_at: Timestamp,
    /// Agent id of the last change, empty until the first skill is added.
    pub updated_by: String,
}

impl TopicManifest {
    /// A new manifest for `group` as Go creates it: version 1, the 11 core topics
    /// in protocol order, no skill topics.
    pub fn new(group: &GroupName, at: Timestamp) -> Self {
        TopicManifest {
            group_name: group.as_str().to_owned(),
            version: 1,
            core_topics: GroupTopic::ALL
                .iter()
                .map(|t| t.descriptor(group))
                .collect(),
            skill_topics: Vec::new(),
            updated_at: at,
            updated_by: String::new(),
        }
    }

    /// Adds the requests and responses descriptors of `skill` (requests first),
    /// bumps the version and records who changed it. Returns `false` and changes
    /// nothing when the skill is already present.
    pub fn add_skill(
        &mut self,
        group: &GroupName,
        skill: &SkillName,
        consumer: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let requests = group.skill_topic(skill, SkillDirection::Requests)?;
        if self.skill_topics.iter().any(|d| d.name == requests) {
            return Ok(false);
        }
        for direction in [SkillDirection::Requests, SkillDirection::Responses] {
            let mut descriptor = direction.descriptor(group, skill)?;
            descriptor.consumers = vec![consumer.to_owned()];
            self.skill_topics.push(descriptor);
        }
        self.version += 1;
        self.updated_at = at;
        self.updated_by = consumer.to_owned();
        Ok(true)
    }

    /// Skill names in the manifest (from the requests descriptors).
    pub fn skill_names(&self) -> Vec<String> {
        let prefix = format!("group.{}.skill.", self.group_name);
        let mut names: Vec<String> = self
            .skill_topics
            .iter()
            .filter_map(|d| d.name.strip_prefix(&prefix))
            .filter_map(|rest| rest.strip_suffix(".requests"))
            .map(str::to_owned)
            .collect();
        names.dedup();
        names
    }
}

/// Payload of envelope type `heartbeat`, sent to any group topic so that the broker
/// creates it: `{"action":"ensure_topic","topic":<name>}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EnsureTopicPayload {
    /// Always `ensure_topic`.
    #[schemars(extend("enum" = [EnsureTopicPayload::ACTION]))]
    pub action: String,
    /// The topic to create.
    pub topic: String,
}

impl EnsureTopicPayload {
    /// The only action Go sends.
    pub const ACTION: &'static str = "ensure_topic";

    /// An ensure-topic payload for `topic`.
    pub fn new(topic: impl Into<String>) -> Self {
        EnsureTopicPayload {
            action: Self::ACTION.to_owned(),
            topic: topic.into(),
        }
    }
}
