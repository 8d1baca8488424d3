//! The content classifier: tags a request with a sensitivity level (configured patterns and
//! keywords) and a task type (built-in keyword lists), and reroutes a sensitive request to
//! the level's `routeTo` model (`contentClassification`).

use kafclaw_config::ContentClassificationConfig;
use regex::Regex;

use super::patterns::compile;
use super::{Action, MiddlewareEvent, Stage};
use crate::registry::ModelRef;
use crate::types::{ChatMessage, Role};
use crate::{Error, Result};

/// Task types the classifier recognises, with their keywords (whole words, any case), in
/// the order they are tried.
pub const TASK_TYPES: &[(&str, &[&str])] = &[
    (
        "security",
        &[
            "security",
            "vulnerability",
            "vulnerabilities",
            "exploit",
            "cve",
            "malware",
            "pentest",
            "phishing",
            "xss",
            "injection",
        ],
    ),
    (
        "coding",
        &[
            "code",
            "coding",
            "function",
            "compile",
            "compiler",
            "bug",
            "debug",
            "refactor",
            "implement",
            "python",
            "rust",
            "javascript",
            "typescript",
            "golang",
            "sql",
            "regex",
        ],
    ),
    (
        "tool-heavy",
        &[
            "run",
            "execute",
            "shell",
            "command",
            "download",
            "fetch",
            "directory",
            "files",
        ],
    ),
    (
        "creative",
        &[
            "poem", "story", "lyrics", "creative", "essay", "slogan", "haiku",
        ],
    ),
];

struct Level {
    name: String,
    patterns: Vec<Regex>,
    keywords: Vec<String>,
    route_to: Option<ModelRef>,
}

pub(crate) struct Classifier {
    levels: Vec<Level>,
}

/// What the classifier concluded.
pub(crate) struct Classification {
    /// The first matching sensitivity level and its `routeTo` model, if any.
    pub(crate) sensitivity: Option<(String, Option<ModelRef>)>,
    /// The task type of the newest user message.
    pub(crate) task_type: Option<&'static str>,
}

impl Classifier {
    /// The classifier of `contentClassification` (call only when it is enabled). Levels are
    /// tried in name order; the first that matches wins.
    pub(crate) fn from_config(cfg: &ContentClassificationConfig) -> Result<Self> {
        let mut levels = Vec::new();
        for (name, level) in &cfg.sensitivity_levels {
            let key = format!("contentClassification.sensitivityLevels.{name}");
            let patterns = level
                .patterns
                .iter()
                .enumerate()
                .map(|(i, p)| compile(&format!("{key}.patterns[{i}]"), p))
                .collect::<Result<Vec<_>>>()?;
            let route_to = if level.route_to.trim().is_empty() {
                None
            } else {
                Some(ModelRef::parse(&level.route_to).map_err(|e| Error::Config {
                    key: format!("{key}.routeTo"),
                    problem: e.to_string(),
                })?)
            };
            levels.push(Level {
                name: name.clone(),
                patterns,
                keywords: level
                    .keywords
                    .iter()
                    .map(|k| k.trim().to_lowercase())
                    .filter(|k| !k.is_empty())
                    .collect(),
                route_to,
            });
        }
        Ok(Self { levels })
    }

    /// Classifies the conversation: sensitivity over every user message and tool result
    /// (a sensitive history stays sensitive), task type from the newest user message.
    pub(crate) fn classify(
        &self,
        messages: &[ChatMessage],
        events: &mut Vec<MiddlewareEvent>,
    ) -> Classification {
        let texts: Vec<&str> = messages
            .iter()
            .filter(|m| matches!(m.role, Role::User | Role::Tool))
            .map(|m| m.content.as_str())
            .collect();
        let sensitivity = self.levels.iter().find_map(|level| {
            let hit = texts.iter().any(|t| {
                level.patterns.iter().any(|p| p.is_match(t)) || {
                    let lower = t.to_lowercase();
                    level.keywords.iter().any(|k| lower.contains(k.as_str()))
                }
            });
            hit.then(|| (level.name.clone(), level.route_to.clone()))
        });
        if let Some((name, _)) = &sensitivity {
            events.push(MiddlewareEvent::new(
                Stage::Classifier,
                Action::Tag,
                format!("sensitivity={name}"),
            ));
        }
        let task_type = messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .and_then(|m| task_type_of(&m.content));
        if let Some(t) = task_type {
            events.push(MiddlewareEvent::new(
                Stage::Classifier,
                Action::Tag,
                format!("task={t}"),
            ));
        }
        Classification {
            sensitivity,
            task_type,
        }
    }
}

/// The first task type with a keyword among the words of `text`.
pub(crate) fn task_type_of(text: &str) -> Option<&'static str> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    TASK_TYPES
        .iter()
        .find(|(_, keywords)| keywords.iter().any(|k| words.iter().any(|w| w == k)))
        .map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_by_whole_words() {
        assert_eq!(task_type_of("Is this a CVE?"), Some("security"));
        assert_eq!(task_type_of("fix the bug in my Rust code"), Some("coding"));
        assert_eq!(task_type_of("write a haiku"), Some("creative"));
        assert_eq!(task_type_of("decoder ring"), None, "no partial words");
        assert_eq!(task_type_of("hello"), None);
    }
}
