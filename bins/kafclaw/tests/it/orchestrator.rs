//! `kafclaw orchestrator` through the real binary against the real broker: zones
//! created by two agents' CLI runs, read back by a third agent's passive reader.

use std::process::{Command, Output};

use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
    brokers: String,
    group: String,
}

impl Env {
    fn run(&self, agent: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafclaw"));
        cmd.arg("orchestrator")
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("KAFCLAW_HOME", self.dir.path().join(agent))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KAFCLAW_GROUP_KAFKA_BROKERS", &self.brokers)
            .env("KAFCLAW_GROUP_GROUP_NAME", &self.group)
            .env("KAFCLAW_GROUP_AGENT_ID", agent);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().expect("run kafclaw")
    }

    fn json(&self, agent: &str, args: &[&str], extra: &[(&str, &str)]) -> Value {
        let out = self.run(agent, args, extra);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn node<'a>(h: &'a Value, id: &str) -> &'a Value {
    h["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["agent_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {h}"))
}

fn zone<'a>(zones: &'a Value, id: &str) -> &'a Value {
    zones
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {zones}"))
}

#[test]
fn zones_and_hierarchy_through_the_cli() {
    let broker = maybe_skip_kafka!();
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        brokers: broker.brokers.clone(),
        group: random_group_name(),
    };
    let boss = [("KAFCLAW_ORCHESTRATOR_ROLE", "orchestrator")];
    let worker = [
        ("KAFCLAW_ORCHESTRATOR_PARENT_ID", "boss"),
        ("KAFCLAW_ORCHESTRATOR_ZONE_ID", "red"),
    ];
    let viewer = [("KAFCLAW_ORCHESTRATOR_TRUSTED_ORCHESTRATORS", "boss")];

    let out = env.run(
        "boss",
        &[
            "zone",
            "create",
            "red",
            "--visibility",
            "private",
            "--member",
            "worker-b",
        ],
        &boss,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("red"), "{}", text(&out.stdout));
    let out = env.run("worker-b", &["zone", "create", "blue"], &worker);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Only the owner may change a zone.
    let out = env.run(
        "worker-b",
        &["zone", "add-member", "red", "mallory"],
        &worker,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("owned by \"boss\""),
        "{}",
        text(&out.stderr)
    );
    // The owner can, in a later run: its zones are kept in its timeline.
    let out = env.run("boss", &["zone", "add-member", "red", "worker-c"], &boss);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let h = env.json("viewer", &["hierarchy", "--json"], &viewer);
    assert_eq!(
        h["roots"].as_array().unwrap().len(),
        2,
        "boss and viewer: {h}"
    );
    assert_eq!(node(&h, "boss")["role"], "orchestrator");
    assert_eq!(
        node(&h, "boss")["children"],
        serde_json::json!(["worker-b"])
    );
    assert_eq!(node(&h, "worker-b")["parent_id"], "boss");
    assert_eq!(node(&h, "worker-b")["zone_id"], "red");

    let zones = env.json("viewer", &["zones", "--json"], &viewer);
    let red = zone(&zones, "red");
    assert_eq!(red["visibility"], "private");
    assert_eq!(red["owner_id"], "boss");
    assert_eq!(
        red["members"],
        serde_json::json!(["boss", "worker-b", "worker-c"])
    );
    assert_eq!(red["is_member"], false);
    assert_eq!(zone(&zones, "blue")["owner_id"], "worker-b");

    let status = env.json("viewer", &["status", "--json"], &viewer);
    assert_eq!(status["agent_id"], "viewer");
    assert_eq!(status["role"], "worker");
    assert_eq!(status["active"], false);
    assert_eq!(status["agent_count"], 3);
    assert_eq!(status["zone_count"], 3);

    let out = env.run("viewer", &["hierarchy"], &viewer);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tree = text(&out.stdout);
    assert!(
        tree.contains("boss (orchestrator, active)\n  worker-b (worker, zone red, active)"),
        "{tree}"
    );

    // Configuration errors name the key and exit 2.
    let out = env.run("viewer", &["status"], &[("KAFCLAW_GROUP_GROUP_NAME", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("group.groupName"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(
        "viewer",
        &["status"],
        &[("KAFCLAW_ORCHESTRATOR_ROLE", "boss")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("orchestrator.role"),
        "{}",
        text(&out.stderr)
    );
}
