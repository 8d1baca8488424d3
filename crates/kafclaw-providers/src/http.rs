//! The HTTP client the adapters share: rustls with the ring provider and the platform's
//! certificate verifier, time limits, and the mapping of HTTP failures to [`Error`]s.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::{Error, Result};

/// Longest excerpt of an error body kept in an [`Error::Http`].
const MAX_ERROR_MESSAGE: usize = 300;

/// Which provider and model a request is for (for error messages).
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) provider: &'a str,
    pub(crate) model: &'a str,
}

impl Target<'_> {
    pub(crate) fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::MalformedReply {
            provider: self.provider.to_owned(),
            model: self.model.to_owned(),
            reason: reason.into(),
        }
    }

    fn transport(&self, reason: impl Into<String>) -> Error {
        Error::Transport {
            provider: self.provider.to_owned(),
            model: self.model.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn map_reqwest(&self, e: &reqwest::Error, timeout: Duration) -> Error {
        if e.is_timeout() {
            return Error::Timeout {
                provider: self.provider.to_owned(),
                model: self.model.to_owned(),
                after: timeout,
            };
        }
        let what = if e.is_connect() {
            "cannot connect"
        } else if e.is_body() || e.is_decode() {
            "the connection broke while reading the reply"
        } else {
            "the request failed"
        };
        self.transport(format!("{what}: {}", error_chain(e)))
    }
}

/// An error with its sources, `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// A shared HTTP client with a per-request time limit.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests give up after `timeout` (a streamed answer: after `timeout`
    /// without data).
    pub(crate) fn new(timeout: Duration) -> Result<Self> {
        let config_err = |problem: String| Error::Config {
            key: "providers".into(),
            problem,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|e| config_err(format!("TLS certificate verifier: {e}")))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_err(format!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .read_timeout(timeout)
            // an API endpoint has no business redirecting; following would carry the key
            // (x-api-key is not one of the headers reqwest strips) to another host
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kafclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config_err(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self { client, timeout })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs a JSON body. Returns the response when its status is 2xx; otherwise reads the
    /// body and returns [`Error::Http`] with the vendor's message and `Retry-After`.
    pub(crate) async fn post_json(
        &self,
        target: Target<'_>,
        url: &str,
        headers: &[(&'static str, String)],
        body: &Value,
        streaming: bool,
    ) -> Result<reqwest::Response> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|_| Error::Config {
                key: format!("providers.{}", target.provider),
                problem: format!(
                    "the value for header {name} contains characters not allowed in HTTP headers"
                ),
            })?;
            map.insert(HeaderName::from_static(name), value);
        }
        let mut req = self.client.post(url).headers(map).json(body);
        if !streaming {
            req = req.timeout(self.timeout);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| target.map_reqwest(&e, self.timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let text = self.read_text(target, resp).await.unwrap_or_default();
        Err(Error::Http {
            provider: target.provider.to_owned(),
            model: target.model.to_owned(),
            status: status.as_u16(),
            retry_after,
            message: error_message(&text, status.canonical_reason().unwrap_or("")),
        })
    }

    /// Reads a whole (non-streamed) body as text.
    pub(crate) async fn read_text(
        &self,
        target: Target<'_>,
        resp: reqwest::Response,
    ) -> Result<String> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| target.map_reqwest(&e, self.timeout))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            target.malformed(format!(
                "the body is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })
    }
}

/// The vendor's error message: both OpenAI and Anthropic put it at `error.message`;
/// otherwise the start of the body, or the status text for an empty body.
pub(crate) fn error_message(body: &str, status_text: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let err = v.get("error")?;
        let message = err
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| err.as_str())?;
        let kind = err.get("type").and_then(Value::as_str);
        Some(match kind {
            Some(k) if !k.is_empty() => format!("{k}: {message}"),
            _ => message.to_owned(),
        })
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    let text = if text.is_empty() {
        status_text.to_owned()
    } else {
        text
    };
    shorten(&text, MAX_ERROR_MESSAGE)
}

/// At most `max` characters, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The wait a server asked for: `retry-after-ms` (OpenAI, Anthropic), else `Retry-After`
/// as seconds or an HTTP date. A date in the past means no wait.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 07:28:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_ms_wins() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("9"));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn error_messages_of_both_vendors() {
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
                "Too Many Requests"
            ),
            "requests: Rate limit reached"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                ""
            ),
            "overloaded_error: Overloaded"
        );
        assert_eq!(
            error_message("", "Internal Server Error"),
            "Internal Server Error"
        );
        let long = "x".repeat(1000);
        assert_eq!(error_message(&long, "").chars().count(), 301);
    }
}
