//! The few raw Kafka requests the layer checks send themselves (ApiVersions,
//! SaslHandshake, SaslAuthenticate, Metadata), over a plain or TLS stream, so each
//! layer is timed on its own and a failure is attributed to the right one.
//!
//! Only what the checks read is decoded; everything is bounds-checked.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const API_METADATA: i16 = 3;
const API_SASL_HANDSHAKE: i16 = 17;
const API_API_VERSIONS: i16 = 18;
const API_SASL_AUTHENTICATE: i16 = 36;

/// The Metadata version we speak: non-flexible, has the controller id, and is
/// accepted from Kafka 0.11 up to 4.x.
pub(crate) const METADATA_VERSION: i16 = 4;
/// Refuse absurd response sizes instead of allocating them.
const MAX_RESPONSE: usize = 64 << 20;
/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// A byte stream to a broker: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum WireError {
    /// Reading or writing the stream failed (closed, reset, TLS alert).
    Io(std::io::Error),
    /// The response could not be decoded.
    Protocol(String),
    /// The broker answered with a Kafka error code.
    Kafka {
        code: i16,
        message: Option<String>,
        /// Extra context (e.g. the mechanisms a listener enables).
        context: Vec<String>,
    },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Protocol(d) => write!(f, "malformed response: {d}"),
            WireError::Kafka { code, message, .. } => {
                write!(f, "Kafka error {} ({code})", error_name(*code))?;
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    write!(f, ": {m}")?;
                }
                Ok(())
            }
        }
    }
}

/// Names of the Kafka error codes the checks can meet.
pub(crate) fn error_name(code: i16) -> &'static str {
    match code {
        -1 => "UNKNOWN_SERVER_ERROR",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        33 => "UNSUPPORTED_SASL_MECHANISM",
        34 => "ILLEGAL_SASL_STATE",
        35 => "UNSUPPORTED_VERSION",
        58 => "SASL_AUTHENTICATION_FAILED",
        _ => "KAFKA_ERROR",
    }
}

/// One API's version range from ApiVersions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ApiRange {
    pub key: i16,
    pub min: i16,
    pub max: i16,
}

/// The ApiVersions answer and the request version that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiVersions {
    pub version_used: i16,
    pub apis: Vec<ApiRange>,
}

impl ApiVersions {
    pub(crate) fn range(&self, key: i16) -> Option<ApiRange> {
        self.apis.iter().copied().find(|a| a.key == key)
    }
}

/// A Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<MetaBroker>,
    pub topics: Vec<MetaTopic>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaTopic {
    pub error_code: i16,
    pub name: String,
    pub partitions: Vec<MetaPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaPartition {
    pub error_code: i16,
    pub index: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A connection that speaks the Kafka protocol.
pub(crate) struct Conn {
    io: Box<dyn Io>,
    client_id: String,
    correlation: i32,
}

impl Conn {
    pub(crate) fn new(io: Box<dyn Io>, client_id: &str) -> Self {
        Self {
            io,
            client_id: client_id.to_owned(),
            correlation: 0,
        }
    }

    async fn round_trip(
        &mut self,
        api_key: i16,
        version: i16,
        flexible_header: bool,
        body: &[u8],
    ) -> Result<Vec<u8>, WireError> {
        self.correlation = self.correlation.wrapping_add(1);
        let correlation = self.correlation;
        let mut msg = Vec::with_capacity(64 + body.len());
        put_i32(&mut msg, 0);
        put_i16(&mut msg, api_key);
        put_i16(&mut msg, version);
        put_i32(&mut msg, correlation);
        put_string(&mut msg, &self.client_id);
        if flexible_header {
            msg.push(0); // no tagged fields
        }
        msg.extend_from_slice(body);
        let size = i32::try_from(msg.len() - 4).unwrap_or(i32::MAX);
        msg[..4].copy_from_slice(&size.to_be_bytes());
        self.io.write_all(&msg).await.map_err(WireError::Io)?;
        self.io.flush().await.map_err(WireError::Io)?;
        let mut len = [0u8; 4];
        self.io.read_exact(&mut len).await.map_err(WireError::Io)?;
        let len = i32::from_be_bytes(len);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (4..=MAX_RESPONSE).contains(l))
            .ok_or_else(|| {
                WireError::Protocol(format!(
                    "response size {len} out of range (is this a Kafka listener, and does it expect TLS?)"
                ))
            })?;
        let mut resp = vec![0u8; len];
        self.io.read_exact(&mut resp).await.map_err(WireError::Io)?;
        let got = i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]);
        if got != correlation {
            return Err(WireError::Protocol(format!(
                "correlation id {got}, expected {correlation}"
            )));
        }
        resp.drain(..4);
        Ok(resp)
    }

    /// ApiVersions v3 (flexible, with our software name); a broker that does not
    /// know v3 answers in the v0 format, which is decoded as well.
    pub(crate) async fn api_versions(&mut self) -> Result<ApiVersions, WireError> {
        let mut body = Vec::new();
        put_compact_string(&mut body, "kafclaw-kshark");
        put_compact_string(&mut body, env!("CARGO_PKG_VERSION"));
        body.push(0); // tagged fields
        let resp = self.round_trip(API_API_VERSIONS, 3, true, &body).await?;
        let mut r = Reader::new(&resp);
        let code = r.i16()?;
        if code == UNSUPPORTED_VERSION {
            // The broker fell back to a v0 body listing what it supports.
            let mut apis = Vec::new();
            for _ in 0..r.array_len()? {
                apis.push(ApiRange {
                    key: r.i16()?,
                    min: r.i16()?,
                    max: r.i16()?,
                });
            }
            if apis.is_empty() {
                return Err(WireError::Kafka {
                    code,
                    message: None,
                    context: Vec::new(),
                });
            }
            return Ok(ApiVersions {
                version_used: 0,
                apis,
            });
        }
        if code != 0 {
            return Err(WireError::Kafka {
                code,
                message: None,
                context: Vec::new(),
            });
        }
        let n = r.compact_array_len()?;
        let mut apis = Vec::with_capacity(n);
        for _ in 0..n {
            apis.push(ApiRange {
                key: r.i16()?,
                min: r.i16()?,
                max: r.i16()?,
            });
            r.skip_tagged_fields()?;
        }
        Ok(ApiVersions {
            version_used: 3,
            apis,
        })
    }

    /// SaslHandshake v1: returns the mechanisms the listener enables, or
    /// UNSUPPORTED_SASL_MECHANISM with them in `context`.
    pub(crate) async fn sasl_handshake(
        &mut self,
        mechanism: &str,
    ) -> Result<Vec<String>, WireError> {
        let mut body = Vec::new();
        put_string(&mut body, mechanism);
        let resp = self.round_trip(API_SASL_HANDSHAKE, 1, false, &body).await?;
        let mut r = Reader::new(&resp);
        let code = r.i16()?;
        let mut enabled = Vec::new();
        for _ in 0..r.array_len()? {
            enabled.push(r.string()?);
        }
        if code != 0 {
            return Err(WireError::Kafka {
                code,
                message: None,
                context: enabled,
            });
        }
        Ok(enabled)
    }

    /// SaslAuthenticate v0: one step of the exchange.
    pub(crate) async fn sasl_authenticate(&mut self, token: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut body = Vec::new();
        put_i32(&mut body, i32::try_from(token.len()).unwrap_or(i32::MAX));
        body.extend_from_slice(token);
        let resp = self
            .round_trip(API_SASL_AUTHENTICATE, 0, false, &body)
            .await?;
        let mut r = Reader::new(&resp);
        let code = r.i16()?;
        let message = r.nullable_string()?;
        if code != 0 {
            return Err(WireError::Kafka {
                code,
                message,
                context: Vec::new(),
            });
        }
        r.bytes()
    }

    /// Metadata v4 for all topics (`None`) or the named ones, never auto-creating.
    pub(crate) async fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<Metadata, WireError> {
        let mut body = Vec::new();
        match topics {
            None => put_i32(&mut body, -1),
            Some(ts) => {
                put_i32(&mut body, i32::try_from(ts.len()).unwrap_or(i32::MAX));
                for t in ts {
                    put_string(&mut body, t);
                }
            }
        }
        body.push(0); // allow_auto_topic_creation = false
        let resp = self
            .round_trip(API_METADATA, METADATA_VERSION, false, &body)
            .await?;
        decode_metadata(&resp)
    }
}

fn decode_metadata(resp: &[u8]) -> Result<Metadata, WireError> {
    let mut r = Reader::new(resp);
    let _throttle = r.i32()?;
    let mut brokers = Vec::new();
    for _ in 0..r.array_len()? {
        brokers.push(MetaBroker {
            node_id: r.i32()?,
            host: r.string()?,
            port: r.i32()?,
            rack: r.nullable_string()?,
        });
    }
    let cluster_id = r.nullable_string()?;
    let controller_id = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.array_len()? {
        let error_code = r.i16()?;
        let name = r.string()?;
        let _internal = r.bool()?;
        let mut partitions = Vec::new();
        for _ in 0..r.array_len()? {
            let error_code = r.i16()?;
            let index = r.i32()?;
            let leader = r.i32()?;
            let mut replicas = Vec::new();
            for _ in 0..r.array_len()? {
                replicas.push(r.i32()?);
            }
            let mut isr = Vec::new();
            for _ in 0..r.array_len()? {
                isr.push(r.i32()?);
            }
            partitions.push(MetaPartition {
                error_code,
                index,
                leader,
                replicas,
                isr,
            });
        }
        partitions.sort_by_key(|p| p.index);
        topics.push(MetaTopic {
            error_code,
            name,
            partitions,
        });
    }
    Ok(Metadata {
        cluster_id,
        controller_id,
        brokers,
        topics,
    })
}

fn put_i16(buf: &mut Vec<u8>, v: i16) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_i32(buf: &mut Vec<u8>, v: i32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    put_i16(buf, bytes.len() as i16);
    buf.extend_from_slice(bytes);
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_compact_string(buf: &mut Vec<u8>, s: &str) {
    put_uvarint(buf, u32::try_from(s.len() + 1).unwrap_or(u32::MAX));
    buf.extend_from_slice(s.as_bytes());
}

/// A bounds-checked reader over one response body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        match self.pos.checked_add(n).filter(|&e| e <= self.buf.len()) {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(WireError::Protocol(format!(
                "truncated: wanted {n} byte(s) at offset {} of {}",
                self.pos,
                self.buf.len()
            ))),
        }
    }

    fn i16(&mut self) -> Result<i16, WireError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, WireError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bool(&mut self) -> Result<bool, WireError> {
        Ok(self.take(1)?[0] != 0)
    }

    fn uvarint(&mut self) -> Result<u32, WireError> {
        let mut v: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Protocol("varint longer than 5 bytes".to_owned()))
    }

    fn nullable_string(&mut self) -> Result<Option<String>, WireError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| WireError::Protocol("string is not UTF-8".to_owned()))
    }

    fn string(&mut self) -> Result<String, WireError> {
        self.nullable_string()?
            .ok_or_else(|| WireError::Protocol("null where a string is required".to_owned()))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(len as usize)?.to_vec())
    }

    fn check_len(&self, n: usize) -> Result<usize, WireError> {
        // Every element takes at least one byte: reject lengths the body cannot hold.
        if n > self.buf.len() - self.pos {
            return Err(WireError::Protocol(format!(
                "array length {n} exceeds the response"
            )));
        }
        Ok(n)
    }

    fn array_len(&mut self) -> Result<usize, WireError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        self.check_len(n as usize)
    }

    fn compact_array_len(&mut self) -> Result<usize, WireError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(0);
        }
        self.check_len(n as usize - 1)
    }

    fn skip_tagged_fields(&mut self) -> Result<(), WireError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            self.take(size as usize)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` against a canned response framed for correlation id 1.
    async fn answer<T>(
        body: &[u8],
        f: impl AsyncFnOnce(&mut Conn) -> Result<T, WireError>,
    ) -> (Result<T, WireError>, Vec<u8>) {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut framed = Vec::new();
        put_i32(&mut framed, (body.len() + 4) as i32);
        put_i32(&mut framed, 1);
        framed.extend_from_slice(body);
        let server_task = tokio::spawn(async move {
            let mut len = [0u8; 4];
            server.read_exact(&mut len).await.unwrap();
            let mut req = vec![0u8; i32::from_be_bytes(len) as usize];
            server.read_exact(&mut req).await.unwrap();
            server.write_all(&framed).await.unwrap();
            req
        });
        let mut conn = Conn::new(Box::new(client), "kshark");
        let result = f(&mut conn).await;
        (result, server_task.await.unwrap())
    }

    #[tokio::test]
    async fn api_versions_v3_is_flexible_and_decoded() {
        let mut body = Vec::new();
        put_i16(&mut body, 0);
        put_uvarint(&mut body, 3); // two entries
        for (k, min, max) in [(0i16, 3i16, 11i16), (3, 0, 12)] {
            put_i16(&mut body, k);
            put_i16(&mut body, min);
            put_i16(&mut body, max);
            body.push(0);
        }
        put_i32(&mut body, 0); // throttle
        body.extend_from_slice(&[1, 0, 1, 7]); // one tagged field of one byte
        let (r, req) = answer(&body, async |c| c.api_versions().await).await;
        let v = r.unwrap();
        assert_eq!(v.version_used, 3);
        assert_eq!(
            v.range(3),
            Some(ApiRange {
                key: 3,
                min: 0,
                max: 12
            })
        );
        // api key 18, version 3, correlation 1, client id, empty tag buffer, body.
        assert_eq!(&req[..8], &[0, 18, 0, 3, 0, 0, 0, 1]);
        assert_eq!(&req[8..16], b"\x00\x06kshark");
        assert_eq!(req[16], 0);
        assert_eq!(req[17] as usize, "kafclaw-kshark".len() + 1);
    }

    #[tokio::test]
    async fn api_versions_falls_back_to_the_v0_answer() {
        let mut body = Vec::new();
        put_i16(&mut body, UNSUPPORTED_VERSION);
        put_i32(&mut body, 1);
        put_i16(&mut body, 18);
        put_i16(&mut body, 0);
        put_i16(&mut body, 2);
        let (r, _) = answer(&body, async |c| c.api_versions().await).await;
        let v = r.unwrap();
        assert_eq!(v.version_used, 0);
        assert_eq!(v.apis.len(), 1);
    }

    #[tokio::test]
    async fn sasl_errors_carry_the_code_and_mechanisms() {
        let mut body = Vec::new();
        put_i16(&mut body, 33);
        put_i32(&mut body, 2);
        put_string(&mut body, "PLAIN");
        put_string(&mut body, "SCRAM-SHA-256");
        let (r, _) = answer(&body, async |c| c.sasl_handshake("SCRAM-SHA-512").await).await;
        match r.unwrap_err() {
            WireError::Kafka { code, context, .. } => {
                assert_eq!(code, 33);
                assert_eq!(context, ["PLAIN", "SCRAM-SHA-256"]);
            }
            other => panic!("{other:?}"),
        }
        let mut body = Vec::new();
        put_i16(&mut body, 58);
        put_string(
            &mut body,
            "Authentication failed: Invalid username or password",
        );
        put_i32(&mut body, -1);
        let (r, _) = answer(&body, async |c| c.sasl_authenticate(b"\0u\0p").await).await;
        let e = r.unwrap_err();
        assert!(e.to_string().contains("SASL_AUTHENTICATION_FAILED"), "{e}");
        assert!(e.to_string().contains("Invalid username"), "{e}");
    }

    #[tokio::test]
    async fn metadata_is_decoded_with_partitions_sorted() {
        let mut body = Vec::new();
        put_i32(&mut body, 0);
        put_i32(&mut body, 1);
        put_i32(&mut body, 1);
        put_string(&mut body, "127.0.0.1");
        put_i32(&mut body, 9092);
        put_i16(&mut body, -1);
        put_string(&mut body, "cluster-x");
        put_i32(&mut body, 1);
        put_i32(&mut body, 1); // one topic
        put_i16(&mut body, 0);
        put_string(&mut body, "t");
        body.push(0);
        put_i32(&mut body, 2);
        for p in [1, 0] {
            put_i16(&mut body, 0);
            put_i32(&mut body, p);
            put_i32(&mut body, 1);
            put_i32(&mut body, 1);
            put_i32(&mut body, 1);
            put_i32(&mut body, 1);
            put_i32(&mut body, 1);
        }
        let (r, _) = answer(&body, async |c| c.metadata(None).await).await;
        let m = r.unwrap();
        assert_eq!(m.cluster_id.as_deref(), Some("cluster-x"));
        assert_eq!(m.controller_id, 1);
        assert_eq!(m.brokers[0].port, 9092);
        let idx: Vec<i32> = m.topics[0].partitions.iter().map(|p| p.index).collect();
        assert_eq!(idx, [0, 1]);
    }

    #[tokio::test]
    async fn truncated_and_oversized_answers_are_errors() {
        let (r, _) = answer(&[0, 0, 0], async |c| c.metadata(None).await).await;
        assert!(matches!(r, Err(WireError::Protocol(_))));
        let mut body = Vec::new();
        put_i16(&mut body, 0);
        put_i32(&mut body, i32::MAX);
        let (r, _) = answer(&body, async |c| c.sasl_handshake("PLAIN").await).await;
        assert!(matches!(r, Err(WireError::Protocol(_))));
    }
}
