//! Approvals: a tool call that needs a human parks its task (not the worker pool), other
//! sessions keep working, and `decide_approval` resumes it — approved, the tool runs;
//! denied, the model is told; no decision in time, the request expires.

use kafclaw_agent::{
    Agent, EVENT_APPROVAL_DECIDED, EVENT_APPROVAL_REQUESTED, EVENT_TOOL_CALL, Error, TaskState,
};
use kafclaw_policy::Outcome;
use kafclaw_testkit::{Reply, Wire};
use kafclaw_timeline::{ApprovalFilter, ApprovalStatus, DecisionFilter};
use serde_json::json;

use crate::support::*;

/// Owner writes (tier 1) need an approval; one worker slot, so a parked task that held
/// its slot would block every other session.
async fn home(script: Vec<Reply>) -> (Home, Agent) {
    let home = Home::new(
        Wire::OpenAi,
        script,
        json!({"policy": {"owner": {"approvalTiers": [1]}}}),
    )
    .await;
    let mut opts = options();
    opts.concurrency = 1;
    let agent = home.agent_with(opts).await;
    (home, agent)
}

async fn pending_approval(agent: &Agent, task_id: &str) -> String {
    let list = agent
        .timeline()
        .list_approvals(&ApprovalFilter {
            task_id: Some(task_id.into()),
            status: Some(ApprovalStatus::Pending),
            ..ApprovalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].approval_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_and_denied_while_another_session_keeps_working() {
    let (home, agent) = home(vec![
        // session A: asks to write, parks
        Reply::tool_call("write_file", json!({"path": "a.txt", "content": "from A"})),
        // session B: answers while A is parked
        Reply::text("B done"),
        // A, after the approval
        Reply::text("A wrote the file"),
        // session C: asks to write, parks
        Reply::tool_call("write_file", json!({"path": "c.txt", "content": "from C"})),
        // session D: answers while C is parked
        Reply::text("D done"),
        // C, after the denial
        Reply::text("C was not allowed"),
    ])
    .await;

    // Approved.
    let a = agent.submit(msg("A", "write a.txt")).await.unwrap();
    wait_state(&agent, &a.task_id, TaskState::AwaitingApproval).await;
    let approval_a = pending_approval(&agent, &a.task_id).await;
    let b = agent.chat(msg("B", "hello"), WAIT).await.unwrap();
    assert_eq!(
        b.reply.as_deref(),
        Some("B done"),
        "B ran while A was parked"
    );
    assert_eq!(
        agent.outcome(&a.task_id).await.unwrap().state,
        TaskState::AwaitingApproval
    );
    assert!(!exists(&home.work_repo().join("a.txt")));
    agent
        .decide_approval(&approval_a, true, "ops@example")
        .await
        .unwrap();
    let a_out = done(&agent, &a.task_id).await;
    assert_eq!(a_out.reply.as_deref(), Some("A wrote the file"));
    assert_eq!(
        std::fs::read_to_string(home.work_repo().join("a.txt")).unwrap(),
        "from A"
    );

    // Denied.
    let c = agent.submit(msg("C", "write c.txt")).await.unwrap();
    wait_state(&agent, &c.task_id, TaskState::AwaitingApproval).await;
    let approval_c = pending_approval(&agent, &c.task_id).await;
    let d = agent.chat(msg("D", "hello"), WAIT).await.unwrap();
    assert_eq!(d.reply.as_deref(), Some("D done"));
    agent
        .decide_approval(&approval_c, false, "ops@example")
        .await
        .unwrap();
    let c_out = done(&agent, &c.task_id).await;
    assert_eq!(c_out.reply.as_deref(), Some("C was not allowed"));
    assert!(!exists(&home.work_repo().join("c.txt")));
    let told = last_message_text(&home.requests()[5]);
    assert!(told.contains("the operator denied this call"), "{told}");

    // The audit trail of both.
    let tl = agent.timeline();
    for (task, approval, status, outcomes) in [
        (
            &a.task_id,
            &approval_a,
            ApprovalStatus::Approved,
            [Outcome::RequireApproval, Outcome::Allow],
        ),
        (
            &c.task_id,
            &approval_c,
            ApprovalStatus::Denied,
            [Outcome::RequireApproval, Outcome::Deny],
        ),
    ] {
        let stored = tl.get_approval(approval).await.unwrap().unwrap();
        assert_eq!(stored.status, status);
        assert_eq!(stored.decided_by.as_deref(), Some("ops@example"));
        assert_eq!(stored.tool, "write_file");
        let decisions = tl
            .list_decisions(&DecisionFilter {
                task_id: Some(task.clone()),
                ..DecisionFilter::default()
            })
            .await
            .unwrap();
        let got: Vec<Outcome> = decisions.iter().rev().map(|d| d.outcome).collect();
        assert_eq!(got, outcomes);
        let out = agent.outcome(task).await.unwrap();
        let events = trace(tl, &out.trace_id).await;
        assert_eq!(of_type(&events, EVENT_APPROVAL_REQUESTED).len(), 1);
        let decided = of_type(&events, EVENT_APPROVAL_DECIDED);
        assert_eq!(decided[0].metadata["status"], status.as_str());
        let tool = of_type(&events, EVENT_TOOL_CALL);
        assert_eq!(tool[0].metadata["approval_id"], approval.as_str());
    }
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_message_of_the_parked_session_waits_its_turn() {
    let (home, agent) = home(vec![
        Reply::tool_call("write_file", json!({"path": "n.txt", "content": "1"})),
        Reply::text("first done"),
        Reply::text("second done"),
    ])
    .await;
    let first = agent.submit(msg("S", "one")).await.unwrap();
    wait_state(&agent, &first.task_id, TaskState::AwaitingApproval).await;
    let second = agent.submit(msg("S", "two")).await.unwrap();
    // The session is ordered: "two" stays queued behind the parked task.
    assert_eq!(
        agent.outcome(&second.task_id).await.unwrap().state,
        TaskState::Pending
    );
    assert_eq!(home.requests().len(), 1);
    let id = pending_approval(&agent, &first.task_id).await;
    agent.decide_approval(&id, true, "me").await.unwrap();
    assert_eq!(
        done(&agent, &second.task_id).await.reply.as_deref(),
        Some("second done")
    );
    assert_eq!(
        done(&agent, &first.task_id).await.reply.as_deref(),
        Some("first done")
    );
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_approval_expires_with_a_clear_result() {
    let (home, agent) = home(vec![
        Reply::tool_call("write_file", json!({"path": "late.txt", "content": "x"})),
        Reply::text("Nobody approved it."),
    ])
    .await;
    agent
        .timeline()
        .set_setting("approval_timeout_seconds", "1")
        .await
        .unwrap();
    let out = agent.chat(msg("S", "write late.txt"), WAIT).await.unwrap();
    assert_eq!(out.reply.as_deref(), Some("Nobody approved it."));
    assert!(!exists(&home.work_repo().join("late.txt")));
    let told = last_message_text(&home.requests()[1]);
    assert!(told.contains("expired after 1 s"), "{told}");
    let approvals = agent
        .timeline()
        .list_approvals(&ApprovalFilter {
            task_id: Some(out.task_id.clone()),
            ..ApprovalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(approvals[0].status, ApprovalStatus::Expired);
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_an_unknown_or_decided_approval_is_an_error() {
    let (_home, agent) = home(vec![
        Reply::tool_call("write_file", json!({"path": "z.txt", "content": "z"})),
        Reply::text("ok"),
    ])
    .await;
    let err = agent
        .decide_approval("no-such-id", true, "me")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NotFound {
                what: "approval",
                ..
            }
        ),
        "{err}"
    );
    let s = agent.submit(msg("S", "write z")).await.unwrap();
    wait_state(&agent, &s.task_id, TaskState::AwaitingApproval).await;
    let id = pending_approval(&agent, &s.task_id).await;
    let err = agent.decide_approval(&id, true, " ").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Invalid {
                field: "decided_by",
                ..
            }
        ),
        "{err}"
    );
    agent.decide_approval(&id, true, "me").await.unwrap();
    let err = agent.decide_approval(&id, false, "me").await.unwrap_err();
    assert!(err.to_string().contains("already approved"), "{err}");
    done(&agent, &s.task_id).await;
    agent.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_approval_survives_a_restart() {
    let call = || Reply::tool_call("write_file", json!({"path": "r.txt", "content": "kept"}));
    let (home, agent) = home(vec![call()]).await;
    let s = agent.submit(msg("R", "write r.txt")).await.unwrap();
    wait_state(&agent, &s.task_id, TaskState::AwaitingApproval).await;
    let id = pending_approval(&agent, &s.task_id).await;
    agent.shutdown(std::time::Duration::ZERO).await;
    agent.timeline().close().await;

    // The restarted runtime runs the turn again; the model asks for the same call, and
    // the request made before the restart is used instead of a second one.
    home.srv
        .push([call(), Reply::text("written after the restart")]);
    let agent = home.agent_with(options()).await;
    assert_eq!(agent.start_report().resumed, vec![s.task_id.clone()]);
    agent.decide_approval(&id, true, "me").await.unwrap();
    let out = done(&agent, &s.task_id).await;
    assert_eq!(out.reply.as_deref(), Some("written after the restart"));
    assert_eq!(
        std::fs::read_to_string(home.work_repo().join("r.txt")).unwrap(),
        "kept"
    );
    let all = agent
        .timeline()
        .list_approvals(&ApprovalFilter {
            task_id: Some(s.task_id.clone()),
            ..ApprovalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "one request, reused: {all:?}");
    agent.shutdown(WAIT).await;
}
