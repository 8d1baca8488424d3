//! `kafclaw group members|status|submit|join|leave|skills|manifest|memory`: the group over
//! Kafka from the command line, configured by `group.*` (and
//! `orchestrator.role/zoneId/parentId`). These read Kafka directly; no gateway has to run.
//! `kafclaw group tasks|traces|audit` read what this agent recorded in its timeline
//! (group_log_cmd.rs), as the gateway's group API does.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use clap::Subcommand;
use kafclaw_config::{LoadedConfig, OnboardMode, SecurityProtocol};
use kafclaw_envelope::{AgentIdentity, GroupName, GroupTopic};
use kafclaw_group::{
    Error as GroupError, GroupAgent, GroupAgentBuilder, KafkaSettings, KafkaTransport, LfsClient,
    Member, MemoryOffsetStore, MemoryOptions, MemoryShare, Onboarding, TaskSpec, TlsFiles,
};

use crate::{EXIT_FAILURE, EXIT_USAGE, setup};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The live roster, read from Kafka (announces within the last heartbeat interval ×
    /// missed heartbeats).
    Members {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Group settings, topics, and whether this agent is in the roster.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Submit a task as this agent and print the response's content.
    ///
    /// Exits 0 when the task completed, 1 when it failed, was rejected or timed out
    /// (the reason on stderr).
    Submit {
        /// Address the task to one agent (default: open to the group; one capable
        /// member claims it).
        #[arg(long, value_name = "AGENT")]
        to: Option<String>,
        /// Route by skill: the task goes to the skill's requests topic and one of its
        /// providers claims it (the answer comes back on the skill's responses topic).
        #[arg(long)]
        skill: Option<String>,
        /// Seconds to wait for the response (default: group.defaultTaskTimeoutSecs).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// The task.
        text: String,
    },
    /// Onboard (when the group is gated, or has members) and announce `join`.
    ///
    /// Without --stay it exits after the join announce: the agent stays in the roster
    /// for one expiry window, long enough for `submit` to be accepted by a gated group.
    Join {
        /// Found a gated group that has no admitted member yet.
        #[arg(long)]
        found: bool,
        /// Keep heartbeating until Ctrl-C or SIGTERM, then leave.
        #[arg(long)]
        stay: bool,
    },
    /// Announce `leave` for this agent id (no join first).
    Leave,
    /// The group's skills (from the topic manifest on control.roster) with their live providers.
    Skills {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The topic manifest on control.roster as this agent merges it (every skill with
    /// its topics and the agents that registered it).
    Manifest {
        /// Print the manifest as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shared memory: share an item, list the items.
    Memory {
        #[command(subcommand)]
        cmd: MemoryCmd,
    },
    /// Delegation events this agent recorded in its timeline (requests, claims,
    /// statuses, responses), newest first; the same as GET /api/v1/group/tasks.
    Tasks {
        /// Only the events of this task.
        #[arg(long, value_name = "ID")]
        task_id: Option<String>,
        /// Only the events of this trace.
        #[arg(long, value_name = "ID")]
        trace_id: Option<String>,
        /// Only this event type (request, accepted, in_progress, completed, failed, rejected, ...).
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
        #[command(flatten)]
        page: crate::group_log_cmd::Page,
    },
    /// Trace spans of the group (this agent's and those read from the traces topic)
    /// stored in the timeline, oldest first; the same as GET /api/v1/group/traces.
    Traces {
        /// Only the spans of this trace.
        #[arg(long, value_name = "ID")]
        trace_id: Option<String>,
        /// Only the spans of this agent.
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        #[command(flatten)]
        page: crate::group_log_cmd::Page,
    },
    /// Audit events of the group stored in the timeline, newest first; the same as
    /// GET /api/v1/group/audit.
    Audit {
        /// Only the events of this agent.
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// Only this event type (e.g. skill_registered).
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
        /// Only the events of this trace.
        #[arg(long, value_name = "ID")]
        trace_id: Option<String>,
        #[command(flatten)]
        page: crate::group_log_cmd::Page,
    },
}

#[derive(Subcommand)]
enum MemoryCmd {
    /// Share a file (or stdin with `-`) on memory.shared: inline up to
    /// group.inlineMemoryMaxBytes, through the LFS proxy (group.lfsProxyUrl) beyond.
    Share {
        /// Title of the item.
        #[arg(long)]
        title: String,
        /// Comma-separated tags.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// MIME type of the content.
        #[arg(long, default_value = "text/plain")]
        content_type: String,
        /// The file to share, or `-` for stdin.
        file: String,
    },
    /// The items on memory.shared and the unexpired ones on memory.context.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The `group.*` settings an agent needs (also used by `kafclaw gateway` in group modes).
pub(crate) struct GroupSetup {
    settings: KafkaSettings,
    group: String,
    pub(crate) agent_id: String,
    onboarding: Onboarding,
    loaded: LoadedConfig,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl GroupSetup {
    pub(crate) fn from_config(loaded: LoadedConfig) -> Result<Self, String> {
        let g = &loaded.config.group;
        if g.group_name.is_empty() {
            return Err(
                "group.groupName is not set (config.json or KAFCLAW_GROUP_GROUP_NAME)".into(),
            );
        }
        GroupName::new(g.group_name.clone()).map_err(|e| format!("group.groupName: {e}"))?;
        let protocol = match g.security_protocol() {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        };
        let file = |s: &str| (!s.is_empty()).then(|| s.into());
        let mut settings = KafkaSettings::from_keys(
            &g.kafka_brokers,
            protocol,
            &g.kafka_sasl_mechanism,
            &g.kafka_sasl_username,
            g.kafka_sasl_password.expose(),
            TlsFiles {
                ca_file: file(&g.kafka_tls_ca_file),
                cert_file: file(&g.kafka_tls_cert_file),
                key_file: file(&g.kafka_tls_key_file),
            },
        )
        .map_err(|e| e.to_string())?;
        let agent_id = if g.agent_id.is_empty() {
            format!("kafclaw-{}", hostname())
        } else {
            g.agent_id.clone()
        };
        settings.client_id = format!("kafclaw-{agent_id}");
        let onboarding = match g.onboard_mode() {
            OnboardMode::Open => Onboarding::Open,
            OnboardMode::Gated => Onboarding::gated(g.onboard_secret.expose().as_bytes()),
        };
        Ok(Self {
            settings,
            group: g.group_name.clone(),
            agent_id,
            onboarding,
            loaded,
        })
    }

    pub(crate) fn builder(&self) -> GroupAgentBuilder<MemoryOffsetStore, KafkaTransport> {
        let g = &self.loaded.config.group;
        let o = &self.loaded.config.orchestrator;
        let max_depth = if g.max_delegation_depth == 0 {
            3
        } else {
            g.max_delegation_depth
        };
        let mut identity = AgentIdentity::new(&self.agent_id, &self.agent_id);
        identity.channels = vec!["cli".into()];
        identity.model = self.loaded.config.model.name.clone();
        identity.endpoint = o.endpoint.clone();
        GroupAgent::builder(self.settings.clone(), &self.group, &self.agent_id)
            .identity(identity)
            .role(o.role.clone())
            .zone(o.zone_id.clone())
            .parent(o.parent_id.clone())
            .skills(g.skills.clone())
            .heartbeat_interval(Duration::from_secs(g.heartbeat_interval_secs))
            .missed_heartbeats(g.missed_heartbeats)
            .topic_layout(
                i32::try_from(g.topic_partitions).unwrap_or(i32::MAX),
                i16::try_from(g.replication_factor).unwrap_or(i16::MAX),
            )
            .onboarding(self.onboarding.clone())
            .onboard_timeout(Duration::from_secs(g.onboard_timeout_secs))
            .max_delegation_depth(max_depth)
            .task_timeout(Duration::from_secs(g.default_task_timeout_secs))
    }

    pub(crate) fn memory_options(&self) -> Result<MemoryOptions, GroupError> {
        let g = &self.loaded.config.group;
        let key = g.lfs_proxy_api_key.expose();
        Ok(MemoryOptions {
            inline_limit: usize::try_from(g.inline_memory_max_bytes).unwrap_or(usize::MAX),
            lfs: Some(LfsClient::new(
                &g.lfs_proxy_url,
                (!key.is_empty()).then(|| key.to_owned()),
                Duration::from_secs(30),
            )?),
            ..MemoryOptions::default()
        })
    }
}

async fn skills(setup: &GroupSetup, json: bool) -> anyhow::Result<ExitCode> {
    let (_, agent) = read_roster(setup).await?;
    let list = agent.skills();
    agent.halt().await;
    if json {
        let out: Vec<serde_json::Value> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "requests_topic": s.requests_topic,
                    "responses_topic": s.responses_topic,
                    "registered_by": s.registered_by,
                    "live_providers": s.live_providers,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no skills registered in group {}", setup.group);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24} {:<30} REGISTERED BY", "SKILL", "LIVE PROVIDERS");
    for s in &list {
        let live = if s.live_providers.is_empty() {
            "-".to_owned()
        } else {
            s.live_providers.join(",")
        };
        println!("{:<24} {:<30} {}", s.name, live, s.registered_by.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

async fn manifest(setup: &GroupSetup, json: bool) -> anyhow::Result<ExitCode> {
    let (_, agent) = read_roster(setup).await?;
    let manifest = agent.manifest();
    agent.halt().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "manifest of group {} (version {}, updated by {})",
        setup.group,
        manifest.version,
        if manifest.updated_by.is_empty() {
            "-"
        } else {
            &manifest.updated_by
        }
    );
    println!("{:<56} {:<10} CONSUMERS", "TOPIC", "CATEGORY");
    for t in manifest.core_topics.iter().chain(&manifest.skill_topics) {
        let consumers = if t.consumers.is_empty() {
            "-".to_owned()
        } else {
            t.consumers.join(",")
        };
        println!("{:<56} {:<10} {consumers}", t.name, t.category);
    }
    Ok(ExitCode::SUCCESS)
}

async fn memory_share(
    setup: &GroupSetup,
    title: String,
    tags: Vec<String>,
    content_type: String,
    file: String,
) -> anyhow::Result<ExitCode> {
    let content = if file == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading stdin")?;
        buf
    } else {
        std::fs::read(&file).with_context(|| format!("reading {file}"))?
    };
    let agent = setup
        .builder()
        .memory_options(setup.memory_options()?)
        .build()
        .await
        .with_context(|| format!("cannot reach group {}", setup.group))?;
    let shared = agent
        .share_memory(
            MemoryShare::new(title, content)
                .tags(tags.into_iter().filter(|t| !t.trim().is_empty()))
                .content_type(content_type),
        )
        .await;
    agent.halt().await;
    let item = shared?;
    let how = if item.lfs_envelope.is_some() {
        "through LFS"
    } else {
        "inline"
    };
    println!("{} ({how})", item.item_id);
    Ok(ExitCode::SUCCESS)
}

async fn memory_list(setup: &GroupSetup, json: bool) -> anyhow::Result<ExitCode> {
    let (_, agent) = read_roster(setup).await?;
    let items = agent.memory_items();
    agent.halt().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println!("no memory items in group {}", setup.group);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<38} {:<16} {:<8} {:<20} TITLE",
        "ITEM", "AUTHOR", "WHERE", "TAGS"
    );
    for i in &items {
        let place = if i.lfs_envelope.is_some() {
            "lfs"
        } else {
            "inline"
        };
        println!(
            "{:<38} {:<16} {:<8} {:<20} {}",
            i.item_id,
            i.author_id,
            place,
            i.tags.join(","),
            i.title
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let setup = match GroupSetup::from_config(loaded) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("kafclaw: configuration error: {msg}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let db = setup.loaded.paths.timeline_db.clone();
    let outcome = rt.block_on(async {
        use crate::group_log_cmd::{Listing, list};
        match args.cmd {
            Cmd::Tasks {
                task_id,
                trace_id,
                event_type,
                page,
            } => {
                let listing = Listing::Tasks {
                    task_id,
                    trace_id,
                    event_type,
                };
                list(&db, listing, page).await
            }
            Cmd::Traces {
                trace_id,
                agent,
                page,
            } => list(&db, Listing::Traces { trace_id, agent }, page).await,
            Cmd::Audit {
                agent,
                event_type,
                trace_id,
                page,
            } => {
                let listing = Listing::Audit {
                    agent,
                    event_type,
                    trace_id,
                };
                list(&db, listing, page).await
            }
            Cmd::Manifest { json } => manifest(&setup, json).await,
            Cmd::Members { json } => members(&setup, json).await,
            Cmd::Status { json } => status(&setup, json).await,
            Cmd::Submit {
                to,
                skill,
                timeout,
                text,
            } => submit(&setup, to, skill, timeout, text).await,
            Cmd::Join { found, stay } => join(&setup, found, stay).await,
            Cmd::Leave => leave(&setup).await,
            Cmd::Skills { json } => skills(&setup, json).await,
            Cmd::Memory {
                cmd:
                    MemoryCmd::Share {
                        title,
                        tags,
                        content_type,
                        file,
                    },
            } => memory_share(&setup, title, tags, content_type, file).await,
            Cmd::Memory {
                cmd: MemoryCmd::List { json },
            } => memory_list(&setup, json).await,
        }
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Ok(code) => Ok(code),
        Err(e) => {
            let usage = matches!(
                e.downcast_ref::<GroupError>(),
                Some(
                    GroupError::Config { .. }
                        | GroupError::InvalidGroupName { .. }
                        | GroupError::Invalid { .. }
                )
            );
            if usage {
                eprintln!("kafclaw: configuration error: {e:#}");
                Ok(ExitCode::from(EXIT_USAGE))
            } else {
                Err(e)
            }
        }
    }
}

fn member_json(m: &Member) -> serde_json::Value {
    serde_json::json!({
        "agent_id": m.agent_id,
        "agent_name": m.identity.agent_name,
        "role": m.role(),
        "zone_id": m.zone(),
        "parent_id": m.parent(),
        "model": m.identity.model,
        "capabilities": m.identity.capabilities,
        "skills": m.identity.skills,
        "channels": m.identity.channels,
        "status": m.identity.status,
        "joined_at": m.identity.joined_at,
        "first_seen": m.first_seen.to_rfc3339(),
        "last_seen": m.last_seen.to_rfc3339(),
    })
}

async fn read_roster(setup: &GroupSetup) -> anyhow::Result<(Vec<Member>, GroupAgent)> {
    let agent = setup
        .builder()
        .read_only(true)
        .build()
        .await
        .with_context(|| format!("cannot read group {}", setup.group))?;
    let roster = agent.roster();
    Ok((roster, agent))
}

async fn members(setup: &GroupSetup, json: bool) -> anyhow::Result<ExitCode> {
    let (roster, agent) = read_roster(setup).await?;
    agent.halt().await;
    if json {
        let list: Vec<serde_json::Value> = roster.iter().map(member_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if roster.is_empty() {
        println!("no live members in group {}", setup.group);
        return Ok(ExitCode::SUCCESS);
    }
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    println!(
        "{:<28} {:<14} {:<12} {:>10}  SKILLS",
        "AGENT", "ROLE", "ZONE", "LAST SEEN"
    );
    let now = Utc::now();
    for m in &roster {
        let age = (now - m.last_seen).num_milliseconds().max(0) as f64 / 1000.0;
        println!(
            "{:<28} {:<14} {:<12} {:>9.1}s  {}",
            m.agent_id,
            dash(m.role()),
            dash(m.zone()),
            age,
            dash(&m.identity.skills.join(","))
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn status(setup: &GroupSetup, json: bool) -> anyhow::Result<ExitCode> {
    let g = &setup.loaded.config.group;
    let transport = Arc::new(
        KafkaTransport::connect(&setup.settings)
            .await
            .with_context(|| format!("cannot connect to {}", g.kafka_brokers))?,
    );
    let group = GroupName::new(setup.group.clone())?;
    let existing: std::collections::HashMap<String, usize> = transport
        .list_topics()
        .await?
        .into_iter()
        .map(|(name, ps)| (name, ps.len()))
        .collect();
    let topics: Vec<(String, Option<usize>)> = GroupTopic::ALL
        .iter()
        .map(|t| {
            let name = group.topic(*t);
            let n = existing.get(&name).copied();
            (name, n)
        })
        .collect();
    let agent = setup
        .builder()
        .read_only(true)
        .transport(Arc::clone(&transport))
        .build()
        .await?;
    let roster = agent.roster();
    let admitted = agent.admitted();
    let window = agent.expiry_window();
    agent.halt().await;
    let member = roster.iter().any(|m| m.agent_id == setup.agent_id);
    if json {
        let out = serde_json::json!({
            "group": setup.group,
            "agent_id": setup.agent_id,
            "brokers": g.kafka_brokers,
            "onboarding": setup.onboarding.as_str(),
            "heartbeat_interval_secs": g.heartbeat_interval_secs,
            "expiry_window_secs": window.as_secs_f64(),
            "members": roster.len(),
            "is_member": member,
            "admitted": admitted,
            "topics": topics.iter().map(|(n, p)| serde_json::json!({"name": n, "partitions": p})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("group:        {}", setup.group);
    println!(
        "agent:        {} ({})",
        setup.agent_id,
        if member {
            "in the roster"
        } else {
            "not in the roster"
        }
    );
    println!("brokers:      {}", g.kafka_brokers);
    println!("onboarding:   {}", setup.onboarding.as_str());
    println!(
        "heartbeat:    every {} s, expiry after {} missed ({:.0} s)",
        g.heartbeat_interval_secs,
        g.missed_heartbeats,
        window.as_secs_f64()
    );
    println!("members:      {}", roster.len());
    if setup.onboarding.is_gated() {
        println!("admitted:     {}", admitted.join(", "));
    }
    let present = topics.iter().filter(|(_, p)| p.is_some()).count();
    println!("topics:       {present} of {} exist", topics.len());
    for (name, p) in &topics {
        match p {
            Some(n) => println!("  {name} ({n} partitions)"),
            None => println!("  {name} (missing)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn submit(
    setup: &GroupSetup,
    to: Option<String>,
    skill: Option<String>,
    timeout: Option<u64>,
    text: String,
) -> anyhow::Result<ExitCode> {
    let agent = setup
        .builder()
        .build()
        .await
        .with_context(|| format!("cannot reach group {}", setup.group))?;
    let mut spec = match to {
        Some(target) => TaskSpec::to(target, text),
        None => TaskSpec::open(text),
    };
    if let Some(skill) = skill {
        spec = spec.skill(skill);
    }
    if let Some(secs) = timeout {
        spec = spec.timeout(Duration::from_secs(secs));
    }
    let outcome = agent.submit(spec).await;
    agent.halt().await;
    match outcome {
        Ok(resp) if resp.status == "completed" => {
            println!("{}", resp.content);
            Ok(ExitCode::SUCCESS)
        }
        Ok(resp) => {
            let status = if resp.status.is_empty() {
                "answered without a status"
            } else {
                &resp.status
            };
            eprintln!(
                "kafclaw: task {} {} by {}: {}",
                resp.task_id, status, resp.responder_id, resp.content
            );
            Ok(ExitCode::from(EXIT_FAILURE))
        }
        Err(e @ GroupError::TaskTimeout { .. }) => {
            eprintln!("kafclaw: {e}");
            Ok(ExitCode::from(EXIT_FAILURE))
        }
        Err(e) => Err(e.into()),
    }
}

async fn join(setup: &GroupSetup, found: bool, stay: bool) -> anyhow::Result<ExitCode> {
    if setup.onboarding.is_gated() && setup.loaded.config.group.onboard_secret.is_empty() {
        eprintln!(
            "kafclaw: configuration error: group.onboardSecret: a gated group needs the group secret (KAFCLAW_GROUP_ONBOARD_SECRET)"
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    let agent = setup
        .builder()
        .found_group(found)
        .build()
        .await
        .with_context(|| format!("cannot reach group {}", setup.group))?;
    match agent.join().await {
        Ok(()) => {}
        Err(e @ (GroupError::OnboardingRejected { .. } | GroupError::OnboardingTimeout { .. })) => {
            agent.halt().await;
            eprintln!("kafclaw: {e}");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        Err(e) => {
            agent.halt().await;
            return Err(e.into());
        }
    }
    println!("joined group {} as {}", setup.group, setup.agent_id);
    if !stay {
        // No leave: the join stands until the expiry window passes.
        agent.halt().await;
        return Ok(ExitCode::SUCCESS);
    }
    wait_for_signal().await;
    agent.shutdown().await;
    println!("left group {}", setup.group);
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn leave(setup: &GroupSetup) -> anyhow::Result<ExitCode> {
    let agent = setup
        .builder()
        .read_only(true)
        .build()
        .await
        .with_context(|| format!("cannot reach group {}", setup.group))?;
    let outcome = agent.announce_leave().await;
    agent.halt().await;
    outcome.with_context(|| format!("cannot announce leave to group {}", setup.group))?;
    println!("left group {} as {}", setup.group, setup.agent_id);
    Ok(ExitCode::SUCCESS)
}
