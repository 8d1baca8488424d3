//! A server-sent-events parser that accepts the body in arbitrary chunks (a chunk may end
//! in the middle of a line or of a UTF-8 character).

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

#[derive(Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
    /// A `\r` ended the last chunk; a `\n` starting the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    /// Whether bytes of an event that has not been completed by a blank line are pending.
    pub(crate) fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data || self.event.is_some()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: self.data.join("\n"),
                });
            }
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push(value.to_owned());
                self.has_data = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_at_every_byte() {
        let body = "event: a\ndata: {\"x\":\"\u{e9}\"}\n\n: comment\ndata: one\ndata: two\n\nevent: b\r\ndata:[DONE]\r\n\r\n";
        let whole = SseParser::default().feed(body.as_bytes());
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: Some("a".into()),
                    data: "{\"x\":\"\u{e9}\"}".into()
                },
                SseEvent {
                    event: None,
                    data: "one\ntwo".into()
                },
                SseEvent {
                    event: Some("b".into()),
                    data: "[DONE]".into()
                },
            ]
        );
        for split in 1..body.len() {
            let mut p = SseParser::default();
            let mut got = p.feed(&body.as_bytes()[..split]);
            got.extend(p.feed(&body.as_bytes()[split..]));
            assert_eq!(got, whole, "split at {split}");
            assert!(!p.has_partial());
        }
    }

    #[test]
    fn an_unterminated_event_is_pending() {
        let mut p = SseParser::default();
        assert!(p.feed(b"data: {\"half\"").is_empty());
        assert!(p.has_partial());
    }
}
