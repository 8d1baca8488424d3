//! Tasks from other agents that do not come through the group protocol's task topics
//! (the orchestrator's zone tasks): run through the agent loop exactly like a group
//! task (trust class `peer`, the requester as sender, one session and idempotency key
//! per task, the deadline and depth kept), with their spans returned to the caller (the
//! orchestrator publishes them on the zone's own topic, never on the group's traces topic).

use chrono::{DateTime, Utc};
use kafclaw_envelope::{TaskRequest, TracePayload};

use crate::hub::Collab;

/// The channel name of agent tasks made from zone tasks.
pub const ZONE_CHANNEL: &str = "zone";

/// The prefix of the session and idempotency key of an agent task made from a zone task.
pub(crate) const ZONE_KEY_PREFIX: &str = "zone:";

/// A task another agent sent to a zone this agent is a member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneWork {
    /// The zone task's id (one agent task per id: a redelivery gets the first outcome).
    pub task_id: String,
    /// The zone it was sent in.
    pub zone_id: String,
    /// The requester's agent id.
    pub requester_id: String,
    /// Short description (may be empty or equal to the content).
    pub description: String,
    /// The task's text.
    pub content: String,
    /// The requester's W3C `traceparent`, if it sent one. Without it, a task id of 32
    /// hex digits becomes the trace id (see [`ZoneWork::trace_parent`]).
    pub traceparent: Option<String>,
    /// When the task is over; `None`: the agent's own limits apply.
    pub deadline: Option<DateTime<Utc>>,
    /// The request's delegation depth: a task the model delegates from it gets depth + 1.
    pub delegation_depth: u32,
}

/// What a zone task ended with.
#[derive(Debug, Clone)]
pub struct ZoneOutcome {
    /// The reply, or the reason it failed.
    pub result: std::result::Result<String, String>,
    /// The agent task's spans, for the zone's topic (empty when it never ran).
    pub spans: Vec<TracePayload>,
}

impl ZoneWork {
    /// The traceparent the agent task continues: the requester's, else one whose trace
    /// id is the task id (when it is 32 lowercase hex digits, not all zero; a UUID
    /// without dashes) and whose parent span is the task id's first 16 digits, so the
    /// requester finds the answer's spans under `GET /api/v1/trace/{task id}`.
    pub fn trace_parent(&self) -> Option<String> {
        if let Some(tp) = &self.traceparent {
            return Some(tp.clone());
        }
        let id = self.task_id.as_str();
        let hex = id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex || id.bytes().all(|b| b == b'0') {
            return None;
        }
        let span = &id[..16];
        let span = if span.bytes().all(|b| b == b'0') {
            "0000000000000001"
        } else {
            span
        };
        Some(format!("00-{id}-{span}-01"))
    }

    /// What the model reads: the zone and description, then the content.
    pub(crate) fn text(&self) -> String {
        let d = self.description.trim();
        if d.is_empty() || d == self.content.trim() {
            format!("(zone task in {})\n{}", self.zone_id, self.content)
        } else {
            format!("(zone task in {}: {d})\n{}", self.zone_id, self.content)
        }
    }
}

impl Collab {
    /// Runs a zone task through the agent loop like a group task and returns the reply
    /// (`Err` with the reason when the task failed, ran out of time, or the agent is
    /// not bound). Channel [`ZONE_CHANNEL`], sender the requester, trust class `peer`,
    /// session and idempotency key `zone:<task id>`, deadline through
    /// `Agent::submit_until`. The task's spans come back in the outcome, for the zone's
    /// topic.
    pub async fn run_zone_task(&self, work: ZoneWork) -> ZoneOutcome {
        // As a request, so delegate_task from this task counts depth and keeps the
        // deadline (the zone task's requester is the chain's original requester).
        let mut parent = TaskRequest::new(
            &work.task_id,
            &work.requester_id,
            &work.description,
            &work.content,
        );
        parent.delegation_depth = i64::from(work.delegation_depth);
        if let Some(d) = work.deadline {
            parent.deadline_at = d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        }
        let run = crate::handler::AgentRun {
            channel: ZONE_CHANNEL,
            key: format!("{ZONE_KEY_PREFIX}{}", work.task_id),
            sender: work.requester_id.clone(),
            content: work.text(),
            traceparent: work.trace_parent(),
            deadline: work.deadline,
            title_suffix: format!(
                "zone task {} in {} from {}",
                work.task_id, work.zone_id, work.requester_id
            ),
            parent: Some(parent),
            spans: crate::handler::SpanRoute::Caller,
        };
        let (result, spans) = crate::handler::run_in_agent(&self.hub, run).await;
        ZoneOutcome { result, spans }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(task_id: &str) -> ZoneWork {
        ZoneWork {
            task_id: task_id.into(),
            zone_id: "red".into(),
            requester_id: "boss".into(),
            description: "Check the logs".into(),
            content: "Check the logs of yesterday".into(),
            traceparent: None,
            deadline: None,
            delegation_depth: 0,
        }
    }

    #[test]
    fn the_trace_continues_the_requester_or_is_named_by_the_task_id() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            work(id).trace_parent().as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-4bf92f3577b34da6-01")
        );
        let mut w = work(id);
        w.traceparent = Some("00-11111111111111111111111111111111-2222222222222222-01".into());
        assert_eq!(w.trace_parent(), w.traceparent);
        for bad in [
            "task-1",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "00000000000000000000000000000000",
            "4bf92f3577b34da6a3ce929d0e0e473",
        ] {
            assert_eq!(work(bad).trace_parent(), None, "{bad}");
        }
        assert_eq!(
            work("00000000000000000000000000000001")
                .trace_parent()
                .as_deref(),
            Some("00-00000000000000000000000000000001-0000000000000001-01")
        );
    }

    #[test]
    fn the_model_reads_the_zone_and_the_description() {
        assert_eq!(
            work("t").text(),
            "(zone task in red: Check the logs)\nCheck the logs of yesterday"
        );
        let mut w = work("t");
        w.description = w.content.clone();
        assert_eq!(w.text(), "(zone task in red)\nCheck the logs of yesterday");
    }
}
