//! group-echo: the smallest useful KafClaw group agent, built on `kafclaw-group`.
//!
//! It joins a group, provides the skill `echo` (tasks for it are claimed by one
//! provider), answers every task it wins with an echo, prints the roster whenever it
//! changes and every shared-memory item it receives (the memory hook), and leaves on
//! Ctrl-C. With `--ask TEXT` it instead submits TEXT as an open task (`--to AGENT
//! TEXT` to one agent, `--skill echo TEXT` to the skill's providers), prints the
//! answer and exits; `--share TITLE TEXT` shares TEXT as a memory item. Configured
//! like `kafclaw` itself:
//!
//! ```text
//! KAFCLAW_GROUP_KAFKA_BROKERS=127.0.0.1:9092 KAFCLAW_GROUP_GROUP_NAME=demo \
//!   KAFCLAW_GROUP_AGENT_ID=echo-1 cargo run -p group-echo
//! KAFCLAW_GROUP_GROUP_NAME=demo KAFCLAW_GROUP_AGENT_ID=asker \
//!   cargo run -p group-echo -- --ask "hello group"
//! ```

use std::time::Duration;

use anyhow::Context as _;
use kafclaw_group::{GroupAgent, IncomingTask, KafkaSettings, MemoryShare, TaskSpec};

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let brokers = env_or("KAFCLAW_GROUP_KAFKA_BROKERS", "localhost:9092");
    let group = env_or("KAFCLAW_GROUP_GROUP_NAME", "demo");
    let agent_id = env_or(
        "KAFCLAW_GROUP_AGENT_ID",
        &format!("echo-{}", std::process::id()),
    );
    let heartbeat: u64 = env_or("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS", "5")
        .parse()
        .context("KAFCLAW_GROUP_HEARTBEAT_INTERVAL_SECS must be a whole number of seconds")?;
    let args: Vec<String> = std::env::args().skip(1).collect();

    // Build the agent: it connects, creates the group topics, and reads the recent
    // announces, so its roster is current before it joins.
    let me = agent_id.clone();
    let agent = GroupAgent::builder(KafkaSettings::plaintext(&brokers), &group, &agent_id)
        .role("worker")
        .heartbeat_interval(Duration::from_secs(heartbeat))
        .task_handler(move |task: IncomingTask| {
            let answer = format!("{me} echoes: {}", task.content());
            async move { Ok(answer) }
        })
        // Skills given here are registered at build: topics, manifest, subscription.
        .skills(["echo"])
        // Whoever indexes memory gets the content with author, tags and provenance.
        .memory_hook(|m| {
            println!(
                "memory from {} on {}@{}: {} [{}] {} bytes",
                m.author,
                m.provenance.topic,
                m.provenance.offset,
                m.item.title,
                m.tags.join(","),
                m.content.len()
            );
        })
        .build()
        .await
        .with_context(|| format!("cannot reach group {group} at {brokers}"))?;

    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--share", title, text] => {
            let item = agent
                .share_memory(MemoryShare::new(*title, *text).tags(["group-echo"]))
                .await
                .context("cannot share")?;
            println!("shared {}", item.item_id);
            agent.halt().await;
            return Ok(());
        }
        ["--ask", text] | ["--to", _, text] | ["--skill", _, text] => {
            let spec = match args.first().map(String::as_str) {
                Some("--to") => TaskSpec::to(&args[1], *text),
                Some("--skill") => TaskSpec::open(*text).skill(&args[1]),
                _ => TaskSpec::open(*text),
            };
            let response = agent
                .submit(spec.timeout(Duration::from_secs(60)))
                .await
                .context("no answer")?;
            println!(
                "{} ({}): {}",
                response.responder_id, response.status, response.content
            );
            agent.halt().await;
            return Ok(());
        }
        [] => {}
        _ => anyhow::bail!(
            "usage: group-echo [--ask TEXT | --to AGENT TEXT | --skill NAME TEXT | --share TITLE TEXT]"
        ),
    }

    agent.join().await.context("cannot join")?;
    println!("{agent_id} joined group {group}; Ctrl-C to leave");
    let mut roster = agent.watch_roster();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            changed = roster.changed() => {
                if changed.is_err() {
                    break;
                }
                let names: Vec<String> =
                    roster.borrow_and_update().iter().map(|m| m.agent_id.clone()).collect();
                println!("members: {}", names.join(", "));
            }
        }
    }
    agent.shutdown().await;
    println!("{agent_id} left group {group}");
    Ok(())
}
