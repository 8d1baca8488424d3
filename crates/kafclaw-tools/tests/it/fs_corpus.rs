//! Every path of tests/corpus/path_escapes.jsonl is refused by every filesystem
//! tool, with a reason, and nothing outside the roots is opened, read or written.

use serde_json::json;

use crate::support::{Fixture, OutsideWatch, assert_refused, ctx, load_corpus};

#[tokio::test]
async fn every_path_escape_is_refused_by_every_fs_tool() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let before = fx.outside_snapshot();
    let watch = OutsideWatch::new(&fx);
    let corpus = load_corpus("path_escapes.jsonl");
    assert!(
        corpus.len() >= 200,
        "corpus has only {} cases",
        corpus.len()
    );
    let ctx = ctx();
    let mut rules = std::collections::BTreeMap::new();
    for case in &corpus {
        let raw = case["path"].as_str().expect("path is a string");
        let path = fx.expand(raw);
        let calls = [
            ("read_file", json!({ "path": path })),
            ("list_dir", json!({ "path": path })),
            ("write_file", json!({ "path": path, "content": "PWNED" })),
            (
                "edit_file",
                json!({ "path": path, "old_text": "CANARY", "new_text": "PWNED" }),
            ),
        ];
        for (tool, args) in calls {
            let what = format!("{tool}({raw:?})");
            let r = reg.execute(tool, args, &ctx).await;
            assert_refused(&what, &r);
            if let Some(refusal) = r.as_ref().err().and_then(|e| e.refusal()) {
                *rules.entry(refusal.rule.as_str()).or_insert(0usize) += 1;
            }
        }
    }
    assert_eq!(
        watch.events(),
        Vec::<String>::new(),
        "something outside the roots was touched"
    );
    assert_eq!(fx.outside_snapshot(), before, "outside content changed");
    // The corpus exercises the text rules and the kernel-level confinement alike.
    for rule in ["path_escape", "path_syntax"] {
        assert!(rules.get(rule).copied().unwrap_or(0) > 50, "{rules:?}");
    }
}
