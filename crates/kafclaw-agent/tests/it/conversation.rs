//! A conversation with a tool call through both wire formats: the answer, the task record,
//! the events of one trace with their spans, the policy decision, the transcript, and a
//! second turn that replays the first with a byte-stable prefix.

use kafclaw_agent::{
    EVENT_LLM_CALL, EVENT_MESSAGE_IN, EVENT_MESSAGE_OUT, EVENT_TOOL_CALL, SOUL_FILES, TaskState,
};
use kafclaw_policy::Outcome;
use kafclaw_testkit::{Reply, Wire};
use kafclaw_timeline::{DecisionFilter, TaskStatus};
use serde_json::json;

use crate::support::*;

async fn a_tool_call_conversation(wire: Wire) {
    let home = Home::new(
        wire,
        vec![
            Reply::tool_call("read_file", json!({"path": "notes.txt"})).with_usage(40, 7),
            Reply::text("The note says: buy milk.").with_usage(60, 9),
        ],
        json!({}),
    )
    .await;
    std::fs::write(home.work_repo().join("notes.txt"), "buy milk\n").unwrap();
    let agent = home.agent().await;

    let submitted = agent
        .submit(msg("cli:default", "What does my note say?"))
        .await
        .unwrap();
    assert!(submitted.is_new);
    assert_eq!(submitted.session, "cli:default");
    let out = done(&agent, &submitted.task_id).await;
    assert_eq!(out.state, TaskState::Completed, "{out:?}");
    assert_eq!(out.reply.as_deref(), Some("The note says: buy milk."));
    assert_eq!(out.trace_id, submitted.trace_id);

    // The task record: answer, tokens of both model calls.
    let tl = agent.timeline();
    let task = tl.get_task(&submitted.task_id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.attempts, 1);
    assert_eq!((task.tokens_in, task.tokens_out), (100, 16));
    assert_eq!(task.trace_id.as_deref(), Some(submitted.trace_id.as_str()));

    // What the model saw: the soul files and tools, then the tool result.
    let reqs = home.requests();
    assert_eq!(reqs.len(), 2);
    let system = system_of(&reqs[0]);
    for f in SOUL_FILES {
        assert!(
            system.contains(&format!("## {f}")),
            "{f} missing:\n{system}"
        );
    }
    assert!(system.contains("- read_file (tier 0)"));
    assert!(
        tools_offered(&reqs[0]).contains(&"exec".to_owned()),
        "the owner gets every tier"
    );
    assert_eq!(last_message_text(&reqs[0]), "What does my note say?");
    assert!(
        last_message_text(&reqs[1]).contains("buy milk"),
        "tool result reaches the model"
    );
    assert_eq!(
        system_of(&reqs[1]),
        system,
        "the prompt prefix is the same on every call"
    );

    // One trace: the message, two model calls, the tool call, the answer.
    let events = trace(tl, &submitted.trace_id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            EVENT_MESSAGE_IN,
            EVENT_LLM_CALL,
            EVENT_TOOL_CALL,
            EVENT_LLM_CALL,
            EVENT_MESSAGE_OUT
        ]
    );
    let task_span = events[0].span_id.clone().unwrap();
    assert_eq!(events[4].span_id.as_deref(), Some(task_span.as_str()));
    let mut child_spans = Vec::new();
    for e in &events[1..4] {
        assert_eq!(
            e.parent_span_id.as_deref(),
            Some(task_span.as_str()),
            "{e:?}"
        );
        assert_eq!(e.metadata["task_id"], submitted.task_id);
        child_spans.push(e.span_id.clone().unwrap());
    }
    child_spans.sort();
    child_spans.dedup();
    assert_eq!(child_spans.len(), 3, "each call has its own span");
    assert_eq!(events[1].metadata["tool_calls"], json!(["read_file"]));
    assert_eq!(events[1].metadata["tokens_in"], 40);
    assert_eq!(events[2].metadata["tool"], "read_file");
    assert_eq!(events[2].metadata["outcome"], "allow");
    assert!(events[2].content.contains("buy milk"));

    // The policy decision, under the same trace and task.
    let decisions = tl
        .list_decisions(&DecisionFilter {
            trace_id: Some(submitted.trace_id.clone()),
            ..DecisionFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].tool, "read_file");
    assert_eq!(decisions[0].outcome, Outcome::Allow);
    assert_eq!(
        decisions[0].task_id.as_deref(),
        Some(submitted.task_id.as_str())
    );

    // The transcript: user, tool call, tool result, answer — one line each.
    let lines = home.transcript("cli:default");
    let roles: Vec<&str> = lines.iter().map(|l| l["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(lines[1]["tool_calls"][0]["name"], "read_file");
    assert_eq!(lines[3]["final"], true);
    assert!(lines.iter().all(|l| l["task_id"] == submitted.task_id));
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_conversation_over_the_openai_wire() {
    a_tool_call_conversation(Wire::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_conversation_over_the_anthropic_wire() {
    a_tool_call_conversation(Wire::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_turn_replays_the_history_with_the_same_prefix() {
    let home = Home::new(
        Wire::OpenAi,
        vec![Reply::text("Hello, Ada."), Reply::text("Your name is Ada.")],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    let first = agent.chat(msg("s1", "I am Ada."), WAIT).await.unwrap();
    assert_eq!(first.reply.as_deref(), Some("Hello, Ada."));
    let second = agent.chat(msg("s1", "Who am I?"), WAIT).await.unwrap();
    assert_eq!(second.reply.as_deref(), Some("Your name is Ada."));

    let reqs = home.requests();
    let m1 = reqs[0].body["messages"].as_array().unwrap().clone();
    let m2 = reqs[1].body["messages"].as_array().unwrap().clone();
    // The second request starts with every message of the first, byte for byte.
    assert_eq!(&m2[..m1.len()], &m1[..]);
    assert_eq!(m2[m1.len()]["content"], "Hello, Ada.");
    assert_eq!(m2.last().unwrap()["content"], "Who am I?");
    assert_eq!(reqs[0].body["tools"], reqs[1].body["tools"]);

    // Another session does not see this one.
    home.srv.push([Reply::text("I do not know.")]);
    agent.chat(msg("s2", "Who am I?"), WAIT).await.unwrap();
    let m3 = home.requests()[2].body["messages"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(m3, 2, "system + the new message only");
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_is_continued() {
    let home = Home::new(Wire::OpenAi, vec![Reply::text("ok")], json!({})).await;
    let agent = home.agent().await;
    let mut m = msg("s", "hi");
    m.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    let s = agent.submit(m).await.unwrap();
    assert_eq!(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    done(&agent, &s.task_id).await;
    let events = trace(agent.timeline(), &s.trace_id).await;
    assert_eq!(
        events[0].parent_span_id.as_deref(),
        Some("00f067aa0ba902b7"),
        "the task span is a child of the caller's span"
    );
    agent.shutdown(WAIT).await;
}
