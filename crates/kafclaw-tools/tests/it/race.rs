//! A directory swapped for a symlink while reads and writes run in a loop never
//! yields content from outside, and never writes outside.

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafclaw_tools::{Registry, ToolsConfig};
use rustix::fs::{RenameFlags, renameat_with};
use serde_json::json;

use crate::support::{CANARY, ctx};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_a_directory_for_a_symlink_never_leaks_outside_content() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path().canonicalize().expect("canon");
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("d")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(root.join("d/f"), "INSIDE").expect("write");
    std::fs::write(outside.join("f"), CANARY).expect("write");
    let reg = Registry::with_builtin_tools(&ToolsConfig::single_root("work_repo", &root))
        .expect("registry");

    std::fs::write(outside.join("outside-marker"), CANARY).expect("write");
    // Two symlinks that lead out; the real directory is atomically exchanged with
    // them (renameat2 RENAME_EXCHANGE), so `d` always exists as one or the other.
    symlink(&outside, root.join("l_abs")).expect("symlink");
    symlink("../outside", root.join("l_rel")).expect("symlink");

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let root = root.clone();
        std::thread::spawn(move || {
            let dir = std::fs::File::open(&root).expect("open root");
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for link in ["l_abs", "l_abs", "l_rel", "l_rel"] {
                    renameat_with(&dir, "d", &dir, link, RenameFlags::EXCHANGE)
                        .expect("renameat2 exchange");
                    swaps += 1;
                }
            }
            swaps
        })
    };

    let c = ctx();
    let (mut inside, mut refused, mut other) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0u64;
    while rounds < 20_000 && !(inside >= 200 && refused >= 200) {
        rounds += 1;
        assert!(
            Instant::now() < deadline,
            "race did not exercise both states in time: inside={inside} refused={refused} other={other}"
        );
        for (tool, args) in [
            ("read_file", json!({"path": "d/f"})),
            ("list_dir", json!({"path": "d"})),
            ("write_file", json!({"path": "d/new.txt", "content": "W"})),
        ] {
            match reg.execute(tool, args, &c).await {
                Ok(out) => {
                    assert!(
                        !out.content.contains(CANARY),
                        "{tool} leaked outside content"
                    );
                    assert!(
                        !out.content.contains("outside-marker"),
                        "{tool} listed the outside dir"
                    );
                    inside += 1;
                }
                Err(e) if e.refusal().is_some() => refused += 1,
                Err(e) => {
                    assert!(!e.to_string().contains(CANARY));
                    other += 1;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 0);
    assert!(
        inside > 0 && refused > 0,
        "inside={inside} refused={refused} other={other}"
    );
    assert!(!outside.join("new.txt").exists(), "a write landed outside");
    assert_eq!(
        std::fs::read_to_string(outside.join("f")).expect("read"),
        CANARY
    );
}
