//! The durable queue: order within a session, sessions side by side, idempotency keys,
//! failures with their reasons (malformed reply, quota, iteration limit), input checks,
//! and tasks interrupted by a stop picked up again — or failed — at the next start.

use std::time::Duration;

use kafclaw_agent::{Agent, EVENT_LLM_CALL, EVENT_TASK_RESUMED, Error, TaskState};
use kafclaw_testkit::{Reply, Wire};
use kafclaw_timeline::TaskStatus;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_one_session_run_in_order() {
    let home = Home::new(
        Wire::OpenAi,
        vec![
            Reply::text("a1").delayed(Duration::from_millis(200)),
            Reply::text("a2"),
            Reply::text("a3"),
        ],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    let mut ids = Vec::new();
    for text in ["m1", "m2", "m3"] {
        ids.push(agent.submit(msg("ordered", text)).await.unwrap().task_id);
    }
    for (id, want) in ids.iter().zip(["a1", "a2", "a3"]) {
        assert_eq!(done(&agent, id).await.reply.as_deref(), Some(want));
    }
    let reqs = home.requests();
    let lasts: Vec<String> = reqs.iter().map(last_message_text).collect();
    assert_eq!(lasts, ["m1", "m2", "m3"]);
    // each turn sees the ones before it
    let third: Vec<String> = reqs[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(text_of)
        .collect();
    assert_eq!(third, ["m1", "a1", "m2", "a2", "m3"]);
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_side_by_side() {
    let home = Home::new(
        Wire::OpenAi,
        vec![
            Reply::text("slow").delayed(Duration::from_secs(600)),
            Reply::text("fast"),
        ],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    let slow = agent.submit(msg("X", "take your time")).await.unwrap();
    home.wait_requests(1).await;
    let fast = agent.chat(msg("Y", "quick"), WAIT).await.unwrap();
    assert_eq!(fast.reply.as_deref(), Some("fast"));
    assert_eq!(
        agent.outcome(&slow.task_id).await.unwrap().state,
        TaskState::Processing,
        "X is still waiting for its model while Y finished"
    );
    agent.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_returns_the_same_task() {
    let home = Home::new(Wire::OpenAi, vec![Reply::text("once")], json!({})).await;
    let agent = home.agent().await;
    let mut m = msg("s", "do it once");
    m.idempotency_key = Some("client-42".into());
    let first = agent.submit(m.clone()).await.unwrap();
    assert!(first.is_new);
    done(&agent, &first.task_id).await;
    m.content = "a retry of the same request".into();
    let again = agent.submit(m).await.unwrap();
    assert!(!again.is_new);
    assert_eq!(again.task_id, first.task_id);
    assert_eq!(again.trace_id, first.trace_id);
    let out = done(&agent, &again.task_id).await;
    assert_eq!(out.reply.as_deref(), Some("once"));
    assert_eq!(home.requests().len(), 1, "the model was asked once");
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_reply_fails_the_task_with_the_reason_and_keeps_the_message() {
    let home = Home::new(
        Wire::OpenAi,
        vec![Reply::malformed(r#"{"choices": []}"#)],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    let out = agent.chat(msg("s", "please answer"), WAIT).await.unwrap();
    assert_eq!(out.state, TaskState::Failed);
    let error = out.error.clone().unwrap();
    assert!(error.contains("malformed reply"), "{error}");
    assert!(error.contains("openai/test-model"), "{error}");

    let task = agent
        .timeline()
        .get_task(&out.task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.as_deref(), Some(error.as_str()));
    assert_eq!(task.content_in, "please answer");
    let lines = home.transcript("s");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["content"], "please answer");
    let events = trace(agent.timeline(), &out.trace_id).await;
    let llm = of_type(&events, EVENT_LLM_CALL);
    assert!(
        llm[0].metadata["error"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_quota_is_refused_before_any_model_call() {
    let home = Home::new(Wire::Anthropic, vec![Reply::text("never")], json!({})).await;
    let agent = home.agent().await;
    agent
        .timeline()
        .set_setting("daily_token_limit", "5")
        .await
        .unwrap();
    let out = agent
        .chat(msg("s", "a question that is longer than five tokens"), WAIT)
        .await
        .unwrap();
    assert_eq!(out.state, TaskState::Failed);
    let error = out.error.unwrap();
    assert!(error.contains("daily token quota exhausted"), "{error}");
    assert!(home.requests().is_empty(), "no request reached the server");
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_loop_stops_at_max_tool_iterations() {
    let home = Home::new(
        Wire::OpenAi,
        vec![
            Reply::tool_call("list_dir", json!({})),
            Reply::tool_call("list_dir", json!({})),
            Reply::text("never reached"),
        ],
        json!({"model": {"maxToolIterations": 2}}),
    )
    .await;
    let agent = home.agent().await;
    let out = agent.chat(msg("s", "loop forever"), WAIT).await.unwrap();
    assert_eq!(out.state, TaskState::Failed);
    assert!(
        out.error.unwrap().contains("model.maxToolIterations = 2"),
        "the reason names the limit"
    );
    assert_eq!(home.requests().len(), 2);
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_refused_naming_the_field() {
    let home = Home::new(Wire::OpenAi, vec![], json!({})).await;
    let agent = home.agent().await;
    let cases = [
        (msg("s", "   "), "content"),
        (
            kafclaw_agent::InboundMessage {
                channel: String::new(),
                ..msg("s", "x")
            },
            "channel",
        ),
        (msg(&"k".repeat(81), "x"), "session"),
        (
            kafclaw_agent::InboundMessage {
                idempotency_key: Some(String::new()),
                ..msg("s", "x")
            },
            "idempotency_key",
        ),
        (msg("s", &"x".repeat(300 * 1024)), "content"),
    ];
    for (m, field) in cases {
        match agent.submit(m).await {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let err = agent.outcome("nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "task", .. }), "{err}");
    // A message without a session gets a new one of its own.
    let s = agent
        .submit(kafclaw_agent::InboundMessage {
            session: None,
            ..msg("", "hi")
        })
        .await
        .unwrap();
    assert!(s.session.starts_with("cli:"), "{}", s.session);
    agent.shutdown(WAIT).await;
    let err = agent.submit(msg("s", "late")).await.unwrap_err();
    assert!(matches!(err, Error::ShuttingDown), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_provider_the_agent_says_how_to_configure_one() {
    let home = Home::new(Wire::OpenAi, vec![], json!({})).await;
    home.write_config(&json!({"model": {"name": "openai/gpt-4o-mini"}}));
    let err = Agent::start(home.deps().await).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::NoProvider(_)), "{text}");
    assert!(text.contains("providers.openai.apiKey"), "{text}");
    assert!(text.contains("kafclaw config set"), "{text}");
}

/// Starts a task whose model never answers, stops the agent while it waits (as a crash
/// would leave it: `processing`), and returns its id.
async fn interrupted_task(home: &Home) -> String {
    let agent = home.agent().await;
    let s = agent.submit(msg("cli:default", "long job")).await.unwrap();
    home.wait_requests(1).await;
    agent.shutdown(Duration::ZERO).await;
    let task = agent
        .timeline()
        .get_task(&s.task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.status, TaskStatus::Processing);
    agent.timeline().close().await;
    s.task_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_task_is_resumed_at_the_next_start() {
    let home = Home::new(
        Wire::OpenAi,
        vec![Reply::text("too late").delayed(Duration::from_secs(600))],
        json!({}),
    )
    .await;
    let task_id = interrupted_task(&home).await;

    home.srv.push([Reply::text("done after the restart")]);
    let agent = home.agent().await;
    assert_eq!(agent.start_report().resumed, vec![task_id.clone()]);
    assert_eq!(agent.start_report().queued, vec![task_id.clone()]);
    let out = done(&agent, &task_id).await;
    assert_eq!(out.reply.as_deref(), Some("done after the restart"));
    let task = agent.timeline().get_task(&task_id).await.unwrap().unwrap();
    assert_eq!(task.attempts, 2);
    // The user message is in the transcript once, whatever the number of attempts.
    let users = home
        .transcript("cli:default")
        .into_iter()
        .filter(|l| l["role"] == "user")
        .count();
    assert_eq!(users, 1);
    let events = trace(agent.timeline(), &out.trace_id).await;
    assert_eq!(of_type(&events, EVENT_TASK_RESUMED).len(), 1);
    assert_eq!(home.requests().len(), 2);
    assert!(agent.wait_idle(WAIT).await);
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_out_of_attempts_fails_with_the_reason() {
    let mut home = Home::new(
        Wire::OpenAi,
        vec![Reply::text("too late").delayed(Duration::from_secs(600))],
        json!({}),
    )
    .await;
    home.max_attempts = 1;
    let task_id = interrupted_task(&home).await;

    let agent = home.agent().await;
    assert_eq!(agent.start_report().failed.len(), 1);
    assert_eq!(agent.start_report().failed[0].0, task_id);
    let out = agent.outcome(&task_id).await.unwrap();
    assert_eq!(out.state, TaskState::Failed);
    assert!(
        out.error.unwrap().contains("interrupted by restart"),
        "failed with a reason, never dropped"
    );
    assert_eq!(home.requests().len(), 1, "not run again");
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_tasks_left_by_a_stop_run_at_the_next_start() {
    let home = Home::new(
        Wire::OpenAi,
        vec![Reply::text("first").delayed(Duration::from_secs(600))],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    let first = agent.submit(msg("q", "one")).await.unwrap();
    home.wait_requests(1).await;
    let second = agent.submit(msg("q", "two")).await.unwrap();
    agent.shutdown(Duration::ZERO).await;
    assert_eq!(
        agent.outcome(&second.task_id).await.unwrap().state,
        TaskState::Pending
    );
    agent.timeline().close().await;

    home.srv
        .push([Reply::text("one again"), Reply::text("two at last")]);
    let agent = home.agent().await;
    assert_eq!(
        agent.start_report().queued,
        [first.task_id.clone(), second.task_id.clone()]
    );
    assert_eq!(
        done(&agent, &second.task_id).await.reply.as_deref(),
        Some("two at last")
    );
    assert_eq!(
        done(&agent, &first.task_id).await.reply.as_deref(),
        Some("one again")
    );
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_runtime_on_the_same_timeline_never_takes_the_first_ones_tasks() {
    let home = Home::new(
        Wire::OpenAi,
        vec![Reply::text("slow").delayed(Duration::from_secs(600))],
        json!({}),
    )
    .await;
    let first = home.agent().await;
    let running = first.submit(msg("a", "long job")).await.unwrap();
    home.wait_requests(1).await;
    let queued = first.submit(msg("a", "behind it")).await.unwrap();

    // `kafclaw agent` beside a running gateway: the same timeline, a second runtime.
    home.srv.push([Reply::text("second runtime answer")]);
    let second = home.agent().await;
    assert!(
        second.start_report().resumed.is_empty(),
        "no recovery under a live runtime"
    );
    assert!(
        second.start_report().queued.is_empty(),
        "the first runtime's queue stays its own"
    );
    assert_eq!(
        second.outcome(&running.task_id).await.unwrap().state,
        TaskState::Processing,
        "the running task was not put back to pending"
    );
    let own = second.submit(msg("b", "quick question")).await.unwrap();
    assert_eq!(
        done(&second, &own.task_id).await.reply.as_deref(),
        Some("second runtime answer")
    );
    assert_eq!(
        second.outcome(&queued.task_id).await.unwrap().state,
        TaskState::Pending
    );
    second.shutdown(WAIT).await;
    first.shutdown(Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_deadline_passes_in_the_queue_is_not_worked_on() {
    let home = Home::new(
        Wire::OpenAi,
        vec![
            Reply::text("first").delayed(Duration::from_secs(2)),
            Reply::text("never used"),
        ],
        json!({}),
    )
    .await;
    let agent = home.agent().await;
    // The first task of the session holds the model for 2 s; the second, queued behind
    // it, may take only 200 ms from now.
    let first = agent.submit(msg("dl", "slow one")).await.unwrap();
    let deadline = chrono::Utc::now() + chrono::Duration::milliseconds(200);
    let late = agent
        .submit_until(msg("dl", "in a hurry"), deadline)
        .await
        .unwrap();
    assert_eq!(
        done(&agent, &first.task_id).await.reply.as_deref(),
        Some("first")
    );
    let out = done(&agent, &late.task_id).await;
    assert_eq!(out.state, TaskState::Failed);
    let reason = out.error.unwrap();
    assert!(
        reason.contains("deadline") && reason.contains("not worked on"),
        "{reason}"
    );
    assert_eq!(
        home.requests().len(),
        1,
        "the late task never reached the model"
    );
    // A deadline already passed at submission fails the same way.
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    let gone = agent
        .submit_until(msg("other", "too late"), past)
        .await
        .unwrap();
    assert_eq!(done(&agent, &gone.task_id).await.state, TaskState::Failed);
    assert_eq!(home.requests().len(), 1);
    agent.shutdown(WAIT).await;
}
