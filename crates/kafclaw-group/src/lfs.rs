//! A client of the KafScale LFS proxy's HTTP API: `POST /lfs/produce` stores a blob
//! and returns its pointer ([`LfsEnvelope`]); `POST /lfs/download` with
//! `{bucket, key, mode: "stream"}` returns the blob's bytes.
//!
//! Downloads are checked against the pointer's size and SHA-256. Retrying is the
//! caller's business (shared memory retries with back-off).

use std::time::Duration;

use kafclaw_envelope::LfsEnvelope;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where the proxy is and how to call it (`group.lfsProxyUrl`, `group.lfsApiKey`).
#[derive(Debug, Clone)]
pub struct LfsClient {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl LfsClient {
    /// A client of the proxy at `base_url` (http or https, with a host); requests
    /// time out after `timeout` (Go uses 30 s).
    pub fn new(base_url: &str, api_key: Option<String>, timeout: Duration) -> Result<Self> {
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let bad = |reason: &str| Error::Config {
            key: "group.lfsProxyUrl",
            reason: format!("{base_url:?}: {reason}"),
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| bad("must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("has no host"));
        }
        let tls = crate::transport::tls_client_config(&crate::settings::TlsFiles::default())?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(&format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
            http,
        })
    }

    /// The proxy's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => req.header("X-API-Key", k),
            None => req,
        }
    }

    /// Stores `body` for `topic` and returns the proxy's pointer. `request_id` goes in
    /// `X-Request-ID`, the item's content type in `Content-Type` (Go always sends
    /// `application/json`). Only HTTP 200 counts as success.
    pub async fn produce(
        &self,
        topic: &str,
        key: &str,
        request_id: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<LfsEnvelope> {
        let url = format!("{}/lfs/produce", self.base);
        let fail = |reason: String| Error::Lfs {
            url: url.clone(),
            operation: "produce",
            reason,
        };
        let checksum = hex::encode(Sha256::digest(&body));
        let req = self
            .http
            .post(&url)
            .header("X-Kafka-Topic", topic)
            .header("X-Kafka-Key", key)
            .header("X-Request-ID", request_id)
            .header("X-LFS-Checksum", checksum)
            .header("X-LFS-Checksum-Alg", "sha256")
            .header(
                "Content-Type",
                if content_type.is_empty() {
                    "application/octet-stream"
                } else {
                    content_type
                },
            )
            .body(body);
        let resp = self
            .auth(req)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if status != reqwest::StatusCode::OK {
            return Err(fail(format!(
                "status {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        let pointer: LfsEnvelope = serde_json::from_slice(&bytes)
            .map_err(|e| fail(format!("the answer is not an LFS pointer: {e}")))?;
        pointer
            .check()
            .map_err(|e| fail(format!("the answer is not a usable LFS pointer: {e}")))?;
        Ok(pointer)
    }

    /// Fetches the blob behind `pointer` and checks its size and SHA-256.
    pub async fn download(&self, pointer: &LfsEnvelope) -> Result<Vec<u8>> {
        let url = format!("{}/lfs/download", self.base);
        let fail = |reason: String| Error::Lfs {
            url: url.clone(),
            operation: "download",
            reason,
        };
        pointer
            .check()
            .map_err(|e| fail(format!("unusable pointer: {e}")))?;
        let body = serde_json::json!({
            "bucket": pointer.bucket,
            "key": pointer.key,
            "mode": "stream",
        });
        let req = self.http.post(&url).json(&body);
        let resp = self
            .auth(req)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!(
                "status {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            )));
        }
        if usize::try_from(pointer.size).ok() != Some(bytes.len()) {
            return Err(fail(format!(
                "{} bytes arrived, the pointer says {}",
                bytes.len(),
                pointer.size
            )));
        }
        let sum = hex::encode(Sha256::digest(&bytes));
        if !sum.eq_ignore_ascii_case(pointer.sha256.trim()) {
            return Err(fail(format!(
                "SHA-256 {sum} does not match the pointer's {}",
                pointer.sha256
            )));
        }
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_scheme_or_host_are_refused() {
        for url in ["localhost:8080", "ftp://x", "http://", "http:///lfs"] {
            let err = LfsClient::new(url, None, Duration::from_secs(1)).unwrap_err();
            assert!(
                err.to_string().contains("group.lfsProxyUrl"),
                "{url}: {err}"
            );
        }
        let ok = LfsClient::new("http://127.0.0.1:8080/", None, Duration::from_secs(1)).unwrap();
        assert_eq!(ok.base_url(), "http://127.0.0.1:8080");
    }
}
