//! Interop: a Rust `GroupAgent` and the three example agents in other languages
//! (examples/python-agent, examples/node-agent, examples/shell-agent), as real
//! processes, in one group on the real broker. Each provides one skill and asks the
//! other three; every agent must see the others in its roster, all twelve ordered
//! pairs must exchange a task and its answer, the Rust agent must also get an answer
//! from each example agent to a task targeted at it on `group.{g}.requests`, every
//! agent must publish periodic heartbeats. Then a second instance of each example
//! agent joins, all three providing one shared skill, and the Rust agent's tasks for
//! it must each be run and answered once, by the first claimant on `tasks.status`
//! (see [`contested_skill_tasks`]). Every keyed record must sit in the
//! partition Java's murmur2 picks for its key, and every record on the group's
//! topics must validate against the published schemas (schemas/, checked with the
//! Python `jsonschema` library by scripts/validate_records.py, and with our own
//! validator). Missing tools skip the test locally and fail it in CI.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafclaw_envelope::{ValidateOptions, validate};
use kafclaw_group::{IncomingTask, KafkaTransport, OffsetQuery, TaskSpec, Transport};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use serde_json::Value;

use crate::agents::{builder, ids};

/// Longest wait for anything the agents have to do (startup included).
const WAIT: Duration = Duration::from_secs(90);
/// Heartbeat interval and missed heartbeats of all four agents: a roster entry lasts
/// 6 s, so a process that a loaded machine delays for a few seconds stays listed.
const BEAT: Duration = Duration::from_secs(1);
const MISSED: u32 = 6;
/// Periodic heartbeats every agent must publish (after the joins, see
/// [`periodic_heartbeats`]) before the test stops them.
const MIN_HEARTBEATS: usize = 2;
const RUST: &str = "rust-agent";
/// (agent id, language) of the example agents.
const EXTERNAL: [(&str, &str); 3] = [
    ("python-agent", "python"),
    ("node-agent", "node"),
    ("shell-agent", "shell"),
];

/// The contested case: one more instance of each example agent (an agent id of its
/// own, no asks), all three providing [`SHARED`], which the Rust agent then asks
/// [`CONTESTED`] times; the claims on `tasks.status` decide who runs each task.
const CONTENDERS: [(&str, &str); 3] = [
    ("python-contender", "python"),
    ("node-contender", "node"),
    ("shell-contender", "shell"),
];
const SHARED: &str = "interop-shared";
const CONTESTED: usize = 10;

/// The shell agent writes only Go's envelope fields, so its records are validated
/// without our extensions.
fn is_shell(agent: &str) -> bool {
    agent.starts_with("shell-")
}

fn skill_of(agent: &str) -> String {
    format!("interop-{}", agent.trim_end_matches("-agent"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the example agents need; `None` (after printing why) skips the test locally,
/// and in CI every missing piece is a failure.
fn prerequisites() -> Option<PathBuf> {
    let python = kafclaw_testkit::python()?;
    let root = workspace_root();
    let mut missing = Vec::new();
    let runs = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs(
        python.to_str().unwrap_or("python3"),
        &["-c", "import kafka, jsonschema"],
    ) {
        missing.push(format!(
            "{} cannot import kafka (kafka-python) and jsonschema: `cargo xtask test` installs scripts/requirements-test.txt",
            python.display()
        ));
    }
    if !runs("node", &["--version"]) {
        missing.push("node is not installed (Node.js 18 or newer)".to_owned());
    }
    if !root
        .join("examples/node-agent/node_modules/kafkajs/package.json")
        .is_file()
    {
        missing.push(
            "examples/node-agent/node_modules has no kafkajs: run `npm ci` there (`cargo xtask test` does)"
                .to_owned(),
        );
    }
    for (tool, args) in [
        ("kcat", &["-V"][..]),
        ("jq", &["--version"][..]),
        ("bash", &["--version"][..]),
    ] {
        if !runs(tool, args) {
            missing.push(format!(
                "{tool} is not installed (Debian: apt-get install {tool})"
            ));
        }
    }
    if missing.is_empty() {
        return Some(python);
    }
    let message = format!("interop prerequisites missing: {}", missing.join("; "));
    if kafclaw_testkit::is_ci(|k| std::env::var(k).ok()) {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

/// One example agent process: its JSON-lines events and its stderr, read by threads.
struct Proc {
    id: &'static str,
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
    /// The thread reading stdout: finished once the process and its children closed it.
    stdout_reader: std::thread::JoinHandle<()>,
}

impl Proc {
    /// An example agent of the main exchange: its own skill, asking the other three.
    fn spawn(id: &'static str, lang: &str, python: &Path, brokers: &str, group: &str) -> Self {
        let asks: Vec<String> = std::iter::once(RUST)
            .chain(EXTERNAL.iter().map(|(o, _)| *o))
            .filter(|other| *other != id)
            .map(|other| format!("{}=from {id} to {other}", skill_of(other)))
            .collect();
        Self::start(id, lang, &skill_of(id), &asks, python, brokers, group)
    }

    /// An example agent providing `skill` and submitting each of `asks` (`SKILL=TEXT`).
    fn start(
        id: &'static str,
        lang: &str,
        skill: &str,
        asks: &[String],
        python: &Path,
        brokers: &str,
        group: &str,
    ) -> Self {
        let root = workspace_root();
        let mut cmd = match lang {
            "python" => {
                let mut c = Command::new(python);
                c.arg(root.join("examples/python-agent/agent.py"));
                c
            }
            "node" => {
                let mut c = Command::new("node");
                c.arg(root.join("examples/node-agent/agent.js"));
                c
            }
            _ => {
                let mut c = Command::new("bash");
                c.arg(root.join("examples/shell-agent/agent.sh"));
                c
            }
        };
        cmd.arg("--skill").arg(skill);
        for ask in asks {
            cmd.arg("--ask").arg(ask);
        }
        cmd.env("KAFCLAW_GROUP_KAFKA_BROKERS", brokers)
            .env("KAFCLAW_GROUP_GROUP_NAME", group)
            .env("KAFCLAW_GROUP_AGENT_ID", id)
            .env(
                "KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS",
                format!("{}", BEAT.as_secs_f64()),
            )
            .env("KAFCLAW_GROUP_MISSED_HEARTBEATS", MISSED.to_string())
            .env("KAFCLAW_GROUP_DEFAULT_TASK_TIMEOUT_SECS", "60")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so the shell agent's kcat children go with it.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start the {lang} agent: {e}"));
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (ev, se) = (Arc::clone(&events), Arc::clone(&stderr));
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let event = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|_| serde_json::json!({"event": "not-json", "line": line}));
                ev.lock().unwrap().push(event);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = se.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self {
            id,
            child,
            events,
            stderr,
            stdout_reader,
        }
    }

    /// True once every line the agent printed has been read (stdout closed).
    fn output_read(&self) -> bool {
        self.stdout_reader.is_finished()
    }

    fn events(&self, kind: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == kind)
            .cloned()
            .collect()
    }

    fn saw_roster(&self, want: &BTreeSet<String>) -> bool {
        self.events("roster").iter().any(|e| {
            let got: BTreeSet<String> = e["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect();
            &got == want
        })
    }

    fn describe(&self) -> String {
        format!(
            "{}: events {:?}\nstderr:\n{}",
            self.id,
            self.events.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    fn signal(&self, sig: &str, group: bool) {
        let target = if group {
            format!("-{}", self.child.id())
        } else {
            self.child.id().to_string()
        };
        let _ = Command::new("kill")
            .args([sig, "--", &target])
            .stderr(Stdio::null())
            .status();
    }

    /// SIGTERM (the agent announces leave), then waits for its exit.
    fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM", false);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for an agent") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not exit after SIGTERM\n{}",
                self.id,
                self.describe()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Whatever is left of its process group (kcat consumers of a killed shell agent).
        self.signal("-KILL", true);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(what: &str, procs: &[Proc], mut cond: impl FnMut() -> bool) {
    let ok = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(50), || {
        let r = cond();
        async move { r }
    })
    .await;
    if !ok {
        let details: Vec<String> = procs.iter().map(Proc::describe).collect();
        panic!("timed out waiting for: {what}\n{}", details.join("\n"));
    }
}

/// Every record of `topic`, from the earliest offset to the current end.
async fn read_all(t: &KafkaTransport, topic: &str) -> Vec<kafclaw_group::InRecord> {
    let mut out = Vec::new();
    for p in t.partitions(topic).await.unwrap() {
        let end = t.offset(topic, p, OffsetQuery::Latest).await.unwrap();
        let mut next = t.offset(topic, p, OffsetQuery::Earliest).await.unwrap();
        let reader = t.reader(topic, p).await.unwrap();
        while next < end {
            let batch = reader
                .fetch(next, Duration::from_millis(500))
                .await
                .unwrap();
            for r in batch.records {
                if r.offset >= next && r.offset < end {
                    next = r.offset + 1;
                    out.push(r);
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_python_node_and_shell_agents_share_a_group_and_answer_each_other() {
    let broker = maybe_skip_kafka!();
    let Some(python) = prerequisites() else {
        return;
    };
    let group = random_group_name();
    let all: BTreeSet<String> = std::iter::once(RUST)
        .chain(EXTERNAL.iter().map(|(id, _)| *id))
        .map(str::to_owned)
        .collect();

    // The Rust agent: creates the group's topics and its skill's, echoes tasks.
    let served: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&served);
    let rust = builder(&broker, &group, RUST)
        .heartbeat_interval(BEAT)
        .missed_heartbeats(MISSED)
        .skills([skill_of(RUST)])
        .task_handler(move |task: IncomingTask| {
            log.lock().unwrap().push(task.requester_id().to_owned());
            let answer = format!("{RUST} (rust) did: {}", task.content());
            async move { Ok::<_, String>(answer) }
        })
        .build()
        .await
        .unwrap();
    // kcat cannot create topics and the test broker does not auto-create them: the
    // shell agent's skill topics are created for it, as an operator would.
    let transport = crate::agents::transport(&broker).await;
    create_skill_topics(&transport, &group, &skill_of("shell-agent")).await;

    // The three example agents, started together.
    let mut procs: Vec<Proc> = EXTERNAL
        .iter()
        .map(|(id, lang)| Proc::spawn(id, lang, &python, &broker.brokers, &group))
        .collect();
    rust.join().await.unwrap();

    wait_for("every agent sees all four in its roster", &procs, || {
        ids(&rust.roster()).into_iter().collect::<BTreeSet<_>>() == all
            && procs.iter().all(|p| p.saw_roster(&all))
    })
    .await;
    // Each example registered its skill in the topic manifest (control.roster), which
    // the Rust agent merged: every skill, provided by its agent, live.
    wait_for(
        "the manifest lists every skill and its provider",
        &procs,
        || {
            let skills = rust.skills();
            all.iter().all(|id| {
                skills.iter().any(|s| {
                    s.name == skill_of(id)
                        && s.registered_by == [id.clone()]
                        && s.live_providers == [id.clone()]
                })
            })
        },
    )
    .await;

    // Rust -> each of the others, while they ask each other (and Rust) on their own.
    for (id, lang) in EXTERNAL {
        let text = format!("from {RUST} to {id}");
        let resp = tokio::time::timeout(
            WAIT,
            rust.submit(TaskSpec::open(text.clone()).skill(skill_of(id))),
        )
        .await
        .unwrap_or_else(|_| panic!("no answer from {id}"))
        .unwrap_or_else(|e| panic!("task to {id}: {e}"));
        assert_eq!(resp.status, "completed", "{resp:?}");
        assert_eq!(resp.responder_id, id, "{resp:?}");
        assert_eq!(resp.content, format!("{id} ({lang}) did: {text}"));
    }
    // Rust -> each of the others by agent id: a `request` with `target_id` and no
    // skill on group.{g}.requests, answered by a `response` on group.{g}.responses.
    // task id -> the agent it was for.
    let mut targeted: BTreeMap<String, String> = BTreeMap::new();
    for (id, lang) in EXTERNAL {
        let text = format!("targeted from {RUST} to {id}");
        let resp = tokio::time::timeout(WAIT, rust.submit(TaskSpec::to(id, text.clone())))
            .await
            .unwrap_or_else(|_| panic!("no answer from {id} to a targeted task"))
            .unwrap_or_else(|e| panic!("targeted task to {id}: {e}"));
        assert_eq!(resp.status, "completed", "{resp:?}");
        assert_eq!(resp.responder_id, id, "{resp:?}");
        assert_eq!(resp.content, format!("{id} ({lang}) did: {text}"));
        targeted.insert(resp.task_id.clone(), id.to_owned());
    }
    assert_eq!(targeted.len(), EXTERNAL.len(), "task ids: {targeted:?}");
    wait_for("every example agent has its three answers", &procs, || {
        procs.iter().all(|p| p.events("answer").len() >= 3)
    })
    .await;
    for (p, (_, _)) in procs.iter().zip(EXTERNAL) {
        let mut asked = BTreeSet::new();
        for a in p.events("answer") {
            let skill = a["skill"].as_str().unwrap_or_default().to_owned();
            let to = all
                .iter()
                .find(|id| skill_of(id) == skill)
                .unwrap_or_else(|| panic!("{}: answer for an unknown skill: {a}", p.id));
            let lang = if to == RUST {
                "rust"
            } else {
                EXTERNAL
                    .iter()
                    .find(|(id, _)| id == to)
                    .map(|(_, l)| *l)
                    .unwrap()
            };
            assert_eq!(a["status"], "completed", "{}: {a}\n{}", p.id, p.describe());
            assert_eq!(a["responder_id"], to.as_str(), "{}: {a}", p.id);
            assert_eq!(
                a["content"],
                format!("{to} ({lang}) did: from {} to {to}", p.id),
                "{}: {a}",
                p.id
            );
            asked.insert(to.clone());
        }
        let expected: BTreeSet<String> = all.iter().filter(|id| *id != p.id).cloned().collect();
        assert_eq!(asked, expected, "{} asked", p.id);
    }
    // Each agent ran exactly the three skill tasks the others sent it, and the one
    // task the Rust agent targeted at it (no skill).
    wait_for("every example agent served four tasks", &procs, || {
        procs.iter().all(|p| p.events("served").len() >= 4)
    })
    .await;
    for p in &procs {
        let (by_skill, other): (Vec<Value>, Vec<Value>) = p
            .events("served")
            .into_iter()
            .partition(|e| e["skill"] == skill_of(p.id).as_str());
        let from: Vec<String> = by_skill
            .iter()
            .map(|e| e["requester_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = all.iter().filter(|id| *id != p.id).cloned().collect();
        let mut sorted = from.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "{} served {from:?}", p.id);
        let task: Vec<&String> = targeted
            .iter()
            .filter(|(_, to)| to.as_str() == p.id)
            .map(|(task, _)| task)
            .collect();
        assert_eq!(
            other.len(),
            1,
            "{} served besides its skill: {other:?}",
            p.id
        );
        assert_eq!(other[0]["task_id"], task[0].as_str(), "{}: {other:?}", p.id);
        assert_eq!(other[0]["requester_id"], RUST, "{}: {other:?}", p.id);
        assert_eq!(other[0]["skill"], "", "{}: {other:?}", p.id);
    }
    let mut rust_served = served.lock().unwrap().clone();
    rust_served.sort();
    let mut expected: Vec<String> = EXTERNAL.iter().map(|(id, _)| id.to_string()).collect();
    expected.sort();
    assert_eq!(rust_served, expected, "the Rust agent served");

    // Periodic heartbeats, read on the wire while every agent still runs: at least
    // MIN_HEARTBEATS each after the joins (a deadline, not a sleep: the interval is
    // BEAT, so this takes a few seconds at most after the exchanges above).
    let announce = format!("group.{group}.announce");
    let beating = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(500), || {
        let (transport, announce, all) = (&transport, &announce, &all);
        async move {
            let beats = periodic_heartbeats(&read_all(transport, announce).await, all);
            all.iter()
                .all(|a| beats.get(a).copied().unwrap_or(0) >= MIN_HEARTBEATS)
        }
    })
    .await;
    if !beating {
        let beats = periodic_heartbeats(&read_all(&transport, &announce).await, &all);
        let details: Vec<String> = procs.iter().map(Proc::describe).collect();
        panic!(
            "timed out waiting for {MIN_HEARTBEATS} periodic heartbeats from every agent: {beats:?}\n{}",
            details.join("\n")
        );
    }

    // Contested: three more example agents provide one shared skill; each of the
    // Rust agent's tasks for it must be run by the first claimant only.
    contested_skill_tasks(&rust, &transport, &group, &python, &broker.brokers).await;
    let mut rust_served = served.lock().unwrap().clone();
    rust_served.sort();
    assert_eq!(
        rust_served, expected,
        "the Rust agent served (after the contest)"
    );

    // Every agent leaves cleanly.
    for p in &mut procs {
        let status = p.stop();
        assert!(
            status.success(),
            "{} exited with {status}\n{}",
            p.id,
            p.describe()
        );
    }
    for p in &procs {
        assert!(
            !p.events("not-json").iter().any(|_| true),
            "{} printed lines that are not JSON\n{}",
            p.id,
            p.describe()
        );
    }
    rust.shutdown().await;

    check_records(&transport, &group, &all, &targeted, &python).await;
}

/// Contested tasks: task id -> (the content sent, the Rust agent's answer, the
/// claim winner as the Rust agent saw it).
type Asked = BTreeMap<String, (String, kafclaw_envelope::TaskResponse, Option<String>)>;
/// Task id -> its records on one topic, in partition order, with their partition.
type ByTask = BTreeMap<String, Vec<(i32, Value)>>;

/// The contested case: [`CONTENDERS`] (a second instance of each example agent, with
/// an agent id of its own) all provide [`SHARED`], and the Rust agent submits
/// [`CONTESTED`] skill tasks for it at once. The claim rule (docs/wire-protocol.md:
/// the first `accepted` on `tasks.status` in partition order, whose `responder_id`
/// is its sender, wins; only the winner runs the task) is checked on the wire and in
/// the contenders' own `served` events, which must agree with each other and with the
/// answers the Rust agent got. The contenders are stopped (SIGTERM, clean exit) before
/// the wire is read, so a late answer from a loser cannot be missed.
async fn contested_skill_tasks(
    rust: &kafclaw_group::GroupAgent,
    transport: &KafkaTransport,
    group: &str,
    python: &Path,
    brokers: &str,
) {
    // kcat cannot create topics: the shared skill's exist before the shell contender.
    create_skill_topics(transport, group, SHARED).await;
    let mut contenders: Vec<Proc> = CONTENDERS
        .iter()
        .map(|(id, lang)| Proc::start(id, lang, SHARED, &[], python, brokers, group))
        .collect();
    let providers: Vec<String> = CONTENDERS
        .iter()
        .map(|(id, _)| (*id).to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // `ready` comes after an agent fixed its start positions (by record time, from
    // its start): every request written after it reaches it.
    wait_for("every contender is ready", &contenders, || {
        contenders.iter().all(|p| !p.events("ready").is_empty())
    })
    .await;
    wait_for(
        &format!("the manifest lists {providers:?} as the live providers of {SHARED}"),
        &contenders,
        || {
            rust.skills().iter().any(|s| {
                s.name == SHARED && s.registered_by == providers && s.live_providers == providers
            })
        },
    )
    .await;

    // All tasks out first, then all answers awaited together, so the contenders
    // race for each of them.
    let mut pending = Vec::new();
    for i in 0..CONTESTED {
        let text = format!("contested task {i} from {RUST}");
        let task = rust
            .submit_task(TaskSpec::open(text.clone()).skill(SHARED))
            .await
            .unwrap_or_else(|e| panic!("submit {text}: {e}"));
        pending.push((text, task));
    }
    let answers = futures::future::join_all(pending.into_iter().map(|(text, task)| async move {
        let id = task.task_id().to_owned();
        let progress = task.progress();
        let resp = tokio::time::timeout(WAIT, task.wait()).await;
        // The claim winner as the Rust agent saw it, if it read the claim before the
        // answer (it stops following a task once answered).
        let worker = progress.borrow().worker.clone();
        (id, text, resp, worker)
    }))
    .await;
    let mut asked: Asked = BTreeMap::new();
    for (id, text, resp, worker) in answers {
        let resp = match resp {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => panic!("{text} ({id}): {e}"),
            Err(_) => {
                let details: Vec<String> = contenders.iter().map(Proc::describe).collect();
                panic!("no answer to {text} ({id})\n{}", details.join("\n"));
            }
        };
        assert!(
            asked.insert(id.clone(), (text, resp, worker)).is_none(),
            "task id {id} used twice"
        );
    }
    assert_eq!(asked.len(), CONTESTED);

    // The winners finish with `completed` on tasks.status after their answer.
    let status_topic = format!("group.{group}.tasks.status");
    let finished = kafclaw_testkit::wait_until_async(WAIT, Duration::from_millis(200), || {
        let (transport, status_topic, asked) = (transport, &status_topic, &asked);
        async move {
            let done: BTreeSet<String> = read_all(transport, status_topic)
                .await
                .iter()
                .filter_map(|r| serde_json::from_slice::<Value>(&r.value).ok())
                .filter(|v| v["payload"]["status"] == "completed")
                .filter_map(|v| v["payload"]["task_id"].as_str().map(str::to_owned))
                .collect();
            asked.keys().all(|t| done.contains(t))
        }
    })
    .await;
    assert!(
        finished,
        "not every contested task has a `completed` status on {status_topic}"
    );
    // A barrier before stopping them: each contender answers a task targeted at it,
    // sent now. Each agent handles records in the order it reads them, and the
    // contested requests were read long before, so once it logged this one it has
    // done all it would do about the contested tasks (a loser's wrong answer
    // included); only then are they stopped.
    let barriers = futures::future::join_all(CONTENDERS.iter().map(|(id, lang)| async move {
        let text = format!("barrier for {id}");
        let resp = tokio::time::timeout(WAIT, rust.submit(TaskSpec::to(*id, text.clone())))
            .await
            .unwrap_or_else(|_| panic!("no answer from {id} to its barrier task"))
            .unwrap_or_else(|e| panic!("barrier task to {id}: {e}"));
        assert_eq!(resp.status, "completed", "{resp:?}");
        assert_eq!(resp.responder_id, *id, "{resp:?}");
        assert_eq!(resp.content, format!("{id} ({lang}) did: {text}"));
        ((*id).to_owned(), resp.task_id)
    }))
    .await;
    // barrier task id -> its contender
    let barriers: BTreeMap<String, String> = barriers.into_iter().map(|(id, t)| (t, id)).collect();
    wait_for(
        "every contender logged its barrier task",
        &contenders,
        || {
            contenders.iter().all(|p| {
                p.events("served").iter().any(|e| {
                    barriers.get(e["task_id"].as_str().unwrap_or_default())
                        == Some(&p.id.to_owned())
                })
            })
        },
    )
    .await;
    for p in &mut contenders {
        let status = p.stop();
        assert!(
            status.success(),
            "{} exited with {status}\n{}",
            p.id,
            p.describe()
        );
    }
    wait_for(
        "the contenders' output is read to its end",
        &contenders,
        || contenders.iter().all(Proc::output_read),
    )
    .await;

    // What each contender says it ran: task id -> agents.
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for p in &contenders {
        if !p.events("not-json").is_empty() {
            problems.push(format!("{} printed lines that are not JSON", p.id));
        }
        for e in p.events("served") {
            let task = e["task_id"].as_str().unwrap_or_default().to_owned();
            if let Some(to) = barriers.get(&task) {
                if to != p.id || e["skill"] != "" || e["requester_id"] != RUST {
                    problems.push(format!("{} served {to}'s barrier task: {e}", p.id));
                }
                continue;
            }
            if e["skill"] != SHARED || e["requester_id"] != RUST {
                problems.push(format!("{} served something else: {e}", p.id));
            }
            ran.entry(task).or_default().push(p.id.to_owned());
        }
    }
    problems.extend(check_contest(transport, group, &asked, &ran).await);
    if !problems.is_empty() {
        let details: Vec<String> = contenders.iter().map(Proc::describe).collect();
        panic!(
            "the claim rule does not hold for the contested skill {SHARED}:\n{}\n\n{}",
            problems.join("\n"),
            details.join("\n")
        );
    }
}

/// The contested tasks on the wire (read raw, every partition from its start) against
/// the claim rule, the Rust agent's answers and the contenders' logs (`ran`: task id
/// -> the contenders whose `served` events name it). Returns what is wrong.
async fn check_contest(
    transport: &KafkaTransport,
    group: &str,
    asked: &Asked,
    ran: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let contender = |id: &str| CONTENDERS.iter().find(|(c, _)| *c == id).map(|(_, l)| *l);
    // topic -> (task id -> its records on that topic, in partition order)
    let mut by_task: BTreeMap<&str, ByTask> = BTreeMap::new();
    let topics = [
        ("status", format!("group.{group}.tasks.status")),
        (
            "skill requests",
            format!("group.{group}.skill.{SHARED}.requests"),
        ),
        (
            "skill responses",
            format!("group.{group}.skill.{SHARED}.responses"),
        ),
        ("requests", format!("group.{group}.requests")),
        ("responses", format!("group.{group}.responses")),
    ];
    for (what, topic) in &topics {
        let map = by_task.entry(what).or_default();
        for r in read_all(transport, topic).await {
            let Ok(v) = serde_json::from_slice::<Value>(&r.value) else {
                continue; // check_records reports it
            };
            let Some(task) = v["payload"]["task_id"].as_str().map(str::to_owned) else {
                continue;
            };
            // Everything on the shared skill's topics must belong to an asked task.
            if what.starts_with("skill") || asked.contains_key(&task) {
                map.entry(task).or_default().push((r.partition, v));
            }
        }
    }
    let on = |what: &str, task: &str| -> Vec<(i32, Value)> {
        by_task[what].get(task).cloned().unwrap_or_default()
    };
    for what in ["skill requests", "skill responses"] {
        for task in by_task[what].keys() {
            if !asked.contains_key(task) {
                problems.push(format!("{what} of {SHARED} for a task never asked: {task}"));
            }
        }
    }
    // Per agent, how many claims it made and won (printed, to see the race).
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut contested = 0;
    for (task, (text, answer, worker)) in asked {
        let reqs = on("skill requests", task);
        if reqs.len() != 1
            || reqs[0].1["type"] != "skill_request"
            || reqs[0].1["sender_id"] != RUST
            || reqs[0].1["payload"]["requester_id"] != RUST
            || reqs[0].1["payload"]["skill"] != SHARED
        {
            problems.push(format!(
                "{task}: not exactly one skill_request from {RUST}: {reqs:?}"
            ));
        }
        for what in ["requests", "responses"] {
            let stray = on(what, task);
            if !stray.is_empty() {
                problems.push(format!(
                    "{task}: records on group.{group}.{what}: {stray:?}"
                ));
            }
        }
        // The claims, in partition order (the key puts them all in one partition).
        let statuses = on("status", task);
        let parts: BTreeSet<i32> = statuses.iter().map(|(p, _)| *p).collect();
        if parts.len() > 1 {
            problems.push(format!("{task}: its statuses are in partitions {parts:?}"));
        }
        let claims: Vec<String> = statuses
            .iter()
            .map(|(_, v)| v)
            .filter(|v| {
                v["type"] == "task_status"
                    && v["payload"]["status"] == "accepted"
                    && v["payload"]["responder_id"] == v["sender_id"]
            })
            .filter_map(|v| v["sender_id"].as_str().map(str::to_owned))
            .collect();
        let Some(winner) = claims.first().cloned() else {
            problems.push(format!("{task}: no claim on tasks.status: {statuses:?}"));
            continue;
        };
        let claimants: BTreeSet<&String> = claims.iter().collect();
        if claimants.len() != claims.len() {
            problems.push(format!("{task}: an agent claimed it twice: {claims:?}"));
        }
        if let Some(c) = claimants.iter().find(|c| contender(c).is_none()) {
            problems.push(format!(
                "{task}: claimed by {c}, which does not provide {SHARED}"
            ));
        }
        if claimants.len() > 1 {
            contested += 1;
        }
        for c in &claimants {
            let t = tally.entry((*c).clone()).or_default();
            t.0 += 1;
            t.1 += usize::from(**c == winner);
        }
        // Only the winner finishes it, with one completed status and one answer.
        let completed: Vec<&Value> = statuses
            .iter()
            .map(|(_, v)| v)
            .filter(|v| v["payload"]["status"] == "completed")
            .collect();
        if completed.len() != 1 || completed[0]["sender_id"] != winner.as_str() {
            problems.push(format!(
                "{task}: won by {winner} (claims {claims:?}), completed statuses: {completed:?}"
            ));
        }
        let resps = on("skill responses", task);
        if resps.len() != 1 {
            problems.push(format!(
                "{task}: won by {winner} (claims {claims:?}), {} answers on the wire: {resps:?}",
                resps.len()
            ));
        }
        for (_, r) in &resps {
            if r["type"] != "skill_response"
                || r["sender_id"] != winner.as_str()
                || r["payload"]["responder_id"] != winner.as_str()
                || r["payload"]["status"] != "completed"
            {
                problems.push(format!(
                    "{task}: won by {winner} (claims {claims:?}), answered by: {r}"
                ));
            }
        }
        // The Rust agent's answer came from the winner, with the winner's content.
        let lang = contender(&winner).unwrap_or("?");
        if answer.responder_id != winner
            || answer.status != "completed"
            || answer.content != format!("{winner} ({lang}) did: {text}")
        {
            problems.push(format!(
                "{task}: won by {winner} (claims {claims:?}), the Rust agent got {answer:?}"
            ));
        }
        if worker.as_ref().is_some_and(|w| *w != winner) {
            problems.push(format!(
                "{task}: won by {winner} on the wire, by {worker:?} for the Rust agent"
            ));
        }
        // The contenders' own logs: run once, by the winner.
        let runners = ran.get(task).cloned().unwrap_or_default();
        if runners != [winner.clone()] {
            problems.push(format!(
                "{task}: won by {winner} (claims {claims:?}), run by {runners:?}"
            ));
        }
    }
    for task in ran.keys() {
        if !asked.contains_key(task) {
            problems.push(format!("a contender ran a task never asked: {task}"));
        }
    }
    // A race that nobody contested would test nothing: some task must have drawn
    // claims from two agents at least.
    if contested == 0 {
        problems.push(format!(
            "no task drew two claims (claims, wins per agent: {tally:?})"
        ));
    }
    eprintln!(
        "contested {SHARED}: {contested} of {CONTESTED} tasks claimed by two or more; claims, wins per agent: {tally:?}"
    );
    problems
}

/// Per agent of `all`, the `heartbeat` announces it published on `announce` later
/// than two heartbeat intervals after the last `join` of `all` (by record time): by
/// then the extra heartbeat an agent sends at once to greet a newcomer is out, so
/// what is counted is periodic. Empty until every agent of `all` has joined.
fn periodic_heartbeats(
    announce: &[kafclaw_group::InRecord],
    all: &BTreeSet<String>,
) -> BTreeMap<String, usize> {
    let parsed: Vec<(i64, String, String)> = announce
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_slice(&r.value).ok()?;
            if v["type"] != "announce" {
                return None;
            }
            let sender = v["sender_id"].as_str()?.to_owned();
            let action = v["payload"]["action"].as_str()?.to_owned();
            Some((r.timestamp.timestamp_millis(), sender, action))
        })
        .collect();
    let joined: BTreeMap<&String, i64> = parsed
        .iter()
        .filter(|(_, sender, action)| action == "join" && all.contains(sender))
        .fold(BTreeMap::new(), |mut m, (at, sender, _)| {
            let e = m.entry(sender).or_insert(*at);
            *e = (*e).max(*at);
            m
        });
    if joined.len() < all.len() {
        return BTreeMap::new();
    }
    let after = joined.values().copied().max().unwrap_or_default()
        + 2 * i64::try_from(BEAT.as_millis()).unwrap();
    let mut beats: BTreeMap<String, usize> = all.iter().map(|a| (a.clone(), 0)).collect();
    for (at, sender, action) in &parsed {
        if action == "heartbeat"
            && *at > after
            && let Some(n) = beats.get_mut(sender)
        {
            *n += 1;
        }
    }
    beats
}

/// Every record on the group's topics: in the partition its key hashes to, valid
/// for our validator (strict for the agents that write our extensions) and for the
/// published schemas through the Python `jsonschema` library.
async fn check_records(
    transport: &KafkaTransport,
    group: &str,
    all: &BTreeSet<String>,
    targeted: &BTreeMap<String, String>,
    python: &Path,
) {
    let group_name = kafclaw_envelope::GroupName::new(group).unwrap();
    let mut topics: Vec<String> = group_name.all_topics().into_iter().collect();
    // Every agent's skill, and the contested one.
    for skill in all.iter().map(|a| skill_of(a)).chain([SHARED.to_owned()]) {
        for dir in ["requests", "responses"] {
            topics.push(format!("group.{group}.skill.{skill}.{dir}"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("records.jsonl");
    let mut file = std::fs::File::create(&jsonl).unwrap();
    // sender -> types it wrote
    let mut wrote: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut announces = Vec::new();
    // targeted task id -> its requests on group.{g}.requests, its responses on
    // group.{g}.responses
    let mut targeted_requests: BTreeMap<&String, Vec<Value>> = BTreeMap::new();
    let mut targeted_responses: BTreeMap<&String, Vec<Value>> = BTreeMap::new();
    let (requests, responses) = (
        format!("group.{group}.requests"),
        format!("group.{group}.responses"),
    );
    let mut count = 0;
    for topic in &topics {
        let partitions = transport.partitions(topic).await.unwrap().len();
        for r in read_all(transport, topic).await {
            count += 1;
            let value: Value = serde_json::from_slice(&r.value).unwrap_or_else(|e| {
                panic!(
                    "{topic}[{}]@{}: not JSON ({e}): {}",
                    r.partition,
                    r.offset,
                    String::from_utf8_lossy(&r.value)
                )
            });
            let sender = value["sender_id"].as_str().unwrap_or_default().to_owned();
            let kind = value["type"].as_str().unwrap_or_default().to_owned();
            if let Some(key) = &r.key {
                assert_eq!(
                    r.partition,
                    kafclaw_group::partition_for_key(key, partitions),
                    "{topic}@{}: {sender}'s record with key {:?} is not in murmur2's partition",
                    r.offset,
                    String::from_utf8_lossy(key)
                );
            }
            let strict = !is_shell(&sender);
            let problems = validate(
                &value,
                &ValidateOptions {
                    topic: Some(topic),
                    strict,
                },
            );
            assert!(
                problems.is_empty(),
                "{topic}[{}]@{} from {sender} (strict: {strict}): {problems:?}\n{value}",
                r.partition,
                r.offset
            );
            if let Some((task, _)) = value["payload"]["task_id"]
                .as_str()
                .and_then(|t| targeted.get_key_value(t))
            {
                if *topic == requests && kind == "request" {
                    targeted_requests
                        .entry(task)
                        .or_default()
                        .push(value.clone());
                } else if *topic == responses && kind == "response" {
                    targeted_responses
                        .entry(task)
                        .or_default()
                        .push(value.clone());
                }
            }
            wrote.entry(sender).or_default().insert(kind);
            let line = serde_json::json!({
                "topic": topic,
                "partition": r.partition,
                "offset": r.offset,
                "value": String::from_utf8_lossy(&r.value),
            });
            writeln!(file, "{line}").unwrap();
            if topic.ends_with(".announce") {
                announces.push(r);
            }
        }
    }
    drop(file);
    for agent in all {
        let kinds = wrote.get(agent).cloned().unwrap_or_default();
        // The example agents also answered a targeted task with a `response`.
        let response = (agent != RUST).then_some("response");
        for kind in ["announce", "skill_request", "skill_response", "task_status"]
            .into_iter()
            .chain(response)
        {
            assert!(
                kinds.contains(kind),
                "{agent} wrote no {kind} (it wrote {kinds:?})"
            );
        }
    }
    // The contenders joined after the main exchange: the heartbeats the others sent
    // at once to greet them are not periodic, so only what came before counts.
    for (agent, _) in CONTENDERS {
        let kinds = wrote.get(agent).cloned().unwrap_or_default();
        for kind in ["announce", "task_status"] {
            assert!(
                kinds.contains(kind),
                "{agent} wrote no {kind} (it wrote {kinds:?})"
            );
        }
    }
    let contenders_joined = announces
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.value).is_ok_and(|v| {
                v["payload"]["action"] == "join"
                    && CONTENDERS.iter().any(|(c, _)| v["sender_id"] == *c)
            })
        })
        .map(|r| r.timestamp)
        .min()
        .expect("the contenders' joins on announce");
    announces.retain(|r| r.timestamp < contenders_joined);
    let beats = periodic_heartbeats(&announces, all);
    for agent in all {
        assert!(
            beats.get(agent).copied().unwrap_or(0) >= MIN_HEARTBEATS,
            "{agent} did not publish {MIN_HEARTBEATS} periodic heartbeats: {beats:?}"
        );
    }
    // Each targeted task: one `request` from the Rust agent with its target and no
    // skill, and exactly one `response`, completed by its target.
    for (task, to) in targeted {
        let reqs = targeted_requests.get(task).cloned().unwrap_or_default();
        assert_eq!(reqs.len(), 1, "requests of targeted task {task}: {reqs:?}");
        let req = &reqs[0];
        assert_eq!(req["sender_id"], RUST, "{req}");
        assert_eq!(req["payload"]["requester_id"], RUST, "{req}");
        assert_eq!(req["payload"]["target_id"], to.as_str(), "{req}");
        assert!(req["payload"]["skill"].is_null(), "{req}");
        let resps = targeted_responses.get(task).cloned().unwrap_or_default();
        assert_eq!(
            resps.len(),
            1,
            "responses to targeted task {task}: {resps:?}"
        );
        let resp = &resps[0];
        assert_eq!(resp["sender_id"], to.as_str(), "{resp}");
        assert_eq!(resp["payload"]["responder_id"], to.as_str(), "{resp}");
        assert_eq!(resp["payload"]["status"], "completed", "{resp}");
    }
    let root = workspace_root();
    let out = Command::new(python)
        .arg(root.join("scripts/validate_records.py"))
        .arg(root.join("schemas"))
        .arg(&jsonl)
        .output()
        .expect("run scripts/validate_records.py");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "records that do not validate against schemas/:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("{count} valid, 0 invalid")),
        "{report}"
    );
}

/// The interop test runs examples/python-agent with the test environment's packages,
/// so the example's pinned requirements must be pinned there too.
#[test]
fn the_python_agent_requirements_are_in_the_test_environment() {
    let root = workspace_root();
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let pins = |text: &str| -> BTreeSet<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let example = pins(&read("examples/python-agent/requirements.txt"));
    let test_env = pins(&read("scripts/requirements-test.txt"));
    assert!(!example.is_empty());
    let missing: Vec<&String> = example.difference(&test_env).collect();
    assert!(
        missing.is_empty(),
        "pinned in examples/python-agent/requirements.txt but not in scripts/requirements-test.txt: {missing:?}"
    );
}

/// examples/shell-agent/agent.sh runs only with the kcat and jq major.minor versions
/// it was tested with (its README): another one, or one it cannot read, exits 2 with
/// a message before the agent touches a broker; the tested ones pass the check, and
/// it prints the versions it runs with. Fake `kcat` and `jq` first on PATH play the
/// versions.
#[test]
fn the_shell_agent_checks_the_kcat_and_jq_versions() {
    use std::os::unix::fs::PermissionsExt as _;
    if !Command::new("bash")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            !kafclaw_testkit::is_ci(|k| std::env::var(k).ok()),
            "bash is not installed"
        );
        eprintln!("skipping: bash is not installed");
        return;
    }
    let script = workspace_root().join("examples/shell-agent/agent.sh");
    let run = |kcat: &str, jq: &str| {
        let dir = tempfile::tempdir().unwrap();
        for (tool, out) in [("kcat", kcat), ("jq", jq)] {
            let path = dir.path().join(tool);
            std::fs::write(&path, format!("#!/bin/sh\n{out}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // An invalid --missed-heartbeats stops the agent (exit 2) right after the
        // version check, before it reads or writes anything.
        let out = Command::new("bash")
            .arg(&script)
            .args([
                "--group",
                "g",
                "--agent-id",
                "sh-v",
                "--missed-heartbeats",
                "0",
            ])
            .env("PATH", path)
            .env_remove("KAFCLAW_GROUP_KAFKA_BROKERS")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let kcat_ok = "echo 'Version 1.7.1 (JSON, Transactions, librdkafka 2.0.2)'";
    let jq_ok = "echo jq-1.6";
    let (code, err) = run(kcat_ok, jq_ok);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("shell agent sh-v: bash ") && err.contains(", kcat 1.7.1, jq 1.6\n"),
        "{err}"
    );
    assert!(err.contains("--missed-heartbeats must be"), "{err}");
    for (kcat, jq, want) in [
        ("echo 'Version 1.6.0 (JSON)'", jq_ok, "kcat 1.6.0 ("),
        ("echo 'Version 1.70.0 (JSON)'", jq_ok, "kcat 1.70.0 ("),
        ("exit 1", jq_ok, "kcat of an unknown version ("),
        (kcat_ok, "echo jq-1.7.1", "jq 1.7.1 ("),
        (kcat_ok, "echo jq-1.61", "jq 1.61 ("),
    ] {
        let (code, err) = run(kcat, jq);
        assert_eq!(code, Some(2), "{kcat} / {jq}: {err}");
        assert!(
            err.contains(&format!("error: {want}")) && err.contains("tested with"),
            "{kcat} / {jq}: {err}"
        );
        assert!(!err.contains("shell agent sh-v:"), "{kcat} / {jq}: {err}");
    }
}

/// scripts/validate_records.py, which the interop test trusts, rejects what it must:
/// a payload field out of its enum, a type on the wrong topic, a value that is not
/// JSON; and accepts a golden example.
#[test]
fn the_record_validator_rejects_invalid_records() {
    let Some(python) = kafclaw_testkit::python() else {
        return;
    };
    let root = workspace_root();
    let good = std::fs::read_to_string(root.join("schemas/examples/task_status.json")).unwrap();
    let good: Value = serde_json::from_str(&good).unwrap();
    let mut bad_status = good.clone();
    bad_status["payload"]["status"] = "done".into();
    let record = |topic: &str, offset: u32, value: String| {
        serde_json::json!({"topic": topic, "partition": 0, "offset": offset, "value": value})
            .to_string()
    };
    let run = |lines: &[String]| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, lines.join("\n")).unwrap();
        let out = Command::new(&python)
            .arg(root.join("scripts/validate_records.py"))
            .arg(root.join("schemas"))
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&[record("group.g.tasks.status", 1, good.to_string())]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 valid, 0 invalid"), "{out}");
    let (code, out) = run(&[
        record("group.g.tasks.status", 1, good.to_string()),
        record("group.g.tasks.status", 2, bad_status.to_string()),
        record("group.g.requests", 3, good.to_string()),
        record("group.g.announce", 4, "{not json".to_owned()),
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("/payload/status"), "{out}");
    assert!(
        out.contains("not allowed on group.{group}.requests"),
        "{out}"
    );
    assert!(out.contains("1 valid, 3 invalid"), "{out}");
}

/// Creates both topics of `skill` (kcat cannot create topics, and the test broker does
/// not auto-create them).
async fn create_skill_topics(transport: &KafkaTransport, group: &str, skill: &str) {
    let group = kafclaw_envelope::GroupName::new(group).unwrap();
    let skill = kafclaw_envelope::SkillName::new(skill).unwrap();
    let (requests, responses) = group.skill_topics(&skill).unwrap();
    for topic in [requests, responses] {
        transport.ensure_topic(&topic, 3, 1).await.unwrap();
    }
}
