//! Shared fixtures: a temp tree with roots, an outside directory holding a canary,
//! symlinks that lead out, and an inotify watch proving nothing outside was touched.

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use kafclaw_tools::{Error, Registry, ToolContext, ToolOutput, ToolsConfig, TrustClass};
use rustix::fs::inotify;
use serde_json::Value;

pub const CANARY: &str = "CANARY-7f3a9c-outside-content";
pub const SECRET: &str = "SECRET-b41d2e-outside-inner";

/// A temp tree:
///
/// ```text
/// tmp/
///   outside/canary.txt (CANARY), outside/secret/inner.txt (SECRET)
///   rootx/file.txt      sibling whose name extends the root's (string-prefix trap)
///   root/               work_repo root
///     file.txt, list.txt, script.sed, sub/nested.txt, .git/config
///     out_abs -> tmp/outside           out_rel -> ../outside
///     out_file -> ../outside/canary.txt out_file_abs -> tmp/outside/canary.txt
///     sub/up -> ../..                  sub/up2 -> ../../outside
///     chain1 -> chain2 -> out_rel      loop -> loop
///     in_link -> sub (inside)          swapped -> ../outside (a dir swapped for a symlink)
///     sub/back -> .. (inside, but one level shallower than it looks)
///     dangling_out -> /nonexistent-kafclaw-outside/x
///     etc_link -> /etc                 proc_link -> /proc/self/root
///   ws/                 workspace root
///     notes.md, ws_out -> ../outside
/// ```
pub struct Fixture {
    /// Kept so the directory lives as long as the fixture.
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub outside: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().canonicalize().expect("canonical tmp");
        let root = base.join("root");
        let ws = base.join("ws");
        let outside = base.join("outside");
        for d in [
            &root,
            &root.join("sub"),
            &root.join(".git"),
            &ws,
            &outside.join("secret"),
            &base.join("rootx"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let write = |p: PathBuf, c: &str| std::fs::write(p, c).expect("write");
        write(outside.join("canary.txt"), CANARY);
        write(outside.join("secret/inner.txt"), SECRET);
        write(base.join("rootx/file.txt"), CANARY);
        write(root.join("file.txt"), "inside file\nline two\n");
        write(root.join("list.txt"), "file.txt\0");
        write(root.join("script.sed"), "s/a/b/\n");
        write(root.join("sub/nested.txt"), "nested\n");
        write(root.join(".git/config"), "[core]\n");
        write(ws.join("notes.md"), "notes\n");
        let link = |target: &Path, at: PathBuf| symlink(target, at).expect("symlink");
        link(&outside, root.join("out_abs"));
        link(Path::new("../outside"), root.join("out_rel"));
        link(Path::new("../outside/canary.txt"), root.join("out_file"));
        link(&outside.join("canary.txt"), root.join("out_file_abs"));
        link(Path::new("../.."), root.join("sub/up"));
        link(Path::new("../../outside"), root.join("sub/up2"));
        link(Path::new("chain2"), root.join("chain1"));
        link(Path::new("out_rel"), root.join("chain2"));
        link(Path::new("loop"), root.join("loop"));
        link(Path::new("sub"), root.join("in_link"));
        link(Path::new(".."), root.join("sub/back"));
        link(Path::new("../outside"), root.join("swapped"));
        link(
            Path::new("/nonexistent-kafclaw-outside/x"),
            root.join("dangling_out"),
        );
        link(Path::new("/etc"), root.join("etc_link"));
        link(Path::new("/proc/self/root"), root.join("proc_link"));
        link(Path::new("../outside"), ws.join("ws_out"));
        Self {
            _tmp: tmp,
            root,
            ws,
            outside,
        }
    }

    pub fn base(&self) -> PathBuf {
        self.root.parent().expect("root has a parent").to_path_buf()
    }

    pub fn config(&self) -> ToolsConfig {
        ToolsConfig::new(&self.root, &self.ws)
    }

    pub fn registry(&self) -> Registry {
        Registry::with_builtin_tools(&self.config()).expect("registry")
    }

    /// Replace placeholders of the corpus files.
    pub fn expand(&self, s: &str) -> String {
        s.replace("{ROOT}", &self.root.to_string_lossy())
            .replace("{WS}", &self.ws.to_string_lossy())
            .replace("{OUTSIDE}", &self.outside.to_string_lossy())
            .replace("{TMP}", &self.base().to_string_lossy())
    }

    /// Content of everything outside the roots that the fixtures point at.
    pub fn outside_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for dir in [self.outside.clone(), self.outside.join("secret")] {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .expect("read outside")
                .map(|e| e.expect("entry").path())
                .collect();
            entries.sort();
            for p in entries {
                let content = if p.is_file() {
                    std::fs::read(&p).expect("read")
                } else {
                    Vec::new()
                };
                out.push((p, content));
            }
        }
        out
    }
}

/// An inotify watch on the outside directories: any open, read, write, create or
/// delete there shows up as an event.
pub struct OutsideWatch {
    fd: OwnedFd,
}

impl OutsideWatch {
    pub fn new(fx: &Fixture) -> Self {
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
            .expect("inotify_init");
        let flags = inotify::WatchFlags::ALL_EVENTS;
        for d in [
            fx.outside.clone(),
            fx.outside.join("secret"),
            fx.base().join("rootx"),
        ] {
            inotify::add_watch(&fd, &d, flags).expect("add_watch");
        }
        Self { fd }
    }

    /// Events since the watch was set (names and flags).
    pub fn events(&self) -> Vec<String> {
        let mut buf = [MaybeUninit::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(ev) => out.push(format!(
                    "{:?} {:?}",
                    ev.file_name().map(|n| n.to_string_lossy().into_owned()),
                    ev.events()
                )),
                Err(rustix::io::Errno::WOULDBLOCK) => return out,
                Err(e) => panic!("inotify read: {e}"),
            }
        }
    }
}

pub fn ctx() -> ToolContext {
    ToolContext::new(TrustClass::Owner)
        .with_sender("test")
        .with_channel("cli")
        .with_trace_id("trace-1")
        .with_task_id("task-1")
}

/// Load a JSONL corpus (blank lines and lines starting with `//` skipped).
pub fn load_corpus(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("corpus file");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}:{}: bad JSON: {e}", i + 1))
        })
        .collect()
}

/// Assert a call was refused with a reason, and that the error text never carries
/// outside content.
pub fn assert_refused(what: &str, r: &Result<ToolOutput, Error>) -> String {
    match r {
        Err(e) => {
            let text = e.to_string();
            assert!(
                !text.contains(CANARY) && !text.contains(SECRET),
                "{what}: error leaks outside content: {text}"
            );
            match e.refusal() {
                Some(refusal) => {
                    assert!(
                        !refusal.reason.trim().is_empty(),
                        "{what}: refusal without a reason"
                    );
                    refusal.reason.clone()
                }
                None => panic!("{what}: expected a refusal, got error: {e}"),
            }
        }
        Ok(out) => panic!(
            "{what}: expected a refusal, got output: {}",
            out.content.chars().take(300).collect::<String>()
        ),
    }
}
