//! What the filesystem tools do inside the roots.

use std::os::unix::fs::symlink;

use kafclaw_tools::{Error, FsConfig, RefusalRule, Registry, RootConfig, Roots, ToolsConfig};
use serde_json::json;

use crate::support::{Fixture, ctx};

fn rule(r: &Result<kafclaw_tools::ToolOutput, Error>) -> Option<RefusalRule> {
    r.as_ref().err().and_then(|e| e.refusal()).map(|r| r.rule)
}

#[tokio::test]
async fn read_file_reads_inside_relative_absolute_and_through_inner_symlinks() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let c = ctx();
    let out = reg
        .execute("read_file", json!({"path": "file.txt"}), &c)
        .await
        .expect("read relative");
    assert_eq!(out.content, "inside file\nline two\n");
    let abs = fx.root.join("sub/nested.txt");
    let out = reg
        .execute("read_file", json!({"path": abs.to_string_lossy()}), &c)
        .await
        .expect("read absolute");
    assert_eq!(out.content, "nested\n");
    let out = reg
        .execute("read_file", json!({"path": "in_link/nested.txt"}), &c)
        .await
        .expect("read through an inner symlink");
    assert_eq!(out.content, "nested\n");
    let out = reg
        .execute(
            "read_file",
            json!({"path": fx.ws.join("notes.md").to_string_lossy()}),
            &c,
        )
        .await
        .expect("read in the second root");
    assert_eq!(out.content, "notes\n");
    let r = reg.execute("read_file", json!({"path": "sub"}), &c).await;
    assert_eq!(rule(&r), Some(RefusalRule::NotRegularFile));
    let r = reg
        .execute("read_file", json!({"path": "missing.txt"}), &c)
        .await;
    assert!(
        matches!(r, Err(Error::Io { ref path, .. }) if path == "missing.txt"),
        "{r:?}"
    );
}

#[tokio::test]
async fn read_file_slices_large_files_and_refuses_fifos_without_blocking() {
    let fx = Fixture::new();
    let mut cfg = fx.config();
    cfg.fs.max_read_bytes = 10;
    let reg = Registry::with_builtin_tools(&cfg).expect("registry");
    let c = ctx();
    std::fs::write(fx.root.join("big.txt"), "0123456789abcdefghij").expect("write");
    let out = reg
        .execute("read_file", json!({"path": "big.txt"}), &c)
        .await
        .expect("read");
    assert!(out.truncated);
    assert!(
        out.content.starts_with("0123456789\n[truncated"),
        "{}",
        out.content
    );
    assert!(out.content.contains("offset=10"));
    let out = reg
        .execute("read_file", json!({"path": "big.txt", "offset": 10}), &c)
        .await
        .expect("read rest");
    assert_eq!(out.content, "abcdefghij");
    assert!(!out.truncated);

    rustix::fs::mknodat(
        rustix::fs::CWD,
        fx.root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let r = reg.execute("read_file", json!({"path": "fifo"}), &c).await;
    assert_eq!(rule(&r), Some(RefusalRule::NotRegularFile), "{r:?}");
    let r = reg
        .execute("write_file", json!({"path": "fifo", "content": "x"}), &c)
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::NotRegularFile), "{r:?}");
}

#[tokio::test]
async fn list_dir_is_sorted_and_marks_types() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let out = reg
        .execute("list_dir", json!({"path": "sub"}), &ctx())
        .await
        .expect("list");
    // `up` and `up2` are symlinks that lead out: listed, not followed.
    assert_eq!(out.content, "back@\nnested.txt\t7\nup@\nup2@\n");
    let out = reg
        .execute("list_dir", json!({}), &ctx())
        .await
        .expect("list root");
    let names: Vec<&str> = out.content.lines().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"sub/") && names.contains(&"out_abs@"));
}

#[tokio::test]
async fn write_file_creates_parents_inside_and_protects_git_and_the_root() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let c = ctx();
    reg.execute(
        "write_file",
        json!({"path": "new/deep/dir/a.txt", "content": "hello"}),
        &c,
    )
    .await
    .expect("write with parents");
    assert_eq!(
        std::fs::read_to_string(fx.root.join("new/deep/dir/a.txt")).expect("read back"),
        "hello"
    );
    reg.execute(
        "write_file",
        json!({"path": "in_link/b.txt", "content": "via link"}),
        &c,
    )
    .await
    .expect("write through inner symlink");
    assert_eq!(
        std::fs::read_to_string(fx.root.join("sub/b.txt")).expect("read back"),
        "via link"
    );
    for path in [
        ".git/config",
        ".git/hooks/pre-commit",
        "sub/../.git/x",
        ".GIT/config",
    ] {
        let r = reg
            .execute("write_file", json!({"path": path, "content": "x"}), &c)
            .await;
        assert_eq!(rule(&r), Some(RefusalRule::ProtectedPath), "{path}: {r:?}");
    }
    // A symlink inside the root that points at .git does not help.
    symlink(".git", fx.root.join("gitlink")).expect("symlink");
    let r = reg
        .execute(
            "write_file",
            json!({"path": "gitlink/config", "content": "x"}),
            &c,
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::ProtectedPath), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(fx.root.join(".git/config")).expect("read"),
        "[core]\n"
    );
    for path in [".", "sub/..", fx.root.to_string_lossy().as_ref()] {
        let r = reg
            .execute("write_file", json!({"path": path, "content": "x"}), &c)
            .await;
        assert_eq!(rule(&r), Some(RefusalRule::ProtectedPath), "{path}: {r:?}");
    }
}

#[tokio::test]
async fn write_size_is_capped() {
    let fx = Fixture::new();
    let cfg = ToolsConfig {
        fs: FsConfig {
            max_write_bytes: 8,
            ..FsConfig::default()
        },
        ..fx.config()
    };
    let reg = Registry::with_builtin_tools(&cfg).expect("registry");
    let r = reg
        .execute(
            "write_file",
            json!({"path": "x.txt", "content": "123456789"}),
            &ctx(),
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::TooLarge));
    assert!(!fx.root.join("x.txt").exists());
}

#[tokio::test]
async fn edit_file_refuses_ambiguous_and_missing_matches() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let c = ctx();
    std::fs::write(fx.root.join("e.txt"), "alpha beta alpha\n").expect("write");
    let r = reg
        .execute(
            "edit_file",
            json!({"path": "e.txt", "old_text": "alpha", "new_text": "x"}),
            &c,
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::AmbiguousMatch));
    assert!(r.unwrap_err().to_string().contains("2 times"));
    let r = reg
        .execute(
            "edit_file",
            json!({"path": "e.txt", "old_text": "gamma", "new_text": "x"}),
            &c,
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::NoMatch));
    assert_eq!(
        std::fs::read_to_string(fx.root.join("e.txt")).expect("read"),
        "alpha beta alpha\n"
    );
    reg.execute(
        "edit_file",
        json!({"path": "e.txt", "old_text": "alpha beta", "new_text": "omega"}),
        &c,
    )
    .await
    .expect("unique edit");
    assert_eq!(
        std::fs::read_to_string(fx.root.join("e.txt")).expect("read"),
        "omega alpha\n"
    );
    let r = reg
        .execute(
            "edit_file",
            json!({"path": ".git/config", "old_text": "core", "new_text": "x"}),
            &c,
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::ProtectedPath));
}

#[tokio::test]
async fn resolve_path_validates_kind_and_filename() {
    let fx = Fixture::new();
    let reg = fx.registry();
    let c = ctx();
    let out = reg
        .execute(
            "resolve_path",
            json!({"kind": "docs", "filename": "plan.md"}),
            &c,
        )
        .await
        .expect("resolve");
    assert_eq!(out.content, fx.root.join("docs/plan.md").to_string_lossy());
    for (kind, filename) in [
        ("..", "x"),
        ("docs", "../../etc/passwd"),
        ("a/b", "x"),
        (".git", "config"),
        ("docs", ""),
    ] {
        let r = reg
            .execute(
                "resolve_path",
                json!({"kind": kind, "filename": filename}),
                &c,
            )
            .await;
        assert!(
            r.as_ref().err().is_some_and(
                |e| e.refusal().is_some() || matches!(e, Error::InvalidArgument { .. })
            ),
            "{kind}/{filename}: {r:?}"
        );
    }
    // A kind that is a symlink leading out is refused.
    let r = reg
        .execute(
            "resolve_path",
            json!({"kind": "out_rel", "filename": "x"}),
            &c,
        )
        .await;
    assert_eq!(rule(&r), Some(RefusalRule::PathEscape), "{r:?}");
}

#[test]
fn roots_report_bad_config_with_the_key() {
    let fx = Fixture::new();
    let missing = fx.base().join("does-not-exist");
    match Roots::open(&[
        RootConfig::new("work_repo", &fx.root),
        RootConfig::new("workspace", &missing),
    ]) {
        Err(Error::Config { key, problem }) => {
            assert_eq!(key, "roots[1].path");
            assert!(problem.contains("does-not-exist"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Roots::open(&[RootConfig::new("r", "relative/dir")]),
        Err(Error::Config { .. })
    ));
    assert!(matches!(Roots::open(&[]), Err(Error::Config { .. })));
    let roots = Roots::open(&[RootConfig::new("work_repo", &fx.root)]).expect("open");
    assert_eq!(
        roots.check("sub/nested.txt").expect("inside"),
        fx.root.join("sub/nested.txt")
    );
    assert!(roots.check("out_rel/canary.txt").is_err());
}
