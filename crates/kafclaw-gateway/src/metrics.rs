//! Prometheus metrics in the text exposition format: HTTP requests and their latency by
//! listener and route, chat turns by outcome, and gauges read at scrape time (tasks by
//! status, queue depth, pending approvals, uptime, resident memory).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (server, route, method, status) → count.
    requests: BTreeMap<(&'static str, String, String, u16), u64>,
    /// (server, route) → latency.
    latency: BTreeMap<(&'static str, String), Histogram>,
    /// outcome → count.
    chats: BTreeMap<&'static str, u64>,
}

/// The gateway's counters, shared by both listeners.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read from the timeline at scrape time.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pub(crate) tasks_by_status: Vec<(&'static str, u64)>,
    pub(crate) pending_approvals: u64,
    pub(crate) uptime: Duration,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way
        // that matters; keep counting.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn observe_request(
        &self,
        server: &'static str,
        route: &str,
        method: &str,
        status: u16,
        took: Duration,
    ) {
        // Methods come from clients: keep the label set bounded.
        let method = match method {
            "GET" | "POST" | "HEAD" | "OPTIONS" | "PUT" | "PATCH" | "DELETE" => method,
            _ => "other",
        };
        let mut m = self.lock();
        *m.requests
            .entry((server, route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        m.latency
            .entry((server, route.to_owned()))
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// Counts a chat turn by outcome (`completed`, `failed`, `timeout`, `shutdown`, `error`).
    pub(crate) fn chat_turn(&self, outcome: &'static str) {
        *self.lock().chats.entry(outcome).or_default() += 1;
    }

    /// The exposition text.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP kafclaw_http_requests_total HTTP requests answered, by listener, route, method and status.\n");
        out.push_str("# TYPE kafclaw_http_requests_total counter\n");
        for ((server, route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "kafclaw_http_requests_total{{server=\"{server}\",route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str(
            "# HELP kafclaw_http_request_duration_seconds Time to answer an HTTP request.\n",
        );
        out.push_str("# TYPE kafclaw_http_request_duration_seconds histogram\n");
        for ((server, route), h) in &m.latency {
            let labels = format!("server=\"{server}\",route=\"{}\"", escape(route));
            for (le, n) in BUCKETS.iter().zip(h.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "kafclaw_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "kafclaw_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kafclaw_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kafclaw_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP kafclaw_chat_turns_total POST /chat turns, by outcome.\n");
        out.push_str("# TYPE kafclaw_chat_turns_total counter\n");
        for (outcome, n) in &m.chats {
            let _ = writeln!(out, "kafclaw_chat_turns_total{{outcome=\"{outcome}\"}} {n}");
        }
        drop(m);
        out.push_str("# HELP kafclaw_tasks Tasks in the timeline, by status.\n");
        out.push_str("# TYPE kafclaw_tasks gauge\n");
        let mut pending = 0;
        for (status, n) in &gauges.tasks_by_status {
            if *status == "pending" {
                pending = *n;
            }
            let _ = writeln!(out, "kafclaw_tasks{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP kafclaw_queue_depth Tasks queued and not yet started.\n");
        out.push_str("# TYPE kafclaw_queue_depth gauge\n");
        let _ = writeln!(out, "kafclaw_queue_depth {pending}");
        out.push_str("# HELP kafclaw_approvals_pending Tool calls waiting for a human decision.\n");
        out.push_str("# TYPE kafclaw_approvals_pending gauge\n");
        let _ = writeln!(
            out,
            "kafclaw_approvals_pending {}",
            gauges.pending_approvals
        );
        out.push_str("# HELP kafclaw_uptime_seconds Seconds since the gateway started.\n");
        out.push_str("# TYPE kafclaw_uptime_seconds gauge\n");
        let _ = writeln!(
            out,
            "kafclaw_uptime_seconds {}",
            gauges.uptime.as_secs_f64()
        );
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory of the process.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// VmRSS of this process (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.observe_request("api", "/chat", "POST", 200, Duration::from_millis(3));
        m.observe_request("api", "/chat", "POST", 200, Duration::from_millis(700));
        m.observe_request(
            "dashboard",
            "unmatched",
            "GET",
            404,
            Duration::from_micros(100),
        );
        m.chat_turn("completed");
        let text = m.render(&Gauges {
            tasks_by_status: vec![("pending", 4), ("completed", 9)],
            pending_approvals: 2,
            uptime: Duration::from_secs(5),
        });
        assert!(text.contains(
            "kafclaw_http_requests_total{server=\"api\",route=\"/chat\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "kafclaw_http_request_duration_seconds_bucket{server=\"api\",route=\"/chat\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "kafclaw_http_request_duration_seconds_bucket{server=\"api\",route=\"/chat\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains(
            "kafclaw_http_request_duration_seconds_count{server=\"api\",route=\"/chat\"} 2"
        ));
        assert!(text.contains("kafclaw_chat_turns_total{outcome=\"completed\"} 1"));
        assert!(text.contains("kafclaw_tasks{status=\"completed\"} 9"));
        assert!(text.contains("kafclaw_queue_depth 4"));
        assert!(text.contains("kafclaw_approvals_pending 2"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        for verb in ["FOO", "BAR", "BAZ"] {
            m.observe_request("api", "unmatched", verb, 405, Duration::ZERO);
        }
        let text = m.render(&Gauges::default());
        assert!(
            text.contains("method=\"other\",status=\"405\"} 3"),
            "{text}"
        );
        assert!(!text.contains("FOO"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
