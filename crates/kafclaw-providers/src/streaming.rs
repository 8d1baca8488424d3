//! Turning a streamed HTTP body into a [`ChatStream`]: chunks go through the SSE parser
//! and a vendor decoder; a body that ends before the vendor's end marker is an error.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;

use crate::http::Target;
use crate::provider::ChatStream;
use crate::sse::{SseEvent, SseParser};
use crate::types::ChatDelta;
use crate::{Error, Result};

/// Vendor-specific decoding of SSE events into deltas.
pub(crate) trait SseDecoder: Send + 'static {
    /// Handles one event, pushing the deltas it carries.
    fn on_event(&mut self, event: SseEvent, out: &mut VecDeque<ChatDelta>) -> Result<()>;
    /// Whether the vendor's end marker has been seen.
    fn finished(&self) -> bool;
    /// Why a body that ended now is incomplete.
    fn incomplete_reason(&self) -> String;
}

struct State<D> {
    resp: reqwest::Response,
    parser: SseParser,
    decoder: D,
    queue: VecDeque<ChatDelta>,
    done: bool,
    provider: String,
    model: String,
    timeout: Duration,
}

impl<D: SseDecoder> State<D> {
    fn target(&self) -> Target<'_> {
        Target {
            provider: &self.provider,
            model: &self.model,
        }
    }

    async fn next(&mut self) -> Option<Result<ChatDelta>> {
        loop {
            if let Some(d) = self.queue.pop_front() {
                return Some(Ok(d));
            }
            if self.done {
                return None;
            }
            if self.decoder.finished() {
                self.done = true;
                continue;
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => {
                    for event in self.parser.feed(&bytes) {
                        if let Err(e) = self.decoder.on_event(event, &mut self.queue) {
                            self.done = true;
                            self.queue.clear();
                            return Some(Err(e));
                        }
                        if self.decoder.finished() {
                            break;
                        }
                    }
                }
                Ok(None) => {
                    self.done = true;
                    if !self.decoder.finished() {
                        let mut reason = self.decoder.incomplete_reason();
                        if self.parser.has_partial() {
                            reason.push_str(" (the last event is cut off)");
                        }
                        return Some(Err(self.target().malformed(reason)));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.target().map_reqwest(&e, self.timeout)));
                }
            }
        }
    }
}

/// The deltas of a streamed response body.
pub(crate) fn sse_stream<D: SseDecoder>(
    resp: reqwest::Response,
    decoder: D,
    target: Target<'_>,
    timeout: Duration,
) -> ChatStream {
    let state = State {
        resp,
        parser: SseParser::default(),
        decoder,
        queue: VecDeque::new(),
        done: false,
        provider: target.provider.to_owned(),
        model: target.model.to_owned(),
        timeout,
    };
    futures::stream::unfold(state, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    })
    .boxed()
}

/// Parses the JSON of one SSE event, naming the event in the error.
pub(crate) fn event_json(target: Target<'_>, event: &SseEvent) -> Result<serde_json::Value> {
    crate::json::parse(&event.data).map_err(|e| {
        let name = event.event.as_deref().unwrap_or("data");
        target.malformed(format!("stream event {name:?}: {e}"))
    })
}

/// A malformed-reply error for a stream event.
pub(crate) fn event_error(target: Target<'_>, event: &str, reason: String) -> Error {
    target.malformed(format!("stream event {event:?}: {reason}"))
}
