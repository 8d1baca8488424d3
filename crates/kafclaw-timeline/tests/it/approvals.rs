//! Approval requests.

use chrono::{Duration, Utc};
use kafclaw_policy::ToolTier;
use kafclaw_timeline::{ApprovalAnswer, ApprovalFilter, ApprovalStatus, Error, NewApproval};

use crate::support::{new_task, open};

fn approval(task_id: Option<String>, tool: &str) -> NewApproval {
    NewApproval {
        task_id,
        trace_id: Some("trace-9".into()),
        tool: tool.into(),
        tier: Some(ToolTier::HighRisk),
        args: serde_json::json!({"argv": ["git", "push"]}),
        sender: "owner".into(),
        channel: "cli".into(),
    }
}

#[tokio::test]
async fn request_then_decide_once() {
    let t = open().await;
    let task = new_task(&t, "push please").await;
    let a = t
        .create_approval(approval(Some(task.task_id.clone()), "exec"))
        .await
        .unwrap();
    assert_eq!(a.status, ApprovalStatus::Pending);
    assert_eq!(a.args["argv"][1], "push");
    assert_eq!(a.tier, Some(ToolTier::HighRisk));
    assert_eq!(a.decided_at, None);

    let approved = t
        .decide_approval(
            &a.approval_id,
            ApprovalAnswer::Approve,
            "operator@dashboard",
        )
        .await
        .unwrap();
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("operator@dashboard"));
    assert!(approved.decided_at.is_some());

    let err = t
        .decide_approval(&a.approval_id, ApprovalAnswer::Deny, "someone-else")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::ApprovalNotPending {
                status: ApprovalStatus::Approved,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        t.get_approval(&a.approval_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        ApprovalStatus::Approved
    );
    let err = t
        .decide_approval("nope", ApprovalAnswer::Approve, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalNotFound { .. }));
}

#[tokio::test]
async fn ids_are_distinct_and_unguessable_length() {
    let t = open().await;
    let a = t.create_approval(approval(None, "exec")).await.unwrap();
    let b = t.create_approval(approval(None, "exec")).await.unwrap();
    assert_ne!(a.approval_id, b.approval_id);
    assert_eq!(a.approval_id.len(), 36);
}

#[tokio::test]
async fn an_unknown_task_is_refused_by_the_foreign_key() {
    let t = open().await;
    let err = t
        .create_approval(approval(Some("no-such-task".into()), "exec"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("approval"), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
}

#[tokio::test]
async fn old_pending_requests_expire() {
    let t = open().await;
    let old = t.create_approval(approval(None, "exec")).await.unwrap();
    let decided = t.create_approval(approval(None, "exec")).await.unwrap();
    t.decide_approval(&decided.approval_id, ApprovalAnswer::Deny, "op")
        .await
        .unwrap();
    // Everything requested before "a minute from now" is old enough.
    let expired = t
        .expire_approvals(Utc::now() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].approval_id, old.approval_id);
    assert_eq!(expired[0].status, ApprovalStatus::Expired);
    assert_eq!(expired[0].decided_by, None);
    let fresh = t.create_approval(approval(None, "exec")).await.unwrap();
    assert!(
        t.expire_approvals(Utc::now() - Duration::minutes(1))
            .await
            .unwrap()
            .is_empty()
    );
    let pending = t
        .list_approvals(&ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].approval_id, fresh.approval_id);
}

#[tokio::test]
async fn list_by_task_and_trace() {
    let t = open().await;
    let task = new_task(&t, "x").await;
    t.create_approval(approval(Some(task.task_id.clone()), "exec"))
        .await
        .unwrap();
    t.create_approval(approval(None, "write_file"))
        .await
        .unwrap();
    let by_task = t
        .list_approvals(&ApprovalFilter {
            task_id: Some(task.task_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_task.len(), 1);
    assert_eq!(by_task[0].tool, "exec");
    let by_trace = t
        .list_approvals(&ApprovalFilter {
            trace_id: Some("trace-9".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_trace.len(), 2);
}
