//! The key and environment-variable reference tables of docs/configuration.md, generated
//! from the code so the documentation cannot drift (a test compares them).

use std::fmt::Write;

use serde_json::Value;

use crate::env::{BINDINGS, FALLBACKS};
use crate::keys::DEFAULTS;

/// Defaults that are computed at load time rather than stored in the tree.
const DERIVED_DEFAULTS: &[(&str, &str)] = &[
    ("paths.workspace", "`$KAFCLAW_HOME/workspace`"),
    ("paths.workRepoPath", "`$KAFCLAW_HOME/work-repo`"),
    ("paths.systemRepoPath", "(none)"),
    ("memory.embedding.cacheDir", "`$KAFCLAW_HOME/models`"),
    ("group.agentId", "`kafclaw-<hostname>`"),
    (
        "group.kafkaSecurityProtocol",
        "automatic: `SASL_SSL` with credentials, else `PLAINTEXT`",
    ),
];

fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn code_list(names: impl IntoIterator<Item = String>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The generated Markdown: one table of every key with default and variable, and one of
/// every variable with the names also accepted.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    out.push_str("### Keys and defaults\n\n");
    out.push_str("| Key | Default | Environment variable |\n|---|---|---|\n");
    let mut all = Vec::new();
    leaves("", &DEFAULTS, &mut all);
    for (key, default) in all {
        let default = DERIVED_DEFAULTS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| (*d).to_owned())
            .unwrap_or_else(|| format!("`{default}`"));
        let vars: Vec<String> = BINDINGS
            .iter()
            .filter(|b| b.key == key)
            .map(|b| format!("`{}`", b.name))
            .chain(
                FALLBACKS
                    .iter()
                    .filter(|(_, k)| *k == key)
                    .map(|(v, _)| format!("`{v}` (fallback)")),
            )
            .collect();
        let vars = vars.join(", ");
        let _ = writeln!(out, "| `{key}` | {default} | {vars} |");
    }
    out.push_str("\n### Environment variables\n\n");
    out.push_str(
        "Each `KAFCLAW_` name is also read in its legacy form with the prefix `MIKROBOT_`, \
         after all `KAFCLAW_` names.\n\n",
    );
    out.push_str("| Variable (canonical) | Key | Also accepted |\n|---|---|---|\n");
    for b in BINDINGS {
        let also = code_list(b.aliases.iter().map(|a| (*a).to_owned()));
        let _ = writeln!(out, "| `{}` | `{}` | {also} |", b.name, b.key);
    }
    for (var, key) in FALLBACKS {
        let _ = writeln!(
            out,
            "| `{var}` | `{key}` | read only when the key is still empty |"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- BEGIN GENERATED: kafclaw-config reference -->\n";
    const END: &str = "<!-- END GENERATED -->";

    fn doc_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md")
    }

    /// Set `KAFCLAW_BLESS_DOCS=1` to rewrite the generated part of docs/configuration.md.
    #[test]
    fn docs_match_the_code() {
        let path = doc_path();
        let text = std::fs::read_to_string(&path).expect("docs/configuration.md exists");
        let start = text.find(BEGIN).expect("begin marker") + BEGIN.len();
        let end = text.find(END).expect("end marker");
        let generated = reference_markdown();
        if text[start..end] != generated {
            if std::env::var_os("KAFCLAW_BLESS_DOCS").is_some() {
                let updated = format!("{}{generated}{}", &text[..start], &text[end..]);
                std::fs::write(&path, updated).expect("write docs");
            } else {
                panic!(
                    "docs/configuration.md is out of date with the code; rerun this test with \
                     KAFCLAW_BLESS_DOCS=1 to regenerate it. Expected:\n{generated}"
                );
            }
        }
    }

    #[test]
    fn every_variable_is_documented() {
        let text = std::fs::read_to_string(doc_path()).expect("docs/configuration.md exists");
        for b in BINDINGS {
            for name in std::iter::once(b.name).chain(b.aliases.iter().copied()) {
                assert!(
                    text.contains(&format!("`{name}`")),
                    "{name} missing from the docs"
                );
            }
        }
        for (var, _) in FALLBACKS {
            assert!(
                text.contains(&format!("`{var}`")),
                "{var} missing from the docs"
            );
        }
        for var in [
            "KAFCLAW_HOME",
            "KAFCLAW_CONFIG",
            "MIKROBOT_HOME",
            "MIKROBOT_CONFIG",
        ] {
            assert!(text.contains(var), "{var} missing from the docs");
        }
    }
}
