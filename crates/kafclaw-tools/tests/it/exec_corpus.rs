//! Every command of tests/corpus/shell_bypass.jsonl is refused by `exec` with a
//! reason before anything runs.

use serde_json::json;

use crate::support::{Fixture, OutsideWatch, assert_refused, ctx, load_corpus};

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_shell_bypass_is_refused_before_running() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let before = fx.outside_snapshot();
    let root_before = listing(&fx.root);
    let watch = OutsideWatch::new(&fx);
    let corpus = load_corpus("shell_bypass.jsonl");
    assert!(
        corpus.len() >= 100,
        "corpus has only {} cases",
        corpus.len()
    );
    let ctx = ctx();
    let mut rules = std::collections::BTreeMap::new();
    for case in &corpus {
        let raw = case["command"].as_str().expect("command is a string");
        let mut args = json!({ "command": fx.expand(raw) });
        if let Some(wd) = case.get("working_dir").and_then(|v| v.as_str()) {
            args["working_dir"] = json!(fx.expand(wd));
        }
        let what = format!("exec({args})");
        let r = reg.execute("exec", args, &ctx).await;
        assert_refused(&what, &r);
        if let Some(refusal) = r.as_ref().err().and_then(|e| e.refusal()) {
            *rules.entry(refusal.rule.as_str()).or_insert(0usize) += 1;
        }
    }
    assert_eq!(watch.events(), Vec::<String>::new());
    assert_eq!(fx.outside_snapshot(), before);
    assert_eq!(
        listing(&fx.root),
        root_before,
        "something was created in the root"
    );
    for rule in [
        "shell_syntax",
        "program_not_allowed",
        "denied_pattern",
        "dangerous_argument",
        "path_escape",
    ] {
        assert!(rules.contains_key(rule), "no case hit {rule}: {rules:?}");
    }
}
