//! `kafclaw agent -m TEXT [-s SESSION]`: one turn through the in-process agent runtime with
//! the same dependencies as the gateway (same timeline file, same policy engine, same
//! tools), and `kafclaw agent --resume` to work the durable queue after a crash.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use kafclaw_agent::{Agent, Error as AgentError, InboundMessage, TaskOutcome, TaskState};
use kafclaw_policy::TrustClass;
use kafclaw_timeline::{ApprovalFilter, ApprovalStatus};
use tokio::time::Instant;

use crate::setup;

#[derive(clap::Args)]
#[command(
    group(clap::ArgGroup::new("input").required(true).args(["message", "resume"])),
    after_help = "The message runs as the operator (trust class owner) under the configured policy; \
    every model and tool call is recorded in the timeline. Tasks that an earlier crash \
    interrupted are picked up first.\n\n\
    Exit codes: 0 the task completed (the answer is on stdout; with --resume: every queued \
    task completed); 1 a task failed or did not finish in time (the reason is on stderr); \
    2 usage or configuration error, including no LLM provider configured."
)]
pub(crate) struct Args {
    /// The message for the agent ("-" reads it from stdin).
    #[arg(short, long, value_name = "TEXT")]
    message: Option<String>,
    /// Session key: messages of one session share their history and run in order.
    #[arg(short, long, value_name = "KEY", default_value = "cli:default")]
    session: String,
    /// Work the queued tasks (those a crash interrupted included) and exit when none is left.
    #[arg(long)]
    resume: bool,
    /// Seconds to wait for the answer; the task stays queued when time runs out.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Print the outcome as JSON (task id, trace id, session, state, reply or error).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match setup::load_config() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let message = match args.message.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Some(text)
        }
        Some(m) => Some(m.to_owned()),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let deps = match setup::build_agent_deps(&loaded).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("kafclaw: cannot set up the agent: {e:#}");
                return Ok(ExitCode::from(crate::EXIT_USAGE));
            }
        };
        let agent = match Agent::start(deps).await {
            Ok(a) => a,
            Err(e @ AgentError::NoProvider(_)) => {
                eprintln!("kafclaw: {e}");
                return Ok(ExitCode::from(crate::EXIT_USAGE));
            }
            Err(e) => return Err(anyhow::anyhow!("cannot start the agent: {e}")),
        };
        let report = agent.start_report().clone();
        if !report.resumed.is_empty() {
            eprintln!(
                "kafclaw: resuming {} task(s) interrupted by a restart",
                report.resumed.len()
            );
        }
        for (id, reason) in &report.failed {
            eprintln!("kafclaw: task {id} failed: {reason}");
        }
        let timeout = Duration::from_secs(args.timeout);
        let deadline = Instant::now() + timeout;
        let code = match message {
            Some(text) => one_turn(&agent, &args, text, timeout).await?,
            None => {
                let code = resume(&agent, &report.queued, args.json, timeout).await?;
                if report.failed.is_empty() {
                    code
                } else {
                    ExitCode::from(crate::EXIT_FAILURE)
                }
            }
        };
        // Other tasks picked up from the queue get the rest of the time to finish; what is
        // still running then is resumed at the next start.
        if !agent.wait_idle(Duration::ZERO).await {
            eprintln!("kafclaw: finishing the other tasks picked up from the queue ...");
            agent
                .wait_idle(deadline.saturating_duration_since(Instant::now()))
                .await;
        }
        agent.shutdown(Duration::from_secs(1)).await;
        Ok(code)
    })
}

async fn one_turn(
    agent: &Agent,
    args: &Args,
    text: String,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let submitted = match agent
        .submit(InboundMessage {
            channel: "cli".into(),
            sender: "cli".into(),
            trust: TrustClass::Owner,
            session: Some(args.session.clone()),
            content: text,
            idempotency_key: None,
            traceparent: None,
        })
        .await
    {
        Ok(s) => s,
        Err(e @ AgentError::Invalid { .. }) => {
            eprintln!("kafclaw: {e}");
            return Ok(ExitCode::from(crate::EXIT_USAGE));
        }
        Err(e) => return Err(anyhow::anyhow!("cannot queue the message: {e}")),
    };
    let outcome = match wait_answering_approvals(agent, &submitted.task_id, timeout).await? {
        Some(o) => o,
        None => {
            eprintln!(
                "kafclaw: no answer within {} s; task {} stays queued and continues at the next start (trace {})",
                timeout.as_secs(),
                submitted.task_id,
                submitted.trace_id
            );
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
    };
    Ok(print_outcome(&outcome, args.json))
}

/// Waits for the task; when it parks for an approval and a person is at the terminal,
/// asks them. `None` when the time runs out.
async fn wait_answering_approvals(
    agent: &Agent,
    task_id: &str,
    timeout: Duration,
) -> anyhow::Result<Option<TaskOutcome>> {
    let deadline = Instant::now() + timeout;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut asked: Vec<String> = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        match agent
            .wait(task_id, (deadline - now).min(Duration::from_millis(500)))
            .await
        {
            Ok(o) => return Ok(Some(o)),
            Err(AgentError::Timeout { .. }) => {}
            Err(e) => return Err(anyhow::anyhow!("waiting for task {task_id}: {e}")),
        }
        if agent.outcome(task_id).await?.state != TaskState::AwaitingApproval {
            continue;
        }
        let pending = agent
            .timeline()
            .list_approvals(&ApprovalFilter {
                task_id: Some(task_id.to_owned()),
                status: Some(ApprovalStatus::Pending),
                ..ApprovalFilter::default()
            })
            .await?;
        for a in pending {
            if asked.contains(&a.approval_id) {
                continue;
            }
            asked.push(a.approval_id.clone());
            let tier = a.tier.map_or("?".to_owned(), |t| u8::from(t).to_string());
            if !interactive {
                eprintln!(
                    "kafclaw: tool {} (tier {tier}) waits for approval {}; decide it in the dashboard \
                     (or run this command in a terminal to be asked)",
                    a.tool, a.approval_id
                );
                continue;
            }
            let question = format!(
                "kafclaw: the agent wants to run {} (tier {tier}) with {}\nApprove? [y/N] ",
                a.tool, a.args
            );
            let yes = tokio::task::spawn_blocking(move || ask(&question)).await??;
            let by = format!("cli:{}", std::env::var("USER").unwrap_or_default());
            match agent.decide_approval(&a.approval_id, yes, &by).await {
                Ok(()) => {}
                Err(e) => eprintln!("kafclaw: {e}"),
            }
        }
    }
}

fn ask(question: &str) -> std::io::Result<bool> {
    let mut err = std::io::stderr();
    err.write_all(question.as_bytes())?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn print_outcome(o: &TaskOutcome, json: bool) -> ExitCode {
    let ok = o.state == TaskState::Completed;
    if json {
        let v = serde_json::json!({
            "task_id": o.task_id,
            "trace_id": o.trace_id,
            "session": o.session,
            "state": state_name(o.state),
            "reply": o.reply,
            "error": o.error,
        });
        println!("{v}");
    } else if ok {
        println!("{}", o.reply.as_deref().unwrap_or_default());
    } else {
        eprintln!(
            "kafclaw: task {} failed: {}",
            o.task_id,
            o.error.as_deref().unwrap_or("(no reason recorded)")
        );
        eprintln!("kafclaw: trace {}", o.trace_id);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    }
}

fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::Pending => "pending",
        TaskState::Processing => "processing",
        TaskState::AwaitingApproval => "awaiting_approval",
        TaskState::Completed => "completed",
        TaskState::Failed => "failed",
    }
}

/// Works the queue found at start; prints one line (or JSON object) per task.
async fn resume(
    agent: &Agent,
    queued: &[String],
    json: bool,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    if queued.is_empty() {
        if !json {
            eprintln!("kafclaw: no queued task");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = Instant::now() + timeout;
    let mut all_ok = true;
    for id in queued {
        let left = deadline.saturating_duration_since(Instant::now());
        let o = match agent.wait(id, left).await {
            Ok(o) => o,
            Err(AgentError::Timeout { .. }) => agent.outcome(id).await?,
            Err(e) => return Err(anyhow::anyhow!("waiting for task {id}: {e}")),
        };
        all_ok &= o.state == TaskState::Completed;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "task_id": o.task_id, "trace_id": o.trace_id, "session": o.session,
                    "state": state_name(o.state), "reply": o.reply, "error": o.error,
                })
            );
        } else {
            let detail = o
                .reply
                .as_deref()
                .or(o.error.as_deref())
                .unwrap_or_default();
            println!("{} {}: {}", o.task_id, state_name(o.state), detail);
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}
