//! The timeline as kafclaw-group's durable [`OffsetStore`] and [`GroupStore`]: a
//! consumed record's effect (roster, spans, audit, delegation, admissions), its
//! de-duplication mark and its next offset commit in one SQLite transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kafclaw_group::{
    AuditRecord, DelegationRecord, GroupStore, GroupTxn, MemberRecord, OffsetStore, OpenTaskRecord,
    RecordPosition, RecordTxn, SpanRecord, StoreError,
};

use crate::{MemberUpdate, NewDelegation, NewGroupAudit, NewGroupSpan, RecordTx, Timeline};

fn store_err(e: crate::Error) -> StoreError {
    StoreError(e.to_string())
}

#[async_trait]
impl RecordTxn for RecordTx {
    fn already_seen(&self) -> bool {
        RecordTx::already_seen(self)
    }

    async fn commit(self) -> Result<(), StoreError> {
        RecordTx::commit(self).await.map_err(store_err)
    }
}

#[async_trait]
impl OffsetStore for Timeline {
    type Txn = RecordTx;

    async fn load_offsets(
        &self,
        consumer_id: &str,
        topic: &str,
    ) -> Result<HashMap<i32, i64>, StoreError> {
        Timeline::load_offsets(self, consumer_id, topic)
            .await
            .map_err(store_err)
    }

    async fn begin(&self, position: RecordPosition) -> Result<RecordTx, StoreError> {
        self.begin_record(
            &position.consumer_id,
            &position.topic,
            position.partition,
            position.offset,
            position.message_id.as_deref(),
        )
        .await
        .map_err(store_err)
    }
}

fn member_update(m: MemberRecord) -> MemberUpdate {
    MemberUpdate {
        agent_id: m.agent_id,
        identity: m.identity,
        // Go agents announce no role; the roster keeps the table's default.
        role: if m.role.is_empty() {
            "member".to_owned()
        } else {
            m.role
        },
        zone: m.zone,
        status: m.status,
        seen_at: Some(m.seen_at),
    }
}

fn span(s: SpanRecord) -> NewGroupSpan {
    NewGroupSpan {
        trace_id: s.trace_id,
        span_id: s.span_id,
        parent_span_id: s.parent_span_id,
        source_agent_id: s.source_agent_id,
        span_type: s.span_type,
        title: s.title,
        content: s.content,
        started_at: s.started_at,
        ended_at: s.ended_at,
        duration_ms: s.duration_ms,
    }
}

#[async_trait]
impl GroupTxn for RecordTx {
    async fn upsert_member(&mut self, member: MemberRecord) -> Result<(), StoreError> {
        RecordTx::upsert_member(self, member_update(member))
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn record_span(&mut self, s: SpanRecord) -> Result<bool, StoreError> {
        RecordTx::record_group_span(self, span(s))
            .await
            .map_err(store_err)
    }

    async fn record_audit(&mut self, a: AuditRecord) -> Result<bool, StoreError> {
        RecordTx::record_group_audit(
            self,
            NewGroupAudit {
                event_id: a.event_id,
                agent_id: a.agent_id,
                action: a.action,
                subject: a.subject,
                detail: a.detail,
                trace_id: a.trace_id,
            },
        )
        .await
        .map_err(store_err)
    }

    async fn record_delegation(&mut self, d: DelegationRecord) -> Result<(), StoreError> {
        RecordTx::record_delegation(self, new_delegation(d))
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn admit_member(
        &mut self,
        agent_id: &str,
        sponsor_id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        RecordTx::admit_member(self, agent_id, sponsor_id, at)
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn save_open_task(
        &mut self,
        group: &str,
        task: &OpenTaskRecord,
    ) -> Result<(), StoreError> {
        let row = open_task_row(group, task)?;
        RecordTx::save_open_task(self, &row)
            .await
            .map_err(store_err)
    }

    async fn drop_open_claim(&mut self, task_id: &str) -> Result<(), StoreError> {
        RecordTx::drop_open_claim(self, task_id)
            .await
            .map_err(store_err)
    }
}

fn open_task_row(group: &str, task: &OpenTaskRecord) -> Result<crate::OpenTask, StoreError> {
    Ok(crate::OpenTask {
        task_id: task.request.task_id.clone(),
        group_name: group.to_owned(),
        request: serde_json::to_string(&task.request)
            .map_err(|e| StoreError(format!("encoding a task request: {e}")))?,
        traceparent: task.traceparent.clone(),
        targeted: task.targeted,
        state: if task.running {
            crate::OpenTaskState::Running
        } else {
            crate::OpenTaskState::Claimed
        },
    })
}

fn new_delegation(d: DelegationRecord) -> NewDelegation {
    NewDelegation {
        task_id: d.task_id,
        parent_task_id: d.parent_task_id,
        event_type: d.event_type,
        sender_id: d.sender_id,
        receiver_id: d.receiver_id,
        depth: d.depth,
        deadline_at: d.deadline_at,
        summary: d.summary,
        trace_id: d.trace_id,
    }
}

#[async_trait]
impl GroupStore for Timeline {
    async fn save_member(&self, member: MemberRecord) -> Result<(), StoreError> {
        Timeline::upsert_member(self, member_update(member))
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn expire_members(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Timeline::expire_members(self, cutoff)
            .await
            .map(|ms| ms.into_iter().map(|m| m.agent_id).collect())
            .map_err(store_err)
    }

    async fn admitted_members(&self) -> Result<Vec<String>, StoreError> {
        Timeline::admissions(self)
            .await
            .map(|a| a.into_iter().map(|a| a.agent_id).collect())
            .map_err(store_err)
    }

    async fn finish_open_task(&self, group: &str, task_id: &str) -> Result<(), StoreError> {
        Timeline::finish_open_task(self, group, task_id)
            .await
            .map_err(store_err)
    }

    async fn open_tasks(&self, group: &str) -> Result<Vec<OpenTaskRecord>, StoreError> {
        let rows = Timeline::open_tasks(self, group).await.map_err(store_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_str(&row.request) {
                Ok(request) => out.push(OpenTaskRecord {
                    request,
                    traceparent: row.traceparent,
                    targeted: row.targeted,
                    running: row.state == crate::OpenTaskState::Running,
                }),
                Err(e) => {
                    tracing::warn!(task = %row.task_id, error = %e, "a stored group task does not decode; skipped")
                }
            }
        }
        Ok(out)
    }

    async fn record_delegation(&self, d: DelegationRecord) -> Result<(), StoreError> {
        Timeline::record_delegation(self, new_delegation(d))
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn save_provided_skill(
        &self,
        group: &str,
        skill: &str,
        topics: (&str, &str),
        agent_id: &str,
    ) -> Result<(), StoreError> {
        Timeline::upsert_skill_channel(
            self,
            crate::NewSkillChannel {
                group_name: group.to_owned(),
                skill_name: skill.to_owned(),
                requests_topic: topics.0.to_owned(),
                responses_topic: topics.1.to_owned(),
                registered_by: agent_id.to_owned(),
                local_provider: true,
            },
        )
        .await
        .map(|_| ())
        .map_err(store_err)
    }

    async fn remove_provided_skill(&self, group: &str, skill: &str) -> Result<(), StoreError> {
        Timeline::remove_skill_channel(self, group, skill)
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn provided_skills(
        &self,
        group: &str,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        Timeline::list_skill_channels(self, Some(group))
            .await
            .map(|v| {
                v.into_iter()
                    .filter(|c| c.local_provider)
                    .map(|c| (c.skill_name, c.created_at))
                    .collect()
            })
            .map_err(store_err)
    }
}
