//! Skills: the topic manifest's entry-by-entry merge, skill-name validation, and the
//! listing of skills with their live providers.
//!
//! Go agents replace their manifest wholesale when a higher version arrives, so two
//! registrations on different agents at once lose one of them. We merge instead:
//! every skill descriptor present in either manifest is kept, and the consumers of
//! one descriptor are the union of both lists.

use kafclaw_envelope::{GroupName, SkillName, Timestamp, TopicManifest};

use crate::error::{Error, Result};

/// One skill of the group as this agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkillInfo {
    /// The skill's name.
    pub name: String,
    /// Where requests for it go.
    pub requests_topic: String,
    /// Where its responses go.
    pub responses_topic: String,
    /// Agents that registered it (from the manifest), sorted.
    pub registered_by: Vec<String>,
    /// The registered agents that are in the roster now, sorted.
    pub live_providers: Vec<String>,
}

/// Validates a skill name (ASCII letters, digits, `_`, `-`; no dots).
pub(crate) fn skill_name(name: &str) -> Result<SkillName> {
    SkillName::new(name.to_owned()).map_err(|e| Error::Invalid {
        what: "skill name",
        reason: e.to_string(),
    })
}

/// Merges `incoming` into `local`; returns whether `local` changed. The version
/// becomes the larger of both (plus one when the merge produced something neither
/// side had), so Go agents, which take only higher versions, still move forward.
pub(crate) fn merge_manifest(local: &mut TopicManifest, incoming: &TopicManifest) -> bool {
    let mut changed = false;
    for d in &incoming.skill_topics {
        match local.skill_topics.iter_mut().find(|l| l.name == d.name) {
            Some(l) => {
                for c in &d.consumers {
                    if !l.consumers.contains(c) {
                        l.consumers.push(c.clone());
                        l.consumers.sort();
                        changed = true;
                    }
                }
            }
            None => {
                let mut d = d.clone();
                d.consumers.sort();
                d.consumers.dedup();
                local.skill_topics.push(d);
                changed = true;
            }
        }
    }
    let had_more = local.skill_topics.len() > incoming.skill_topics.len();
    if changed {
        local.version = local.version.max(incoming.version) + i64::from(had_more);
        local.updated_at = Timestamp::now();
        if !incoming.updated_by.is_empty() {
            local.updated_by = incoming.updated_by.clone();
        }
    } else if incoming.version > local.version {
        local.version = incoming.version;
    }
    changed
}

/// Adds `agent` as a consumer of `skill`'s topics (adding the skill when missing);
/// returns whether the manifest changed.
pub(crate) fn add_provider(
    manifest: &mut TopicManifest,
    group: &GroupName,
    skill: &SkillName,
    agent: &str,
) -> Result<bool> {
    let at = Timestamp::now();
    let added = manifest
        .add_skill(group, skill, agent, at)
        .map_err(|e| Error::Invalid {
            what: "skill name",
            reason: e.to_string(),
        })?;
    if added {
        return Ok(true);
    }
    let (req, resp) = topics(group, skill)?;
    let mut changed = false;
    for d in manifest
        .skill_topics
        .iter_mut()
        .filter(|d| d.name == req || d.name == resp)
    {
        if !d.consumers.iter().any(|c| c == agent) {
            d.consumers.push(agent.to_owned());
            d.consumers.sort();
            changed = true;
        }
    }
    if changed {
        manifest.version += 1;
        manifest.updated_at = at;
        manifest.updated_by = agent.to_owned();
    }
    Ok(changed)
}

/// The (requests, responses) topics of `skill`.
pub(crate) fn topics(group: &GroupName, skill: &SkillName) -> Result<(String, String)> {
    group.skill_topics(skill).map_err(|e| Error::Invalid {
        what: "skill name",
        reason: e.to_string(),
    })
}

/// The skills of `manifest` with the providers among `live` members.
pub(crate) fn list(manifest: &TopicManifest, live: &[String]) -> Vec<SkillInfo> {
    let prefix = format!("group.{}.skill.", manifest.group_name);
    let mut out: Vec<SkillInfo> = Vec::new();
    for d in &manifest.skill_topics {
        let Some(name) = d
            .name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".requests"))
        else {
            continue;
        };
        let mut registered_by = d.consumers.clone();
        registered_by.sort();
        registered_by.dedup();
        let live_providers = registered_by
            .iter()
            .filter(|c| live.contains(c))
            .cloned()
            .collect();
        out.push(SkillInfo {
            name: name.to_owned(),
            requests_topic: d.name.clone(),
            responses_topic: format!("{prefix}{name}.responses"),
            registered_by,
            live_providers,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The skill named by a skill topic of `group` and its direction (`requests`/`responses`).
pub(crate) fn parse_topic<'a>(group: &GroupName, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let prefix = group.skill_topic_prefix();
    topic.strip_prefix(prefix.as_str())?.split_once('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> GroupName {
        GroupName::new("g").unwrap()
    }

    fn with(skill: &str, agent: &str) -> TopicManifest {
        let mut m = TopicManifest::new(&group(), Timestamp::now());
        add_provider(&mut m, &group(), &skill_name(skill).unwrap(), agent).unwrap();
        m
    }

    #[test]
    fn concurrent_registrations_both_survive_the_merge() {
        let mut a = with("search", "a");
        let b = with("review", "b");
        assert_eq!(a.version, b.version);
        assert!(merge_manifest(&mut a, &b));
        let names: Vec<String> = list(&a, &[]).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["review", "search"]);
        assert!(a.version > b.version);
        assert!(!merge_manifest(&mut a, &b), "merging again changes nothing");
    }

    #[test]
    fn consumers_of_one_skill_are_united() {
        let mut a = with("search", "a");
        let b = with("search", "b");
        assert!(merge_manifest(&mut a, &b));
        let s = &list(&a, &["b".to_owned()])[0];
        assert_eq!(s.registered_by, ["a", "b"]);
        assert_eq!(s.live_providers, ["b"]);
    }

    #[test]
    fn dotted_names_are_refused_and_topics_parse() {
        assert!(skill_name("web.search").is_err());
        assert!(skill_name("").is_err());
        let g = group();
        assert_eq!(
            parse_topic(&g, "group.g.skill.web_search.requests"),
            Some(("web_search", "requests"))
        );
        assert_eq!(parse_topic(&g, "group.g.requests"), None);
    }
}
