//! Property: whatever sequence of `..`, `.`, names and symlinks a path is made of,
//! a path the tools accept never resolves outside the roots, and no tool ever
//! returns outside content.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use kafclaw_tools::{Registry, RootConfig, Roots, ToolsConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::support::{CANARY, ctx};

const PARTS: &[&str] = &[
    "..",
    ".",
    "a",
    "b",
    "c",
    "f.txt",
    "in_a",
    "to_b",
    "back",
    "up_out",
    "esc",
    "abs_out",
    "deep",
    "root_link",
    "nope",
    "secret.txt",
    "loop",
    "",
];

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
}

fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().canonicalize().expect("canon");
    let root = base.join("root");
    let ws = base.join("ws");
    let outside = base.join("outside");
    for d in [root.join("a/b/c"), ws.join("a"), outside.join("a")] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    for (p, c) in [
        (root.join("f.txt"), "inside:f"),
        (root.join("a/f.txt"), "inside:a/f"),
        (root.join("a/b/f.txt"), "inside:a/b/f"),
        (ws.join("f.txt"), "inside:ws/f"),
        (outside.join("f.txt"), CANARY),
        (outside.join("secret.txt"), CANARY),
        (outside.join("a/f.txt"), CANARY),
        (base.join("f.txt"), CANARY),
    ] {
        std::fs::write(p, c).expect("write");
    }
    let l = |t: &Path, at: PathBuf| symlink(t, at).expect("symlink");
    l(Path::new("a"), root.join("in_a"));
    l(Path::new("b"), root.join("a/to_b"));
    l(Path::new(".."), root.join("a/back"));
    l(Path::new("../outside"), root.join("up_out"));
    l(Path::new("../../outside"), root.join("a/esc"));
    l(&outside, root.join("a/b/abs_out"));
    l(Path::new("../../.."), root.join("a/b/deep"));
    l(&root, root.join("root_link"));
    l(Path::new("loop"), root.join("a/loop"));
    l(Path::new("../root"), ws.join("to_b"));
    l(Path::new(".."), ws.join("back"));
    Tree {
        _tmp: tmp,
        root,
        ws,
    }
}

/// Resolve `path` the way the kernel would if every missing component were created
/// as a directory: follow symlinks with `readlink`, apply `..` to what was reached.
/// `None` for symlink loops.
fn would_resolve_to(path: &str, cwd: &Path) -> Option<PathBuf> {
    let mut queue: std::collections::VecDeque<std::ffi::OsString> = Path::new(path)
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut cur = if path.starts_with('/') {
        PathBuf::from("/")
    } else {
        cwd.to_path_buf()
    };
    let mut budget = 40;
    while let Some(part) = queue.pop_front() {
        match part.to_str() {
            Some("/") | Some(".") | Some("") => {}
            Some("..") => {
                cur.pop();
            }
            _ => {
                let next = cur.join(&part);
                match std::fs::symlink_metadata(&next) {
                    Ok(m) if m.file_type().is_symlink() => {
                        budget -= 1;
                        if budget == 0 {
                            return None;
                        }
                        let target = std::fs::read_link(&next).ok()?;
                        if target.is_absolute() {
                            cur = PathBuf::from("/");
                        }
                        for c in target.components().rev() {
                            queue.push_front(c.as_os_str().to_owned());
                        }
                    }
                    _ => cur = next,
                }
            }
        }
    }
    Some(cur)
}

#[test]
fn confined_paths_never_resolve_outside_the_roots() {
    let t = tree();
    let cfg = ToolsConfig::new(&t.root, &t.ws);
    let roots = Roots::open(&[
        RootConfig::new("work_repo", &t.root),
        RootConfig::new("workspace", &t.ws),
    ])
    .expect("roots");
    let reg = Registry::with_builtin_tools(&cfg).expect("registry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let c = ctx();

    let strategy = (
        0usize..3,
        prop::collection::vec(prop::sample::select(PARTS), 1..9),
    );
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0usize);
    runner
        .run(&strategy, |(prefix, parts)| {
            let rel = parts.join("/");
            let path = match prefix {
                0 => rel.clone(),
                1 => format!("{}/{rel}", t.root.display()),
                _ => format!("{}/{rel}", t.ws.display()),
            };
            if let Ok(resolved) = roots.check(&path) {
                accepted.set(accepted.get() + 1);
                // Even if every missing directory on the way were created later, the
                // path would still land inside.
                if let Some(landing) = would_resolve_to(&path, &t.root) {
                    prop_assert!(
                        landing.starts_with(&t.root) || landing.starts_with(&t.ws),
                        "{path} accepted, but would land at {}",
                        landing.display()
                    );
                }
                // Independent check with the OS: what the accepted path really is.
                let real = std::fs::canonicalize(&resolved).unwrap_or(resolved.clone());
                prop_assert!(
                    real.starts_with(&t.root) || real.starts_with(&t.ws),
                    "{path} resolved to {}",
                    real.display()
                );
            }
            for tool in ["read_file", "list_dir"] {
                let r = rt.block_on(reg.execute(tool, json!({ "path": path }), &c));
                match r {
                    Ok(out) => prop_assert!(
                        !out.content.contains(CANARY) && !out.content.contains("secret.txt"),
                        "{tool}({path}) returned outside content: {}",
                        out.content
                    ),
                    Err(e) => prop_assert!(!e.to_string().contains(CANARY)),
                }
            }
            // Where the OS would resolve the path outside, the tools must refuse.
            let os_path = if prefix == 0 {
                t.root.join(&rel)
            } else {
                PathBuf::from(&path)
            };
            if let Ok(real) = std::fs::canonicalize(&os_path)
                && !(real.starts_with(&t.root) || real.starts_with(&t.ws))
            {
                prop_assert!(
                    roots.check(&path).is_err(),
                    "{path} -> {} accepted",
                    real.display()
                );
            }
            Ok(())
        })
        .expect("property holds");
    // The generator is not degenerate: many paths are legitimately accepted.
    assert!(
        accepted.get() > 50,
        "only {} paths accepted",
        accepted.get()
    );
}
