//! Topic names: builders for the group, skill and knowledge topics, name validation, and a parser.

use std::fmt;

use crate::error::{Error, Result, shorten};
use crate::{KnowledgeType, MessageType, TopicCategory, TopicDescriptor};

/// Kafka's limit on the length of a topic name.
pub const MAX_TOPIC_LEN: usize = 249;

/// A validated group name: ASCII letters, digits, `_` and `-`, 1 to
/// [`GroupName::MAX_LEN`] characters, so that every group and knowledge topic
/// built from it is a legal Kafka topic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

/// A validated skill name: ASCII letters, digits, `_` and `-` (no dots: Go splits
/// skill topics at the first dot), 1 to [`SkillName::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkillName(String);

fn check_name(kind: &'static str, name: &str, max: usize) -> Result<()> {
    let fail = |reason: String| Error::InvalidName {
        kind,
        name: shorten(name, 80),
        reason,
    };
    if name.is_empty() {
        return Err(fail("must not be empty".to_owned()));
    }
    if let Some((at, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        let hint = if c == '.' && kind == "skill" {
            " (dots would break skill topic routing)"
        } else {
            ""
        };
        return Err(fail(format!(
            "character {c:?} at position {at} is not allowed; use ASCII letters, digits, '_' or '-'{hint}"
        )));
    }
    let len = name.chars().count();
    if len > max {
        return Err(fail(format!(
            "is {len} characters long; at most {max} keep its topic names within Kafka's {MAX_TOPIC_LEN}"
        )));
    }
    Ok(())
}

impl GroupName {
    /// Longest group name: `group.{g}.knowledge.capabilities` must fit in 249 characters.
    pub const MAX_LEN: usize = MAX_TOPIC_LEN - "group.".len() - ".knowledge.capabilities".len();

    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_name("group", &name, Self::MAX_LEN)?;
        Ok(GroupName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of one of the 11 fixed group topics, e.g. `group.g.control.roster`.
    pub fn topic(&self, topic: GroupTopic) -> String {
        format!("group.{}.{}", self.0, topic.suffix())
    }

    /// All 11 fixed topics in protocol order (announce first, orchestrator last).
    pub fn all_topics(&self) -> Vec<String> {
        GroupTopic::ALL.iter().map(|t| self.topic(*t)).collect()
    }

    /// The 4 legacy core topics: announce, requests, responses, traces.
    pub fn core_topics(&self) -> Vec<String> {
        GroupTopic::CORE.iter().map(|t| self.topic(*t)).collect()
    }

    /// `group.{g}.skill.`, the prefix of every skill topic.
    pub fn skill_topic_prefix(&self) -> String {
        format!("group.{}.skill.", self.0)
    }

    /// `group.{g}.skill.{s}.requests` or `.responses`; fails when the whole name
    /// would exceed 249 characters.
    pub fn skill_topic(&self, skill: &SkillName, direction: SkillDirection) -> Result<String> {
        let name = format!("group.{}.skill.{}.{}", self.0, skill.0, direction.as_str());
        if name.len() > MAX_TOPIC_LEN {
            return Err(Error::InvalidName {
                kind: "skill",
                name: skill.0.clone(),
                reason: format!(
                    "topic {} would be {} characters long; Kafka allows {MAX_TOPIC_LEN}",
                    shorten(&name, 60),
                    name.len()
                ),
            });
        }
        Ok(name)
    }

    /// Both skill topics of `skill`: (requests, responses).
    pub fn skill_topics(&self, skill: &SkillName) -> Result<(String, String)> {
        Ok((
            self.skill_topic(skill, SkillDirection::Requests)?,
            self.skill_topic(skill, SkillDirection::Responses)?,
        ))
    }

    /// `group.{g}.zone.{z}.requests` or `.responses`: the task topics of one orchestrator
    /// zone, so broker ACLs can restrict a private zone to its members. `zone` follows
    /// the group-name rules (no dots); fails when it does not or when the name would
    /// exceed 249 characters. Requests carry `request` envelopes; responses carry
    /// `response` and the member's `trace` spans ([`zone_allowed_types`]).
    pub fn zone_topic(&self, zone: &str, direction: SkillDirection) -> Result<String> {
        check_name("zone", zone, MAX_TOPIC_LEN)?;
        let name = format!("group.{}.zone.{}.{}", self.0, zone, direction.as_str());
        if name.len() > MAX_TOPIC_LEN {
            return Err(Error::InvalidName {
                kind: "zone",
                name: shorten(zone, 80),
                reason: format!(
                    "topic {} would be {} characters long; Kafka allows {MAX_TOPIC_LEN}",
                    shorten(&name, 60),
                    name.len()
                ),
            });
        }
        Ok(name)
    }

    /// Both task topics of a zone: (requests, responses).
    pub fn zone_topics(&self, zone: &str) -> Result<(String, String)> {
        Ok((
            self.zone_topic(zone, SkillDirection::Requests)?,
            self.zone_topic(zone, SkillDirection::Responses)?,
        ))
    }

    /// `group.{kg}.knowledge.{kind}` with this name as the knowledge group.
    pub fn knowledge_topic(&self, topic: KnowledgeTopic) -> String {
        format!("group.{}.knowledge.{}", self.0, topic.as_str())
    }

    /// The six knowledge topics in protocol order.
    pub fn knowledge_topics(&self) -> Vec<String> {
        KnowledgeTopic::ALL
            .iter()
            .map(|t| self.knowledge_topic(*t))
            .collect()
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SkillName {
    /// Longest skill name (with a one-character group name).
    pub const MAX_LEN: usize =
        MAX_TOPIC_LEN - "group.".len() - 1 - ".skill.".len() - ".responses".len();

    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_name("skill", &name, Self::MAX_LEN)?;
        Ok(SkillName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SkillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 11 fixed topics of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupTopic {
    /// `group.{g}.announce`: join, leave, heartbeat.
    Announce,
    /// `group.{g}.control.roster`: the topic manifest.
    Roster,
    /// `group.{g}.control.onboarding`: onboarding.
    Onboarding,
    /// `group.{g}.requests`: task requests.
    Requests,
    /// `group.{g}.responses`: task responses (and Go's task statuses).
    Responses,
    /// `group.{g}.tasks.status`: task status and claims.
    TasksStatus,
    /// `group.{g}.traces`: trace spans.
    Traces,
    /// `group.{g}.observe.audit`: audit events.
    Audit,
    /// `group.{g}.memory.shared`: shared memory items.
    MemoryShared,
    /// `group.{g}.memory.context`: ephemeral context items.
    MemoryContext,
    /// `group.{g}.orchestrator`: orchestrator discovery.
    Orchestrator,
}

impl GroupTopic {
    /// All 11, in protocol order.
    pub const ALL: [GroupTopic; 11] = [
        GroupTopic::Announce,
        GroupTopic::Roster,
        GroupTopic::Onboarding,
        GroupTopic::Requests,
        GroupTopic::Responses,
        GroupTopic::TasksStatus,
        GroupTopic::Traces,
        GroupTopic::Audit,
        GroupTopic::MemoryShared,
        GroupTopic::MemoryContext,
        GroupTopic::Orchestrator,
    ];

    /// The 4 legacy core topics, in order.
    pub const CORE: [GroupTopic; 4] = [
        GroupTopic::Announce,
        GroupTopic::Requests,
        GroupTopic::Responses,
        GroupTopic::Traces,
    ];

    /// The part after `group.{g}.`.
    pub fn suffix(self) -> &'static str {
        match self {
            GroupTopic::Announce => "announce",
            GroupTopic::Roster => "control.roster",
            GroupTopic::Onboarding => "control.onboarding",
            GroupTopic::Requests => "requests",
            GroupTopic::Responses => "responses",
            GroupTopic::TasksStatus => "tasks.status",
            GroupTopic::Traces => "traces",
            GroupTopic::Audit => "observe.audit",
            GroupTopic::MemoryShared => "memory.shared",
            GroupTopic::MemoryContext => "memory.context",
            GroupTopic::Orchestrator => "orchestrator",
        }
    }

    /// The manifest category.
    pub fn category(self) -> TopicCategory {
        match self {
            GroupTopic::Announce
            | GroupTopic::Roster
            | GroupTopic::Onboarding
            | GroupTopic::Orchestrator => TopicCategory::Control,
            GroupTopic::Requests | GroupTopic::Responses | GroupTopic::TasksStatus => {
                TopicCategory::Tasks
            }
            GroupTopic::Traces | GroupTopic::Audit => TopicCategory::Observe,
            GroupTopic::MemoryShared | GroupTopic::MemoryContext => TopicCategory::Memory,
        }
    }

    /// The fixed manifest description (the same text Go agents write).
    pub fn description(self) -> &'static str {
        match self {
            GroupTopic::Announce => "Join/leave/heartbeat announcements",
            GroupTopic::Roster => "Topic registry manifest and member capabilities",
            GroupTopic::Onboarding => "Agent onboarding protocol messages",
            GroupTopic::Requests => "General task requests",
            GroupTopic::Responses => "General task responses",
            GroupTopic::TasksStatus => "Task status updates and progress",
            GroupTopic::Traces => "Trace spans for distributed tracing",
            GroupTopic::Audit => "Administrative audit events",
            GroupTopic::MemoryShared => "Shared memory items via LFS",
            GroupTopic::MemoryContext => "Ephemeral context sharing",
            GroupTopic::Orchestrator => "Orchestrator discovery and coordination",
        }
    }

    /// Envelope types allowed on this topic; the first is the one the topic implies.
    /// `heartbeat` (ensure-topic) may go to any group topic.
    pub fn allowed_types(self) -> &'static [MessageType] {
        use MessageType as M;
        match self {
            GroupTopic::Announce => &[M::Announce, M::Heartbeat],
            GroupTopic::Roster => &[M::Roster, M::Heartbeat],
            GroupTopic::Onboarding => &[M::Onboard, M::Heartbeat],
            GroupTopic::Requests => &[M::Request, M::Heartbeat],
            GroupTopic::Responses => &[M::Response, M::TaskStatus, M::Heartbeat],
            GroupTopic::TasksStatus => &[M::TaskStatus, M::Heartbeat],
            GroupTopic::Traces => &[M::Trace, M::Heartbeat],
            GroupTopic::Audit => &[M::Audit, M::Heartbeat],
            GroupTopic::MemoryShared | GroupTopic::MemoryContext => &[M::Memory, M::Heartbeat],
            GroupTopic::Orchestrator => &[M::Orchestrator, M::Heartbeat],
        }
    }

    /// The manifest entry for this topic (no consumers).
    pub fn descriptor(self, group: &GroupName) -> TopicDescriptor {
        TopicDescriptor {
            name: group.topic(self),
            category: self.category().as_str().to_owned(),
            description: self.description().to_owned(),
            consumers: Vec::new(),
        }
    }
}

/// Which of a skill's two topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkillDirection {
    /// `group.{g}.skill.{s}.requests`.
    Requests,
    /// `group.{g}.skill.{s}.responses`.
    Responses,
}

impl SkillDirection {
    /// `requests` or `responses`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkillDirection::Requests => "requests",
            SkillDirection::Responses => "responses",
        }
    }

    /// Envelope types allowed on this skill topic; the first is implied.
    pub fn allowed_types(self) -> &'static [MessageType] {
        match self {
            SkillDirection::Requests => &[MessageType::SkillRequest, MessageType::Heartbeat],
            SkillDirection::Responses => &[MessageType::SkillResponse, MessageType::Heartbeat],
        }
    }

    /// The manifest entry for this skill topic (category `skill`, no consumers).
    pub fn descriptor(self, group: &GroupName, skill: &SkillName) -> Result<TopicDescriptor> {
        Ok(TopicDescriptor {
            name: group.skill_topic(skill, self)?,
            category: TopicCategory::Skill.as_str().to_owned(),
            description: format!("Skill {} for {}", self.as_str(), skill.as_str()),
            consumers: Vec::new(),
        })
    }
}

/// The six knowledge topics (`group.{kg}.knowledge.*`), each carrying one knowledge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnowledgeTopic {
    /// `capabilities`.
    Capabilities,
    /// `presence`.
    Presence,
    /// `proposals`.
    Proposals,
    /// `votes`.
    Votes,
    /// `decisions`.
    Decisions,
    /// `facts`.
    Facts,
}

impl KnowledgeTopic {
    /// All six, in protocol order.
    pub const ALL: [KnowledgeTopic; 6] = [
        KnowledgeTopic::Capabilities,
        KnowledgeTopic::Presence,
        KnowledgeTopic::Proposals,
        KnowledgeTopic::Votes,
        KnowledgeTopic::Decisions,
        KnowledgeTopic::Facts,
    ];

    /// The last part of the topic name.
    pub fn as_str(self) -> &'static str {
        match self {
            KnowledgeTopic::Capabilities => "capabilities",
            KnowledgeTopic::Presence => "presence",
            KnowledgeTopic::Proposals => "proposals",
            KnowledgeTopic::Votes => "votes",
            KnowledgeTopic::Decisions => "decisions",
            KnowledgeTopic::Facts => "facts",
        }
    }

    /// The knowledge envelope type this topic carries.
    pub fn knowledge_type(self) -> KnowledgeType {
        match self {
            KnowledgeTopic::Capabilities => KnowledgeType::Capabilities,
            KnowledgeTopic::Presence => KnowledgeType::Presence,
            KnowledgeTopic::Proposals => KnowledgeType::Proposal,
            KnowledgeTopic::Votes => KnowledgeType::Vote,
            KnowledgeTopic::Decisions => KnowledgeType::Decision,
            KnowledgeTopic::Facts => KnowledgeType::Fact,
        }
    }
}

/// What a topic name denotes: the result of [`TopicKind::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// One of the 11 fixed group topics.
    Group {
        /// The group.
        group: GroupName,
        /// Which topic.
        topic: GroupTopic,
    },
    /// A skill's requests or responses topic.
    Skill {
        /// The group.
        group: GroupName,
        /// The skill.
        skill: SkillName,
        /// Requests or responses.
        direction: SkillDirection,
    },
    /// An orchestrator zone's requests or responses topic (`group.{g}.zone.{z}.*`).
    Zone {
        /// The group.
        group: GroupName,
        /// The zone id.
        zone: String,
        /// Requests or responses.
        direction: SkillDirection,
    },
    /// A knowledge topic (knowledge envelopes, not group envelopes).
    Knowledge {
        /// The knowledge group.
        group: GroupName,
        /// Which topic.
        topic: KnowledgeTopic,
    },
}

impl TopicKind {
    /// Recognises a KafClaw topic name; the error says why a name is not one.
    pub fn parse(topic: &str) -> Result<Self> {
        let fail = |reason: String| Error::InvalidTopic {
            topic: shorten(topic, 120),
            reason,
        };
        if topic.len() > MAX_TOPIC_LEN {
            return Err(fail(format!(
                "is {} characters long; Kafka allows at most {MAX_TOPIC_LEN}",
                topic.len()
            )));
        }
        let rest = topic
            .strip_prefix("group.")
            .ok_or_else(|| fail("does not start with \"group.\"".to_owned()))?;
        let (group, suffix) = rest
            .split_once('.')
            .ok_or_else(|| fail("has no topic part after the group name".to_owned()))?;
        let group = GroupName::new(group).map_err(|e| fail(e.to_string()))?;
        if let Some(topic) = GroupTopic::ALL.into_iter().find(|t| t.suffix() == suffix) {
            return Ok(TopicKind::Group { group, topic });
        }
        if let Some(kind) = suffix.strip_prefix("knowledge.") {
            return match KnowledgeTopic::ALL.into_iter().find(|t| t.as_str() == kind) {
                Some(topic) => Ok(TopicKind::Knowledge { group, topic }),
                None => Err(fail(format!(
                    "unknown knowledge topic {kind:?} (expected capabilities, presence, proposals, votes, decisions or facts)"
                ))),
            };
        }
        if let Some(skill_part) = suffix.strip_prefix("skill.") {
            let (skill, direction) = if let Some(s) = skill_part.strip_suffix(".requests") {
                (s, SkillDirection::Requests)
            } else if let Some(s) = skill_part.strip_suffix(".responses") {
                (s, SkillDirection::Responses)
            } else {
                return Err(fail(
                    "a skill topic must end in .requests or .responses".to_owned(),
                ));
            };
            let skill = SkillName::new(skill).map_err(|e| fail(e.to_string()))?;
            return Ok(TopicKind::Skill {
                group,
                skill,
                direction,
            });
        }
        if let Some(zone_part) = suffix.strip_prefix("zone.") {
            let (zone, direction) = if let Some(z) = zone_part.strip_suffix(".requests") {
                (z, SkillDirection::Requests)
            } else if let Some(z) = zone_part.strip_suffix(".responses") {
                (z, SkillDirection::Responses)
            } else {
                return Err(fail(
                    "a zone topic must end in .requests or .responses".to_owned(),
                ));
            };
            check_name("zone", zone, MAX_TOPIC_LEN).map_err(|e| fail(e.to_string()))?;
            return Ok(TopicKind::Zone {
                group,
                zone: zone.to_owned(),
                direction,
            });
        }
        Err(fail(format!(
            "unknown topic {suffix:?} after the group name (expected announce, control.roster, \
             control.onboarding, requests, responses, tasks.status, traces, observe.audit, \
             memory.shared, memory.context, orchestrator, skill.<name>.requests|responses, \
             zone.<id>.requests|responses or knowledge.<kind>)"
        )))
    }

    /// The topic name.
    pub fn name(&self) -> String {
        match self {
            TopicKind::Group { group, topic } => group.topic(*topic),
            TopicKind::Skill {
                group,
                skill,
                direction,
            } => format!(
                "group.{}.skill.{}.{}",
                group.as_str(),
                skill.as_str(),
                direction.as_str()
            ),
            TopicKind::Zone {
                group,
                zone,
                direction,
            } => format!(
                "group.{}.zone.{zone}.{}",
                group.as_str(),
                direction.as_str()
            ),
            TopicKind::Knowledge { group, topic } => group.knowledge_topic(*topic),
        }
    }

    /// The group (the knowledge group for knowledge topics).
    pub fn group(&self) -> &GroupName {
        match self {
            TopicKind::Group { group, .. }
            | TopicKind::Skill { group, .. }
            | TopicKind::Zone { group, .. }
            | TopicKind::Knowledge { group, .. } => group,
        }
    }

    /// True for knowledge topics, which carry knowledge envelopes.
    pub fn is_knowledge(&self) -> bool {
        matches!(self, TopicKind::Knowledge { .. })
    }

    /// Group envelope types allowed here (empty for knowledge topics).
    pub fn allowed_message_types(&self) -> &'static [MessageType] {
        match self {
            TopicKind::Group { topic, .. } => topic.allowed_types(),
            TopicKind::Skill { direction, .. } => direction.allowed_types(),
            TopicKind::Zone { direction, .. } => zone_allowed_types(*direction),
            TopicKind::Knowledge { .. } => &[],
        }
    }

    /// Wire names of the envelope types allowed here, for either envelope family.
    pub fn allowed_type_names(&self) -> Vec<&'static str> {
        match self {
            TopicKind::Knowledge { topic, .. } => vec![topic.knowledge_type().as_str()],
            _ => self
                .allowed_message_types()
                .iter()
                .map(|t| t.as_str())
                .collect(),
        }
    }
}

/// Envelope types on a zone's topics: tasks on requests; answers and the spans of the
/// member's work on responses (a zone's work never goes to the group's traces topic).
pub fn zone_allowed_types(direction: SkillDirection) -> &'static [MessageType] {
    match direction {
        SkillDirection::Requests => &[MessageType::Request, MessageType::Heartbeat],
        SkillDirection::Responses => &[
            MessageType::Response,
            MessageType::Trace,
            MessageType::Heartbeat,
        ],
    }
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> GroupName {
        GroupName::new(name).unwrap()
    }

    #[test]
    fn zone_topics_are_built_and_checked() {
        let g = group("g1");
        assert_eq!(
            g.zone_topics("red").unwrap(),
            (
                "group.g1.zone.red.requests".to_owned(),
                "group.g1.zone.red.responses".to_owned()
            )
        );
        let err = g.zone_topic("a.b", SkillDirection::Requests).unwrap_err();
        assert!(err.to_string().contains("zone"), "{err}");
        assert!(g.zone_topic("", SkillDirection::Requests).is_err());
        assert!(
            g.zone_topic(&"z".repeat(240), SkillDirection::Responses)
                .is_err()
        );
        let kind = TopicKind::parse("group.g1.zone.red.responses").unwrap();
        assert_eq!(
            kind,
            TopicKind::Zone {
                group: g.clone(),
                zone: "red".into(),
                direction: SkillDirection::Responses
            }
        );
        assert_eq!(kind.name(), "group.g1.zone.red.responses");
        assert_eq!(
            kind.allowed_type_names(),
            ["response", "trace", "heartbeat"]
        );
        assert_eq!(
            TopicKind::parse("group.g1.zone.red.requests")
                .unwrap()
                .allowed_type_names(),
            ["request", "heartbeat"]
        );
        let err = TopicKind::parse("group.g1.zone.red.other").unwrap_err();
        assert!(err.to_string().contains(".requests or .responses"), "{err}");
        assert!(TopicKind::parse("group.g1.zone.requests").is_err());
    }

    #[test]
    fn fixed_topics_match_go_names_and_order() {
        let g = group("mygroup");
        assert_eq!(
            g.all_topics(),
            [
                "group.mygroup.announce",
                "group.mygroup.control.roster",
                "group.mygroup.control.onboarding",
                "group.mygroup.requests",
                "group.mygroup.responses",
                "group.mygroup.tasks.status",
                "group.mygroup.traces",
                "group.mygroup.observe.audit",
                "group.mygroup.memory.shared",
                "group.mygroup.memory.context",
                "group.mygroup.orchestrator",
            ]
        );
        assert_eq!(
            g.core_topics(),
            [
                "group.mygroup.announce",
                "group.mygroup.requests",
                "group.mygroup.responses",
                "group.mygroup.traces",
            ]
        );
        let skill = SkillName::new("web_search").unwrap();
        assert_eq!(
            g.skill_topics(&skill).unwrap(),
            (
                "group.mygroup.skill.web_search.requests".to_owned(),
                "group.mygroup.skill.web_search.responses".to_owned()
            )
        );
        assert_eq!(g.skill_topic_prefix(), "group.mygroup.skill.");
        assert_eq!(
            g.knowledge_topics(),
            [
                "group.mygroup.knowledge.capabilities",
                "group.mygroup.knowledge.presence",
                "group.mygroup.knowledge.proposals",
                "group.mygroup.knowledge.votes",
                "group.mygroup.knowledge.decisions",
                "group.mygroup.knowledge.facts",
            ]
        );
    }

    #[test]
    fn every_built_topic_parses_back() {
        let g = group("team-1");
        for t in GroupTopic::ALL {
            let kind = TopicKind::parse(&g.topic(t)).unwrap();
            assert_eq!(
                kind,
                TopicKind::Group {
                    group: g.clone(),
                    topic: t
                }
            );
            assert_eq!(kind.name(), g.topic(t));
        }
        for t in KnowledgeTopic::ALL {
            let kind = TopicKind::parse(&g.knowledge_topic(t)).unwrap();
            assert!(kind.is_knowledge());
            assert_eq!(kind.name(), g.knowledge_topic(t));
        }
        let s = SkillName::new("skill").unwrap();
        for d in [SkillDirection::Requests, SkillDirection::Responses] {
            let name = g.skill_topic(&s, d).unwrap();
            let kind = TopicKind::parse(&name).unwrap();
            assert_eq!(
                kind,
                TopicKind::Skill {
                    group: g.clone(),
                    skill: s.clone(),
                    direction: d
                }
            );
            assert_eq!(kind.name(), name);
        }
        // A group literally called "skill" is not confused with a skill topic.
        let kind = TopicKind::parse("group.skill.requests").unwrap();
        assert_eq!(
            kind,
            TopicKind::Group {
                group: group("skill"),
                topic: GroupTopic::Requests
            }
        );
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let err = SkillName::new("web.search").unwrap_err().to_string();
        assert!(err.contains("'.'") && err.contains("dots"), "{err}");
        let err = GroupName::new("").unwrap_err().to_string();
        assert!(err.contains("must not be empty"), "{err}");
        let err = GroupName::new("a b").unwrap_err().to_string();
        assert!(err.contains("' ' at position 1"), "{err}");
        let err = GroupName::new("é").unwrap_err().to_string();
        assert!(err.contains("not allowed"), "{err}");
        let long = "g".repeat(GroupName::MAX_LEN + 1);
        let err = GroupName::new(long).unwrap_err().to_string();
        assert!(err.contains("221 characters"), "{err}");
        let g = group(&"g".repeat(GroupName::MAX_LEN));
        for t in KnowledgeTopic::ALL {
            assert!(g.knowledge_topic(t).len() <= MAX_TOPIC_LEN);
        }
        for t in GroupTopic::ALL {
            assert!(g.topic(t).len() <= MAX_TOPIC_LEN);
        }
        let skill = SkillName::new("s".repeat(40)).unwrap();
        let err = g
            .skill_topic(&skill, SkillDirection::Responses)
            .unwrap_err();
        assert!(err.to_string().contains("Kafka allows 249"), "{err}");
        let short = group("g");
        let longest = SkillName::new("s".repeat(SkillName::MAX_LEN)).unwrap();
        let name = short
            .skill_topic(&longest, SkillDirection::Responses)
            .unwrap();
        assert_eq!(name.len(), MAX_TOPIC_LEN);
    }

    #[test]
    fn parser_explains_unknown_topics() {
        for (topic, needle) in [
            ("orders", "does not start with \"group.\""),
            ("group.g", "no topic part"),
            ("group.g.nope", "unknown topic \"nope\""),
            ("group.g.knowledge.rumours", "unknown knowledge topic"),
            ("group.g.skill.web.search.requests", "dots"),
            ("group.g.skill.web", "must end in .requests or .responses"),
            ("group.g!.announce", "'!' at position 1"),
        ] {
            let err = TopicKind::parse(topic).unwrap_err().to_string();
            assert!(err.contains(needle), "{topic}: {err}");
        }
        let long = format!("group.{}.announce", "g".repeat(250));
        assert!(
            TopicKind::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 249")
        );
    }

    #[test]
    fn responses_allow_go_task_status() {
        let kind = TopicKind::parse("group.g.responses").unwrap();
        assert_eq!(
            kind.allowed_type_names(),
            ["response", "task_status", "heartbeat"]
        );
        let kind = TopicKind::parse("group.g.knowledge.votes").unwrap();
        assert_eq!(kind.allowed_type_names(), ["vote"]);
    }
}
