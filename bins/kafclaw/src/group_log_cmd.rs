//! `kafclaw group tasks|traces|audit`: what this agent recorded of its group in its
//! timeline (`$KAFCLAW_HOME/timeline.db`), the same rows as the gateway's
//! `GET /api/v1/group/tasks`, `/traces` and `/audit`. The database is read, never
//! created or changed; a running gateway may keep writing it meanwhile (WAL).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use kafclaw_timeline::{DelegationFilter, GroupAuditFilter, GroupSpanFilter, Timeline};

/// The filters and output form shared by the three listings.
#[derive(clap::Args)]
pub(crate) struct Page {
    /// At most this many rows (default 100, at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: Option<u32>,
    /// Skip this many rows first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) offset: u32,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which listing, with its own filters.
pub(crate) enum Listing {
    Tasks {
        task_id: Option<String>,
        trace_id: Option<String>,
        event_type: Option<String>,
    },
    Traces {
        trace_id: Option<String>,
        agent: Option<String>,
    },
    Audit {
        agent: Option<String>,
        event_type: Option<String>,
        trace_id: Option<String>,
    },
}

impl Listing {
    fn what(&self) -> &'static str {
        match self {
            Listing::Tasks { .. } => "delegation events",
            Listing::Traces { .. } => "group trace spans",
            Listing::Audit { .. } => "group audit events",
        }
    }
}

/// Prints the rows as JSON or as a table; no timeline file yet means no rows.
pub(crate) async fn list(db: &Path, listing: Listing, page: Page) -> anyhow::Result<ExitCode> {
    if !db.exists() {
        eprintln!(
            "kafclaw: no timeline at {} yet: this agent has recorded no {}",
            db.display(),
            listing.what()
        );
        if page.json {
            println!("[]");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let tl = Timeline::open_path(db)
        .await
        .with_context(|| format!("cannot open the timeline {}", db.display()))?;
    let out = rows(&tl, listing, &page).await;
    tl.close().await;
    let (json, table) = out?;
    if page.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{table}");
    }
    Ok(ExitCode::SUCCESS)
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn rows(
    tl: &Timeline,
    listing: Listing,
    page: &Page,
) -> anyhow::Result<(serde_json::Value, String)> {
    let what = listing.what();
    let (limit, offset) = (page.limit, page.offset);
    let mut table = String::new();
    let json = match listing {
        Listing::Tasks {
            task_id,
            trace_id,
            event_type,
        } => {
            let list = tl
                .list_delegations(&DelegationFilter {
                    task_id,
                    trace_id,
                    event_type,
                    limit,
                    offset,
                    ..DelegationFilter::default()
                })
                .await
                .with_context(|| format!("cannot list the {what}"))?;
            table.push_str(&format!(
                "{:<20} {:<38} {:<10} {:<18} {:<18} {:>5} SUMMARY\n",
                "TIME", "TASK", "EVENT", "SENDER", "RECEIVER", "DEPTH"
            ));
            for e in &list {
                table.push_str(&format!(
                    "{:<20} {:<38} {:<10} {:<18} {:<18} {:>5} {}\n",
                    e.created_at.format("%Y-%m-%d %H:%M:%S"),
                    e.task_id,
                    e.event_type,
                    short(&e.sender_id, 18),
                    short(e.receiver_id.as_deref().unwrap_or("-"), 18),
                    e.depth,
                    short(&one_line(&e.summary), 60)
                ));
            }
            json_or_empty(serde_json::to_value(&list)?, &mut table, what)
        }
        Listing::Traces { trace_id, agent } => {
            let list = tl
                .list_group_spans(&GroupSpanFilter {
                    trace_id,
                    source_agent_id: agent,
                    limit,
                    offset,
                })
                .await
                .with_context(|| format!("cannot list the {what}"))?;
            table.push_str(&format!(
                "{:<32} {:<16} {:<18} {:<6} {:>8} TITLE\n",
                "TRACE", "SPAN", "AGENT", "TYPE", "MS"
            ));
            for s in &list {
                table.push_str(&format!(
                    "{:<32} {:<16} {:<18} {:<6} {:>8} {}\n",
                    s.trace_id,
                    short(&s.span_id, 16),
                    short(&s.source_agent_id, 18),
                    s.span_type,
                    s.duration_ms
                        .map_or_else(|| "-".to_owned(), |d| d.to_string()),
                    short(&one_line(&s.title), 60)
                ));
            }
            json_or_empty(serde_json::to_value(&list)?, &mut table, what)
        }
        Listing::Audit {
            agent,
            event_type,
            trace_id,
        } => {
            let list = tl
                .list_group_audit(&GroupAuditFilter {
                    agent_id: agent,
                    action: event_type,
                    trace_id,
                    limit,
                    offset,
                })
                .await
                .with_context(|| format!("cannot list the {what}"))?;
            table.push_str(&format!(
                "{:<20} {:<18} {:<20} SUBJECT\n",
                "TIME", "AGENT", "EVENT"
            ));
            for a in &list {
                table.push_str(&format!(
                    "{:<20} {:<18} {:<20} {}\n",
                    a.created_at.format("%Y-%m-%d %H:%M:%S"),
                    short(&a.agent_id, 18),
                    a.action,
                    a.subject.as_deref().unwrap_or("-")
                ));
            }
            json_or_empty(serde_json::to_value(&list)?, &mut table, what)
        }
    };
    Ok((json, table))
}

/// The rows as JSON; an empty list replaces the table's header with a sentence.
fn json_or_empty(json: serde_json::Value, table: &mut String, what: &str) -> serde_json::Value {
    if json.as_array().is_some_and(Vec::is_empty) {
        *table = format!("no {what} recorded\n");
    }
    json
}
