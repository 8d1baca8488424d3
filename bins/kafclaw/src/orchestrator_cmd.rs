//! `kafclaw orchestrator status|hierarchy|zones|zone create|zone add-member`: the
//! orchestrator's view of the group, read from the group's orchestrator topic (the
//! discovery look-back window), configured by `group.*` and `orchestrator.*`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use kafclaw_config::{LoadedConfig, SecurityProtocol};
use kafclaw_group::{KafkaSettings, TlsFiles};
use kafclaw_orchestrator::{
    Error as OrchError, HierarchyView, NodeView, Orchestrator, OrchestratorSettings, ZoneView,
};

use crate::{EXIT_USAGE, setup};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// This agent's role, zone and parent, and how many agents and zones are known.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The agents and their parents, as a tree.
    Hierarchy {
        /// Print JSON instead of a tree.
        #[arg(long)]
        json: bool,
    },
    /// The zones with their visibility, owner and members.
    Zones {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create or change a zone owned by this agent (stored in the timeline, announced
    /// on the orchestrator topic).
    Zone {
        #[command(subcommand)]
        cmd: ZoneCmd,
    },
}

#[derive(Subcommand)]
enum ZoneCmd {
    /// Create a zone owned by this agent.
    Create {
        /// Zone id (ASCII letters, digits, '_' or '-').
        id: String,
        /// Display name (default: the id).
        #[arg(long, default_value = "")]
        name: String,
        /// public, shared or private (private zones are for their members only).
        #[arg(long, default_value = "shared")]
        visibility: String,
        /// A member besides this agent (repeat for more).
        #[arg(long = "member", value_name = "AGENT")]
        members: Vec<String>,
    },
    /// Add a member to a zone this agent owns.
    AddMember {
        /// Zone id.
        zone: String,
        /// Agent id.
        agent: String,
    },
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The Kafka connection and orchestrator settings from configuration.
fn settings(loaded: &LoadedConfig) -> Result<(KafkaSettings, OrchestratorSettings), String> {
    let g = &loaded.config.group;
    if g.group_name.is_empty() {
        return Err("group.groupName is not set (config.json or KAFCLAW_GROUP_GROUP_NAME)".into());
    }
    if g.kafka_brokers.trim().is_empty() {
        return Err(
            "group.kafkaBrokers is not set (config.json or KAFCLAW_GROUP_KAFKA_BROKERS)".into(),
        );
    }
    let protocol = match g.security_protocol() {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::Ssl => "SSL",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
    };
    let file = |s: &str| (!s.is_empty()).then(|| s.into());
    let mut kafka = KafkaSettings::from_keys(
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
    kafka.client_id = format!("kafclaw-{agent_id}-orchestrator");
    let mut s =
        OrchestratorSettings::from_config(&loaded.config.orchestrator, &g.group_name, &agent_id)
            .map_err(|e| e.to_string())?;
    s.check().map_err(|e| e.to_string())?;
    s.topic_partitions = i32::try_from(g.topic_partitions).unwrap_or(i32::MAX);
    s.replication_factor = i16::try_from(g.replication_factor).unwrap_or(i16::MAX);
    Ok((kafka, s))
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let (kafka, mut settings) = match settings(&loaded) {
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
    let outcome = rt.block_on(async {
        let changing = matches!(args.cmd, Cmd::Zone { .. });
        settings.passive = !changing;
        let group = settings.group.clone();
        let mut builder = Orchestrator::builder(kafka, settings);
        if changing {
            builder = builder.timeline(setup::open_timeline(&loaded).await?);
        }
        let orch = builder
            .start()
            .await
            .with_context(|| format!("cannot read the orchestrator topic of group {group}"))?;
        let result = match args.cmd {
            Cmd::Status { json } => {
                let s = orch.status();
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    println!("agent:      {} ({})", s.agent_id, s.role);
                    println!("group:      {}", s.group);
                    println!("zone:       {}", dash(&s.zone_id));
                    println!("parent:     {}", dash(&s.parent_id));
                    println!("endpoint:   {}", dash(&s.endpoint));
                    println!("my zones:   {}", s.my_zones.join(", "));
                    println!("agents:     {}", s.agent_count);
                    println!("zones:      {}", s.zone_count);
                    println!("discovery:  every {} s", s.discovery_interval_secs);
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Hierarchy { json } => {
                let h = orch.hierarchy();
                if json {
                    println!("{}", serde_json::to_string_pretty(&h)?);
                } else {
                    print_tree(&h);
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Zones { json } => {
                let zones = orch.zones();
                if json {
                    println!("{}", serde_json::to_string_pretty(&zones)?);
                } else {
                    print_zones(&zones);
                }
                Ok(ExitCode::SUCCESS)
            }
            Cmd::Zone { cmd } => {
                let zone = match cmd {
                    ZoneCmd::Create {
                        id,
                        name,
                        visibility,
                        members,
                    } => orch.create_zone(&id, &name, &visibility, members).await,
                    ZoneCmd::AddMember { zone, agent } => orch.add_zone_member(&zone, &agent).await,
                };
                match zone {
                    Ok(z) => {
                        print_zones(std::slice::from_ref(&z));
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(
                        e @ (OrchError::Config { .. }
                        | OrchError::ZoneExists { .. }
                        | OrchError::NotOwner { .. }
                        | OrchError::UnknownZone { .. }),
                    ) => {
                        eprintln!("kafclaw: {e}");
                        Ok(ExitCode::from(crate::EXIT_FAILURE))
                    }
                    Err(e) => Err(anyhow::Error::new(e)),
                }
            }
        };
        orch.shutdown().await;
        result
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    outcome
}

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn print_tree(h: &HierarchyView) {
    fn walk(h: &HierarchyView, id: &str, depth: usize, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == id) {
            return;
        }
        seen.push(id.to_owned());
        let Some(n) = h.nodes.iter().find(|n| n.agent_id == id) else {
            return;
        };
        println!("{}{}", "  ".repeat(depth), describe(h, n));
        for c in &n.children {
            walk(h, c, depth + 1, seen);
        }
    }
    let mut seen = Vec::new();
    for root in &h.roots {
        walk(h, root, 0, &mut seen);
    }
}

fn describe(h: &HierarchyView, n: &NodeView) -> String {
    let mut parts = vec![n.role.clone()];
    if !n.zone_id.is_empty() {
        parts.push(format!("zone {}", n.zone_id));
    }
    parts.push(n.status.clone());
    if !n.parent_id.is_empty() && !h.nodes.iter().any(|p| p.agent_id == n.parent_id) {
        parts.push(format!("parent {} not seen", n.parent_id));
    }
    format!("{} ({})", n.agent_id, parts.join(", "))
}

fn print_zones(zones: &[ZoneView]) {
    println!(
        "{:<20} {:<10} {:<24} MEMBERS",
        "ZONE", "VISIBILITY", "OWNER"
    );
    for z in zones {
        println!(
            "{:<20} {:<10} {:<24} {}",
            z.zone_id,
            z.visibility,
            dash(&z.owner_id),
            z.members.join(",")
        );
    }
}
