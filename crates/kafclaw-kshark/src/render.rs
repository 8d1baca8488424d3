//! Rendering a [`Report`]: a plain-text table for terminals and a self-contained
//! HTML page (inline CSS, no scripts, no external resources, every value escaped).

use std::fmt::Write as _;

use crate::report::{Check, Report, Status};

fn latency(c: &Check) -> String {
    match c.latency_ms {
        Some(ms) if ms >= 100.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{ms:.1} ms"),
        None => "-".to_owned(),
    }
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_owned()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// The report as a terminal table, with hints under the rows that need them.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "{} {}: {} via {}{}",
        report.tool,
        report.tool_version,
        c.brokers.join(","),
        c.security_protocol,
        c.sasl_mechanism
            .as_ref()
            .map(|m| format!(" ({m} as {})", c.sasl_username.as_deref().unwrap_or("?")))
            .unwrap_or_default()
    );
    let headers = ["STATUS", "LAYER", "CHECK", "TARGET", "LATENCY"];
    let rows: Vec<[String; 5]> = report
        .checks
        .iter()
        .map(|ch| {
            [
                ch.status.label().to_owned(),
                ch.layer.as_str().to_owned(),
                ch.name.clone(),
                ch.target.clone(),
                latency(ch),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 4 {
                // Latency right-aligned.
                let _ = write!(s, "{:>w$}  ", cell, w = widths[i]);
            } else {
                s.push_str(&pad(cell, widths[i]));
                s.push_str("  ");
            }
        }
        s
    };
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}DETAIL", line(&header));
    let indent = " ".repeat(widths[0] + 2);
    for (ch, r) in report.checks.iter().zip(&rows) {
        let _ = writeln!(out, "{}{}", line(r), ch.detail);
        if let Some(h) = &ch.hint {
            let _ = writeln!(out, "{indent}hint: {h}");
        }
    }
    if !report.topics.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            line_of(
                &[
                    "TOPIC",
                    "KIND",
                    "PARTITIONS",
                    "LEADERS",
                    "HIGH WATERMARKS",
                    "LAG"
                ],
                &report
                    .topics
                    .iter()
                    .map(|t| {
                        let join = |f: &dyn Fn(&crate::report::PartitionInfo) -> String| {
                            if t.partitions.is_empty() {
                                "-".to_owned()
                            } else {
                                t.partitions.iter().map(f).collect::<Vec<_>>().join("/")
                            }
                        };
                        let opt =
                            |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                        vec![
                            t.topic.clone(),
                            t.kind.clone(),
                            if t.exists {
                                t.partitions.len().to_string()
                            } else {
                                "missing".to_owned()
                            },
                            join(&|p| p.leader.to_string()),
                            join(&|p| opt(p.high_watermark)),
                            t.total_lag
                                .map_or_else(|| "-".to_owned(), |l| l.to_string()),
                        ]
                    })
                    .collect::<Vec<_>>()
            )
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "{}: {} ok, {} warn, {} fail, {} skipped in {:.0} ms",
        s.status.label(),
        s.counts.ok,
        s.counts.warn,
        s.counts.fail,
        s.counts.skipped,
        report.duration_ms
    );
    out
}

fn line_of(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut put = |cells: Vec<String>| {
        let mut s = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            s.push_str(&pad(cell, *w));
            s.push_str("  ");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    put(headers.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        put(r.clone());
    }
    out.trim_end().to_owned()
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}\
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem}\
.meta{color:#566;font-size:.9rem}\
table{border-collapse:collapse;width:100%;margin-top:.5rem;font-size:.9rem;background:#fff}\
th,td{border:1px solid #d8dde6;padding:.35rem .5rem;text-align:left;vertical-align:top}\
th{background:#eef1f6}td.num{text-align:right;white-space:nowrap}\
.st{font-weight:600;white-space:nowrap}\
.ok .st{color:#137333}.warn .st{color:#a15c00}.fail .st{color:#c5221f}.skipped .st{color:#6b7280}\
tr.fail{background:#fdecea}tr.warn{background:#fff6e5}\
.hint{color:#7a3e00;margin-top:.25rem}\
.badge{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;color:#fff;font-weight:600}\
.badge.ok{background:#137333}.badge.warn{background:#a15c00}.badge.fail{background:#c5221f}\
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}";

/// The report as one self-contained HTML page.
pub fn render_html(report: &Report) -> String {
    let e = escape;
    let mut h = String::new();
    let s = &report.summary;
    let status_class = |st: Status| st.as_str();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} report: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        e(&report.tool),
        e(&report.config.brokers.join(","))
    );
    let _ = write!(
        h,
        "<h1>{} report <span class=\"badge {}\">{}</span></h1>\n<p class=\"meta\">{} {} &middot; started {} &middot; {:.0} ms &middot; {} ok, {} warn, {} fail, {} skipped</p>\n",
        e(&report.tool),
        status_class(s.status),
        s.status.label(),
        e(&report.tool),
        e(&report.tool_version),
        e(&report.started_at),
        report.duration_ms,
        s.counts.ok,
        s.counts.warn,
        s.counts.fail,
        s.counts.skipped
    );

    h.push_str("<h2>Settings</h2>\n<table>\n");
    let c = &report.config;
    let mut setting = |k: &str, v: String| {
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            e(k),
            e(&v)
        );
    };
    setting("brokers", c.brokers.join(", "));
    setting("security protocol", c.security_protocol.clone());
    if let Some(m) = &c.sasl_mechanism {
        setting("SASL mechanism", m.clone());
    }
    if let Some(u) = &c.sasl_username {
        setting(
            "SASL user",
            format!(
                "{u} (password {})",
                if c.sasl_password_set {
                    "set"
                } else {
                    "not set"
                }
            ),
        );
    }
    for (k, v) in [
        ("CA file", &c.ca_file),
        ("client certificate", &c.cert_file),
        ("client key", &c.key_file),
        ("probe topic", &c.probe_topic),
        ("group", &c.group),
        ("agent id", &c.agent_id),
        ("timeline", &c.timeline_db),
    ] {
        if let Some(v) = v {
            setting(k, v.clone());
        }
    }
    setting("timeout per check", format!("{} ms", c.timeout_ms));
    setting("sources", c.sources.join(" > "));
    h.push_str("</table>\n");

    h.push_str("<h2>Checks</h2>\n<table>\n<tr><th>Status</th><th>Layer</th><th>Check</th><th>Target</th><th>Latency</th><th>Detail</th></tr>\n");
    for ch in &report.checks {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td class=\"st\">{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td><td>{}",
            status_class(ch.status),
            ch.status.label(),
            ch.layer.as_str(),
            e(&ch.name),
            e(&ch.target),
            e(&latency(ch)),
            e(&ch.detail)
        );
        if let Some(hint) = &ch.hint {
            let _ = write!(h, "<div class=\"hint\">hint: {}</div>", e(hint));
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</table>\n");

    if let Some(cl) = &report.cluster {
        let _ = write!(
            h,
            "<h2>Cluster</h2>\n<p>id <code>{}</code>, controller {}, {} topic(s) visible</p>\n<table>\n<tr><th>Node</th><th>Host</th><th>Port</th><th>Rack</th></tr>\n",
            e(cl.cluster_id.as_deref().unwrap_or("-")),
            cl.controller_id,
            cl.topic_count
        );
        for b in &cl.brokers {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                b.node_id,
                e(&b.host),
                b.port,
                e(b.rack.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</table>\n");
    }

    if !report.certificates.is_empty() {
        h.push_str("<h2>Certificates</h2>\n<table>\n<tr><th>Broker</th><th>#</th><th>Subject</th><th>Issuer</th><th>Not after</th><th>Days left</th><th>Verified</th></tr>\n");
        for cert in &report.certificates {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                e(&cert.broker),
                cert.position,
                e(&cert.subject),
                e(&cert.issuer),
                e(&cert.not_after),
                cert.days_left,
                if cert.verified { "yes" } else { "no" }
            );
        }
        h.push_str("</table>\n");
    }

    if !report.topics.is_empty() {
        h.push_str("<h2>Topics</h2>\n<table>\n<tr><th>Topic</th><th>Kind</th><th>Partition</th><th>Leader</th><th>ISR</th><th>Low</th><th>High</th><th>Committed</th><th>Lag</th></tr>\n");
        let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        for t in &report.topics {
            if t.partitions.is_empty() {
                let _ = writeln!(
                    h,
                    "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td colspan=\"7\">{}</td></tr>",
                    if t.exists { "warn" } else { "fail" },
                    e(&t.topic),
                    e(&t.kind),
                    if t.exists {
                        "no partition data"
                    } else {
                        "missing"
                    }
                );
            }
            for p in &t.partitions {
                let isr: Vec<String> = p.isr.iter().map(i32::to_string).collect();
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    e(&t.topic),
                    e(&t.kind),
                    p.partition,
                    p.leader,
                    e(&isr.join(",")),
                    opt(p.low_watermark),
                    opt(p.high_watermark),
                    opt(p.committed),
                    opt(p.lag)
                );
            }
        }
        h.push_str("</table>\n");
    }

    if !report.notes.is_empty() {
        h.push_str("<h2>Notes</h2>\n<ul>\n");
        for n in &report.notes {
            let _ = writeln!(h, "<li>{}</li>", e(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ConfigEcho, Layer, Summary};

    fn report() -> Report {
        let checks = vec![
            Check {
                name: "tcp".into(),
                layer: Layer::Tcp,
                target: "h:1".into(),
                status: Status::Fail,
                latency_ms: Some(0.25),
                detail: "refused <script>alert(1)</script>".into(),
                hint: Some("port \"wrong\" & broker down".into()),
            },
            Check {
                name: "api_versions".into(),
                layer: Layer::Kafka,
                target: "h:1".into(),
                status: Status::Skipped,
                latency_ms: None,
                detail: "TCP connection failed".into(),
                hint: None,
            },
        ];
        Report {
            schema_version: 1,
            tool: "kshark".into(),
            tool_version: "0.1.0".into(),
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: "2026-01-01T00:00:01.000Z".into(),
            duration_ms: 1000.0,
            config: ConfigEcho {
                brokers: vec!["h:1".into()],
                security_protocol: "PLAINTEXT".into(),
                ..ConfigEcho::default()
            },
            summary: Summary::of(&checks),
            checks,
            cluster: None,
            certificates: Vec::new(),
            topics: Vec::new(),
            notes: vec!["a <note>".into()],
        }
    }

    #[test]
    fn text_has_rows_hints_and_summary() {
        let t = render_text(&report());
        assert!(t.contains("FAIL"), "{t}");
        assert!(t.contains("hint: port \"wrong\" & broker down"), "{t}");
        assert!(t.contains("SKIP"), "{t}");
        assert!(t.contains("0.2 ms") || t.contains("0.3 ms"), "{t}");
        assert!(t.contains("FAIL: 0 ok, 0 warn, 1 fail, 1 skipped"), "{t}");
        assert!(t.contains("note: a <note>"), "{t}");
    }

    #[test]
    fn html_is_escaped_and_self_contained() {
        let h = render_html(&report());
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert!(!h.contains("<script>"), "content must be escaped");
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("port &quot;wrong&quot; &amp; broker down"));
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains(" src="));
        assert!(h.contains("<code>api_versions</code>"));
    }
}
