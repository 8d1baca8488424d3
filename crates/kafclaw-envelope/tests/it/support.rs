//! Shared helpers: the committed schemas/ directory and compiled validators.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use kafclaw_envelope::{
    GroupName, GroupTopic, KnowledgeType, MessageType, SkillDirection, SkillName,
};
use serde_json::Value;

/// `schemas/` at the workspace root.
pub fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

pub fn read_json(relative: &str) -> Value {
    let path = schemas_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn index() -> Value {
    read_json("index.json")
}

/// Compiled jsonschema validators for the generated schemas, by file name.
pub fn validator(file: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        kafclaw_envelope::schema::all()
            .into_iter()
            .filter(|(name, _)| name.ends_with(".schema.json"))
            .map(|(name, schema)| {
                let compiled = jsonschema::draft202012::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
                (name, compiled)
            })
            .collect()
    });
    cache
        .get(file)
        .unwrap_or_else(|| panic!("no schema named {file}"))
}

/// jsonschema's errors for `value` against `file`, as "path: message" strings.
pub fn schema_errors(file: &str, value: &Value) -> Vec<String> {
    validator(file)
        .iter_errors(value)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect()
}

/// A topic where a message of `kind` belongs, in group `research`.
pub fn topic_for(kind: MessageType) -> String {
    let group = GroupName::new("research").unwrap();
    let skill = SkillName::new("web_search").unwrap();
    match kind {
        MessageType::SkillRequest => group.skill_topic(&skill, SkillDirection::Requests).unwrap(),
        MessageType::SkillResponse => group
            .skill_topic(&skill, SkillDirection::Responses)
            .unwrap(),
        other => {
            let topic = GroupTopic::ALL
                .into_iter()
                .find(|t| t.allowed_types()[0] == other)
                .unwrap_or(GroupTopic::Requests);
            group.topic(topic)
        }
    }
}

/// The knowledge topic of `kind`, in knowledge group `research`.
pub fn knowledge_topic_for(kind: KnowledgeType) -> String {
    let group = GroupName::new("research").unwrap();
    let topic = kafclaw_envelope::KnowledgeTopic::ALL
        .into_iter()
        .find(|t| t.knowledge_type() == kind)
        .unwrap();
    group.knowledge_topic(topic)
}
