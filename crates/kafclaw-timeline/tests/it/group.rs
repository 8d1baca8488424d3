//! Group state: roster and history, spans, audit, delegation chains, skills.

use chrono::{Duration, Utc};
use kafclaw_timeline::{
    GroupAuditFilter, GroupSpanFilter, MemberUpdate, NewDelegation, NewGroupAudit, NewGroupSpan,
    NewSkillChannel, RosterChange,
};

use crate::support::open;

fn heartbeat(agent: &str, role: &str, status: &str, at: chrono::DateTime<Utc>) -> MemberUpdate {
    MemberUpdate {
        agent_id: agent.into(),
        identity: serde_json::json!({"name": agent, "capabilities": ["code"]}),
        role: role.into(),
        zone: Some("public".into()),
        status: status.into(),
        seen_at: Some(at),
    }
}

#[tokio::test]
async fn roster_tracks_joins_changes_and_heartbeats() {
    let t = open().await;
    // Stored times have millisecond precision.
    let t0 = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
        - Duration::minutes(10);
    let (m, change) = t
        .upsert_member(heartbeat("a1", "worker", "active", t0))
        .await
        .unwrap();
    assert_eq!(change, RosterChange::Joined);
    assert_eq!(m.first_seen, m.last_seen);

    let (m, change) = t
        .upsert_member(heartbeat(
            "a1",
            "worker",
            "active",
            t0 + Duration::minutes(1),
        ))
        .await
        .unwrap();
    assert_eq!(change, RosterChange::Seen);
    assert_eq!(m.last_seen, t0 + Duration::minutes(1));
    assert_eq!(m.first_seen, t0);

    // A late, out-of-order heartbeat does not move last_seen back.
    let (m, _) = t
        .upsert_member(heartbeat("a1", "worker", "active", t0))
        .await
        .unwrap();
    assert_eq!(m.last_seen, t0 + Duration::minutes(1));

    let (m, change) = t
        .upsert_member(heartbeat(
            "a1",
            "orchestrator",
            "active",
            t0 + Duration::minutes(2),
        ))
        .await
        .unwrap();
    assert_eq!(change, RosterChange::Changed);
    assert_eq!(m.role, "orchestrator");

    let history = t.roster_history(Some("a1"), None, 0).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.action.as_str(), h.role.as_str()))
            .collect::<Vec<_>>(),
        [("changed", "orchestrator"), ("joined", "worker")]
    );
    assert_eq!(history[1].identity["name"], "a1");
}

#[tokio::test]
async fn silent_members_expire() {
    let t = open().await;
    let now = Utc::now();
    t.upsert_member(heartbeat(
        "quiet",
        "worker",
        "active",
        now - Duration::minutes(5),
    ))
    .await
    .unwrap();
    t.upsert_member(heartbeat("chatty", "worker", "active", now))
        .await
        .unwrap();
    t.upsert_member(heartbeat(
        "gone",
        "worker",
        "left",
        now - Duration::hours(1),
    ))
    .await
    .unwrap();
    let expired = t.expire_members(now - Duration::minutes(1)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].agent_id, "quiet");
    assert_eq!(expired[0].status, "expired");
    let active = t.list_members(Some("active")).await.unwrap();
    assert_eq!(
        active
            .iter()
            .map(|m| m.agent_id.as_str())
            .collect::<Vec<_>>(),
        ["chatty"]
    );
    assert_eq!(t.list_members(None).await.unwrap().len(), 3);
    let h = t.roster_history(Some("quiet"), None, 0).await.unwrap();
    assert_eq!(h[0].status, "expired");
    // A heartbeat brings it back, recorded as a change.
    let (_, change) = t
        .upsert_member(heartbeat("quiet", "worker", "active", Utc::now()))
        .await
        .unwrap();
    assert_eq!(change, RosterChange::Changed);
    assert_eq!(
        t.get_member("quiet").await.unwrap().unwrap().status,
        "active"
    );
}

#[tokio::test]
async fn spans_and_audit_records_are_deduplicated_by_id() {
    let t = open().await;
    let span = NewGroupSpan {
        trace_id: "tr".into(),
        span_id: "sp-1".into(),
        source_agent_id: "a1".into(),
        span_type: "task.request".into(),
        title: "summarise".into(),
        ..Default::default()
    };
    assert!(t.record_group_span(span.clone()).await.unwrap());
    assert!(!t.record_group_span(span).await.unwrap());
    assert!(
        t.record_group_span(NewGroupSpan {
            trace_id: "tr".into(),
            span_id: "sp-2".into(),
            parent_span_id: Some("sp-1".into()),
            source_agent_id: "a2".into(),
            span_type: "task.response".into(),
            duration_ms: Some(1200),
            ..Default::default()
        })
        .await
        .unwrap()
    );
    let spans = t
        .list_group_spans(&GroupSpanFilter {
            trace_id: Some("tr".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        spans.iter().map(|s| s.span_id.as_str()).collect::<Vec<_>>(),
        ["sp-1", "sp-2"]
    );
    assert_eq!(spans[1].duration_ms, Some(1200));
    let from_a2 = t
        .list_group_spans(&GroupSpanFilter {
            source_agent_id: Some("a2".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(from_a2.len(), 1);

    let audit = NewGroupAudit {
        event_id: "ev-1".into(),
        agent_id: "a1".into(),
        action: "skill.registered".into(),
        subject: Some("summarise".into()),
        detail: serde_json::json!({"version": 2}),
        trace_id: None,
    };
    assert!(t.record_group_audit(audit.clone()).await.unwrap());
    assert!(!t.record_group_audit(audit).await.unwrap());
    let rows = t
        .list_group_audit(&GroupAuditFilter {
            action: Some("skill.registered".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail["version"], 2);
}

#[tokio::test]
async fn delegation_chain_follows_parents_and_children_only() {
    let t = open().await;
    let d = |task: &str, parent: Option<&str>, kind: &str, depth: u32| NewDelegation {
        task_id: task.into(),
        parent_task_id: parent.map(Into::into),
        event_type: kind.into(),
        sender_id: "x".into(),
        depth,
        ..Default::default()
    };
    t.record_delegation(d("root", None, "request", 0))
        .await
        .unwrap();
    t.record_delegation(d("child", Some("root"), "request", 1))
        .await
        .unwrap();
    t.record_delegation(d("child", Some("root"), "accepted", 1))
        .await
        .unwrap();
    t.record_delegation(d("grandchild", Some("child"), "request", 2))
        .await
        .unwrap();
    t.record_delegation(d("sibling", Some("root"), "request", 1))
        .await
        .unwrap();
    t.record_delegation(d("unrelated", None, "request", 0))
        .await
        .unwrap();

    let from_child = t.delegation_chain("child").await.unwrap();
    assert_eq!(
        from_child
            .iter()
            .map(|e| (e.task_id.as_str(), e.event_type.as_str()))
            .collect::<Vec<_>>(),
        [
            ("root", "request"),
            ("child", "request"),
            ("child", "accepted"),
            ("grandchild", "request")
        ]
    );
    let from_root = t.delegation_chain("root").await.unwrap();
    assert_eq!(from_root.len(), 5);
    assert!(from_root.iter().all(|e| e.task_id != "unrelated"));
    assert!(t.delegation_chain("nothing").await.unwrap().is_empty());
}

#[tokio::test]
async fn delegation_cycles_terminate() {
    let t = open().await;
    for (task, parent) in [("a", "b"), ("b", "a")] {
        t.record_delegation(NewDelegation {
            task_id: task.into(),
            parent_task_id: Some(parent.into()),
            event_type: "request".into(),
            sender_id: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(t.delegation_chain("a").await.unwrap().len(), 2);
}

#[tokio::test]
async fn skill_channels_upsert_list_remove() {
    let t = open().await;
    let s = |group: &str, skill: &str, local: bool| NewSkillChannel {
        group_name: group.into(),
        skill_name: skill.into(),
        requests_topic: format!("group.{group}.skill.{skill}.requests"),
        responses_topic: format!("group.{group}.skill.{skill}.responses"),
        registered_by: "a1".into(),
        local_provider: local,
    };
    let first = t
        .upsert_skill_channel(s("g", "summarise", false))
        .await
        .unwrap();
    let again = t
        .upsert_skill_channel(s("g", "summarise", true))
        .await
        .unwrap();
    assert!(again.local_provider);
    assert_eq!(again.created_at, first.created_at);
    t.upsert_skill_channel(s("g", "translate", false))
        .await
        .unwrap();
    t.upsert_skill_channel(s("other", "translate", false))
        .await
        .unwrap();
    assert_eq!(t.list_skill_channels(Some("g")).await.unwrap().len(), 2);
    assert_eq!(t.list_skill_channels(None).await.unwrap().len(), 3);
    assert!(t.remove_skill_channel("g", "translate").await.unwrap());
    assert!(!t.remove_skill_channel("g", "translate").await.unwrap());
    assert_eq!(t.list_skill_channels(Some("g")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn admissions_keep_the_first_sponsor_inside_and_outside_record_transactions() {
    let t = open().await;
    let at = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    assert!(t.admit_member("founder", "founder", at).await.unwrap());
    // Admitted as the effect of a consumed onboarding record.
    let mut rec = t
        .begin_record("agent-x", "group.g.control.onboarding", 0, 7, Some("m-1"))
        .await
        .unwrap();
    assert!(rec.admit_member("member", "founder", at).await.unwrap());
    assert!(!rec.admit_member("founder", "member", at).await.unwrap());
    rec.commit().await.unwrap();
    // A rolled-back record admits nobody.
    let mut rec = t
        .begin_record("agent-x", "group.g.control.onboarding", 0, 8, Some("m-2"))
        .await
        .unwrap();
    rec.admit_member("ghost", "founder", at).await.unwrap();
    drop(rec);
    let admitted: Vec<(String, String)> = t
        .admissions()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.agent_id, a.sponsor_id))
        .collect();
    assert_eq!(
        admitted,
        [
            ("founder".to_owned(), "founder".to_owned()),
            ("member".to_owned(), "founder".to_owned())
        ]
    );
    assert_eq!(t.admissions().await.unwrap()[1].admitted_at, at);
    let err = t.admit_member("", "founder", at).await.unwrap_err();
    assert!(err.to_string().contains("agent_id"), "{err}");
}

fn open_task(id: &str, state: kafclaw_timeline::OpenTaskState) -> kafclaw_timeline::OpenTask {
    kafclaw_timeline::OpenTask {
        task_id: id.into(),
        group_name: "g".into(),
        request: format!(r#"{{"task_id":"{id}"}}"#),
        traceparent: None,
        targeted: false,
        state,
    }
}

#[tokio::test]
async fn open_tasks_go_claimed_running_done_and_stay_done() {
    use kafclaw_timeline::OpenTaskState::{Claimed, Running};
    let t = open().await;
    let save = |task: kafclaw_timeline::OpenTask, offset: i64| {
        let tl = kafclaw_timeline::Timeline::clone(&t);
        async move {
            let mut rtx = tl
                .begin_record("agent", "group.g.requests", 0, offset, None)
                .await
                .unwrap();
            rtx.save_open_task(&task).await.unwrap();
            rtx.commit().await.unwrap();
        }
    };
    // claimed, then running (the claim won); a second claimed write changes nothing.
    save(open_task("t1", Claimed), 0).await;
    save(open_task("t1", Running), 1).await;
    save(open_task("t1", Claimed), 2).await;
    // t2: claimed, then its claim lost.
    save(open_task("t2", Claimed), 3).await;
    let mut rtx = t
        .begin_record("agent", "group.g.tasks.status", 0, 0, None)
        .await
        .unwrap();
    rtx.drop_open_claim("t2").await.unwrap();
    rtx.commit().await.unwrap();
    // t3: answered before its running write commits; the late write does not revive it.
    t.finish_open_task("g", "t3").await.unwrap();
    save(open_task("t3", Running), 4).await;
    let open_now = t.open_tasks("g").await.unwrap();
    assert_eq!(open_now.len(), 1, "{open_now:?}");
    assert_eq!(open_now[0].task_id, "t1");
    assert_eq!(open_now[0].state, Running);
    assert_eq!(open_now[0].request, r#"{"task_id":"t1"}"#);
    assert!(t.open_tasks("other").await.unwrap().is_empty());
    t.finish_open_task("g", "t1").await.unwrap();
    save(open_task("t1", Running), 5).await;
    assert!(t.open_tasks("g").await.unwrap().is_empty());
}
