//! Spans of a group task worked by this agent, taken from the agent's timeline events
//! (the task span, one per model call, one per tool call) and published on the
//! group's traces topic, so the requester stores them under its own trace.

use chrono::{DateTime, SecondsFormat, Utc};
use kafclaw_envelope::TracePayload;
use kafclaw_timeline::{Event, Timeline};
use serde_json::Value;

/// Longest span content published (characters).
const MAX_SPAN_CONTENT: usize = 2000;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meta_str<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
    e.metadata.get(key).and_then(Value::as_str)
}

/// The spans of agent task `task_id` (trace `trace_id`): a `TASK` span from its
/// `message_in` to its `message_out` or `task_failed`, an `LLM` span per model call and a
/// `TOOL` span per tool call, each a child of the task span. `title` names the task span.
pub(crate) fn spans_of(events: &[Event], task_id: &str, title: &str) -> Vec<TracePayload> {
    let mine: Vec<&Event> = events
        .iter()
        .filter(|e| meta_str(e, "task_id") == Some(task_id))
        .collect();
    let Some(start) = mine
        .iter()
        .find(|e| e.event_type == kafclaw_agent::EVENT_MESSAGE_IN)
    else {
        return Vec::new();
    };
    let trace_id = start.trace_id.clone().unwrap_or_default();
    let task_span = start.span_id.clone().unwrap_or_default();
    let end = mine.iter().rev().find(|e| {
        e.event_type == kafclaw_agent::EVENT_MESSAGE_OUT
            || e.event_type == kafclaw_agent::EVENT_TASK_FAILED
    });
    let ended = end.map_or_else(Utc::now, |e| e.created_at);
    let mut spans = vec![TracePayload {
        trace_id: trace_id.clone(),
        span_id: task_span.clone(),
        parent_span_id: start.parent_span_id.clone().unwrap_or_default(),
        span_type: "TASK".into(),
        title: title.to_owned(),
        content: end.map_or_else(String::new, |e| {
            let prefix = if e.event_type == kafclaw_agent::EVENT_TASK_FAILED {
                "failed: "
            } else {
                ""
            };
            cut(&format!("{prefix}{}", e.content), MAX_SPAN_CONTENT)
        }),
        started_at: rfc3339(start.created_at),
        ended_at: rfc3339(ended),
        duration_ms: (ended - start.created_at).num_milliseconds().max(0),
    }];
    for e in &mine {
        let (kind, title) = match e.event_type.as_str() {
            t if t == kafclaw_agent::EVENT_LLM_CALL => (
                "LLM",
                format!(
                    "model call {} ({})",
                    e.metadata
                        .get("iteration")
                        .map_or(String::new(), Value::to_string),
                    meta_str(e, "model").unwrap_or("model unknown")
                ),
            ),
            t if t == kafclaw_agent::EVENT_TOOL_CALL => (
                "TOOL",
                format!(
                    "tool {}: {}",
                    meta_str(e, "tool").unwrap_or_default(),
                    meta_str(e, "outcome").unwrap_or_default()
                ),
            ),
            _ => continue,
        };
        let duration = e
            .metadata
            .get("duration_ms")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let started = e.created_at - chrono::Duration::milliseconds(duration);
        let mut content = e.content.clone();
        if let Some(reason) = meta_str(e, "reason").filter(|r| !r.is_empty())
            && kind == "TOOL"
            && meta_str(e, "outcome") != Some("allow")
        {
            content = format!("{content}\n(policy: {reason})");
        }
        spans.push(TracePayload {
            trace_id: trace_id.clone(),
            span_id: e.span_id.clone().unwrap_or_default(),
            parent_span_id: task_span.clone(),
            span_type: kind.into(),
            title,
            content: cut(&content, MAX_SPAN_CONTENT),
            started_at: rfc3339(started),
            ended_at: rfc3339(e.created_at),
            duration_ms: duration,
        });
    }
    spans
}

/// Reads the spans of agent task `task_id` from the timeline.
pub(crate) async fn task_spans(
    timeline: &Timeline,
    trace_id: &str,
    task_id: &str,
    title: &str,
) -> kafclaw_timeline::Result<Vec<TracePayload>> {
    let events = timeline.trace_events(trace_id).await?;
    Ok(spans_of(&events, task_id, title))
}

/// The trace id and span id of a W3C `traceparent`, when it is well-formed.
pub(crate) fn parse_traceparent(tp: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = tp.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match parts.as_slice() {
        [v, t, s, f, ..] if hex(v, 2) && hex(t, 32) && hex(s, 16) && hex(f, 2) => {
            Some(((*t).to_owned(), (*s).to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, span: &str, parent: Option<&str>, meta: Value, content: &str) -> Event {
        Event {
            id: 0,
            event_id: "e".into(),
            event_type: kind.into(),
            trace_id: Some("t".repeat(32)),
            span_id: Some(span.into()),
            parent_span_id: parent.map(str::to_owned),
            sender: "a".into(),
            channel: "group".into(),
            content: content.into(),
            metadata: meta,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn task_model_and_tool_spans_hang_under_the_task_span() {
        let events = vec![
            event(
                "message_in",
                "task1",
                Some("remote"),
                json!({"task_id": "k"}),
                "hi",
            ),
            event(
                "message_in",
                "other",
                None,
                json!({"task_id": "x"}),
                "not mine",
            ),
            event(
                "llm_call",
                "llm1",
                Some("task1"),
                json!({"task_id": "k", "iteration": 1, "model": "m", "duration_ms": 5}),
                "",
            ),
            event(
                "tool_call",
                "tool1",
                Some("task1"),
                json!({"task_id": "k", "tool": "exec", "outcome": "deny", "reason": "tier_above_class_max: no"}),
                "refused by policy",
            ),
            event(
                "message_out",
                "task1",
                Some("remote"),
                json!({"task_id": "k"}),
                "done",
            ),
        ];
        let spans = spans_of(&events, "k", "group task");
        assert_eq!(spans.len(), 3);
        assert_eq!(
            (
                spans[0].span_type.as_str(),
                spans[0].span_id.as_str(),
                spans[0].parent_span_id.as_str()
            ),
            ("TASK", "task1", "remote")
        );
        assert_eq!(spans[0].content, "done");
        assert_eq!(
            (
                spans[1].span_type.as_str(),
                spans[1].parent_span_id.as_str()
            ),
            ("LLM", "task1")
        );
        assert_eq!(spans[1].title, "model call 1 (m)");
        assert_eq!(spans[2].title, "tool exec: deny");
        assert!(spans[2].content.contains("tier_above_class_max"));
        assert!(spans_of(&events, "missing", "x").is_empty());
    }

    #[test]
    fn traceparents_are_parsed() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(tp),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        assert_eq!(parse_traceparent("garbage"), None);
    }
}
