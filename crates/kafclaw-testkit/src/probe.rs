//! A handful of raw Kafka requests (ApiVersions, Metadata, SASL PLAIN) to check a broker.
//!
//! These speak only the fixed, non-flexible request versions the checks need,
//! over any `Read + Write` stream, so the same code works on a plain TCP socket
//! and inside a TLS session. This is how readiness is decided: a listening port
//! is not enough, the broker must answer a Metadata request with itself in it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

const API_METADATA: i16 = 3;
const API_SASL_HANDSHAKE: i16 = 17;
const API_API_VERSIONS: i16 = 18;
const API_SASL_AUTHENTICATE: i16 = 36;

/// The Metadata version we speak (non-flexible; Kafka 4.x still accepts it).
const METADATA_VERSION: i16 = 4;
const CLIENT_ID: &str = "kafclaw-testkit";
/// Refuse absurd response sizes instead of allocating them.
const MAX_RESPONSE: usize = 64 << 20;

static CORRELATION: AtomicI32 = AtomicI32::new(1);

/// What a broker said about its cluster in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// The KRaft cluster id.
    pub cluster_id: Option<String>,
    /// The active controller's node id (-1 when unknown).
    pub controller_id: i32,
    /// The brokers the cluster advertises on the listener that was asked.
    pub brokers: Vec<BrokerMetadata>,
    /// All topics, internal ones included.
    pub topics: Vec<TopicMetadata>,
}

/// One broker in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// One topic in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Kafka error code for this topic (0 = none).
    pub error_code: i16,
    /// Whether it is an internal topic such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Number of partitions.
    pub partitions: usize,
}

impl std::fmt::Display for ClusterMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let brokers: Vec<String> = self
            .brokers
            .iter()
            .map(|b| format!("{}@{}:{}", b.node_id, b.host, b.port))
            .collect();
        write!(
            f,
            "cluster {} with broker(s) {}, controller {}, {} topic(s)",
            self.cluster_id.as_deref().unwrap_or("<none>"),
            brokers.join(","),
            self.controller_id,
            self.topics.len()
        )
    }
}

/// One API's supported version range, from ApiVersions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API key.
    pub api_key: i16,
    /// Lowest supported version.
    pub min: i16,
    /// Highest supported version.
    pub max: i16,
}

/// Opens a TCP connection with connect, read and write timeouts of `timeout`.
pub fn connect(addr: &str, timeout: Duration) -> Result<TcpStream> {
    let conn_err = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let mut last = None;
    for sock in addr.to_socket_addrs().map_err(conn_err)? {
        match TcpStream::connect_timeout(&sock, timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeout)).map_err(conn_err)?;
                stream.set_write_timeout(Some(timeout)).map_err(conn_err)?;
                stream.set_nodelay(true).map_err(conn_err)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(conn_err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "address resolved to nothing")
    })))
}

/// Connects to a PLAINTEXT listener and asks for cluster metadata.
pub fn metadata(addr: &str, timeout: Duration) -> Result<ClusterMetadata> {
    let mut stream = connect(addr, timeout)?;
    metadata_over(&mut stream, addr)
}

/// Asks for the supported API versions (ApiVersions v0).
pub fn api_versions_over<S: Read + Write>(
    stream: &mut S,
    addr: &str,
) -> Result<Vec<ApiVersionRange>> {
    const API: &str = "ApiVersions";
    let body = round_trip(stream, addr, API, API_API_VERSIONS, 0, &[])?;
    let mut r = Reader::new(&body, API, addr);
    let code = r.i16()?;
    if code != 0 {
        return Err(r.kafka_error(code, None));
    }
    let n = r.array_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(ApiVersionRange {
            api_key: r.i16()?,
            min: r.i16()?,
            max: r.i16()?,
        });
    }
    Ok(out)
}

/// Asks for metadata of all topics (Metadata v4) over an open, ready stream.
pub fn metadata_over<S: Read + Write>(stream: &mut S, addr: &str) -> Result<ClusterMetadata> {
    metadata_request(stream, addr, None, false)
}

/// Asks for metadata of the named topics only, letting the broker create
/// missing ones if `allow_auto_create` and its `auto.create.topics.enable` agree.
/// A missing topic comes back with error code 3 (UNKNOWN_TOPIC_OR_PARTITION).
pub fn topics_metadata_over<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    topics: &[&str],
    allow_auto_create: bool,
) -> Result<ClusterMetadata> {
    metadata_request(stream, addr, Some(topics), allow_auto_create)
}

fn metadata_request<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    topics: Option<&[&str]>,
    allow_auto_create: bool,
) -> Result<ClusterMetadata> {
    const API: &str = "Metadata";
    let mut req = Vec::new();
    match topics {
        None => put_i32(&mut req, -1), // null array: all topics
        Some(topics) => {
            put_i32(&mut req, i32::try_from(topics.len()).unwrap_or(i32::MAX));
            for t in topics {
                put_string(&mut req, t);
            }
        }
    }
    req.push(u8::from(allow_auto_create));
    let body = round_trip(stream, addr, API, API_METADATA, METADATA_VERSION, &req)?;
    let mut r = Reader::new(&body, API, addr);
    let _throttle_ms = r.i32()?;
    let mut brokers = Vec::new();
    for _ in 0..r.array_len()? {
        let node_id = r.i32()?;
        let host = r.string()?;
        let port = r.i32()?;
        let _rack = r.nullable_string()?;
        brokers.push(BrokerMetadata {
            node_id,
            host,
            port,
        });
    }
    let cluster_id = r.nullable_string()?;
    let controller_id = r.i32()?;
    let mut topics = Vec::new();
    for _ in 0..r.array_len()? {
        let error_code = r.i16()?;
        let name = r.string()?;
        let is_internal = r.bool()?;
        let partitions = r.array_len()?;
        for _ in 0..partitions {
            let _error = r.i16()?;
            let _index = r.i32()?;
            let _leader = r.i32()?;
            for _ in 0..r.array_len()? {
                r.i32()?; // replica
            }
            for _ in 0..r.array_len()? {
                r.i32()?; // isr
            }
        }
        topics.push(TopicMetadata {
            name,
            error_code,
            is_internal,
            partitions,
        });
    }
    Ok(ClusterMetadata {
        cluster_id,
        controller_id,
        brokers,
        topics,
    })
}

/// Performs SaslHandshake v1 for `mechanism`; returns the mechanisms the listener enables.
///
/// On success the connection expects SaslAuthenticate next. When the mechanism
/// is not enabled this fails with Kafka error 33 (UNSUPPORTED_SASL_MECHANISM).
pub fn sasl_handshake_over<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    mechanism: &str,
) -> Result<Vec<String>> {
    const API: &str = "SaslHandshake";
    let mut req = Vec::new();
    put_string(&mut req, mechanism);
    let body = round_trip(stream, addr, API, API_SASL_HANDSHAKE, 1, &req)?;
    let mut r = Reader::new(&body, API, addr);
    let code = r.i16()?;
    let mut mechanisms = Vec::new();
    for _ in 0..r.array_len()? {
        mechanisms.push(r.string()?);
    }
    if code != 0 {
        return Err(r.kafka_error(code, Some(format!("enabled: {}", mechanisms.join(",")))));
    }
    Ok(mechanisms)
}

/// Authenticates with SASL PLAIN (SaslHandshake v1 + SaslAuthenticate v0).
///
/// A wrong password fails with Kafka error 58 (SASL_AUTHENTICATION_FAILED).
pub fn sasl_plain_over<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    user: &str,
    password: &str,
) -> Result<()> {
    const API: &str = "SaslAuthenticate";
    sasl_handshake_over(stream, addr, "PLAIN")?;
    let token = format!("\0{user}\0{password}");
    let mut req = Vec::new();
    put_bytes(&mut req, token.as_bytes());
    let body = round_trip(stream, addr, API, API_SASL_AUTHENTICATE, 0, &req)?;
    let mut r = Reader::new(&body, API, addr);
    let code = r.i16()?;
    let message = r.nullable_string()?;
    if code != 0 {
        return Err(r.kafka_error(code, message));
    }
    Ok(())
}

fn round_trip<S: Read + Write>(
    stream: &mut S,
    addr: &str,
    api: &'static str,
    api_key: i16,
    api_version: i16,
    body: &[u8],
) -> Result<Vec<u8>> {
    let correlation = CORRELATION.fetch_add(1, Ordering::Relaxed);
    let mut msg = Vec::with_capacity(64 + body.len());
    put_i32(&mut msg, 0); // size, patched below
    put_i16(&mut msg, api_key);
    put_i16(&mut msg, api_version);
    put_i32(&mut msg, correlation);
    put_string(&mut msg, CLIENT_ID);
    msg.extend_from_slice(body);
    let size = i32::try_from(msg.len() - 4).unwrap_or(i32::MAX);
    msg[..4].copy_from_slice(&size.to_be_bytes());

    let transport = |source| Error::Transport {
        api,
        addr: addr.to_owned(),
        source,
    };
    stream.write_all(&msg).map_err(transport)?;
    stream.flush().map_err(transport)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(transport)?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (4..=MAX_RESPONSE).contains(l))
        .ok_or_else(|| Error::Protocol {
            api,
            addr: addr.to_owned(),
            detail: format!("response size {len} out of range"),
        })?;
    let mut resp = vec![0u8; len];
    stream.read_exact(&mut resp).map_err(transport)?;
    let got = i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]);
    if got != correlation {
        return Err(Error::Protocol {
            api,
            addr: addr.to_owned(),
            detail: format!("correlation id {got}, expected {correlation}"),
        });
    }
    resp.drain(..4);
    Ok(resp)
}

fn put_i16(buf: &mut Vec<u8>, v: i16) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_i32(buf: &mut Vec<u8>, v: i32) {
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    put_i16(buf, len);
    buf.extend_from_slice(&s.as_bytes()[..len as usize]);
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_i32(buf, i32::try_from(b.len()).unwrap_or(i32::MAX));
    buf.extend_from_slice(b);
}

/// A bounds-checked reader over one response body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    api: &'static str,
    addr: &'a str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], api: &'static str, addr: &'a str) -> Self {
        Reader {
            buf,
            pos: 0,
            api,
            addr,
        }
    }

    fn malformed(&self, detail: String) -> Error {
        Error::Protocol {
            api: self.api,
            addr: self.addr.to_owned(),
            detail,
        }
    }

    fn kafka_error(&self, code: i16, message: Option<String>) -> Error {
        Error::Kafka {
            api: self.api,
            addr: self.addr.to_owned(),
            code,
            message,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.malformed(format!(
                "truncated: wanted {n} byte(s) at offset {} of {}",
                self.pos,
                self.buf.len()
            ))),
        }
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bool(&mut self) -> Result<bool> {
        Ok(self.take(1)?[0] != 0)
    }

    fn nullable_string(&mut self) -> Result<Option<String>> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| self.malformed("string is not UTF-8".to_owned()))
    }

    fn string(&mut self) -> Result<String> {
        self.nullable_string()?
            .ok_or_else(|| self.malformed("null where a string is required".to_owned()))
    }

    fn array_len(&mut self) -> Result<usize> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        // Every element takes at least one byte: reject lengths the body cannot hold.
        if n > self.buf.len() - self.pos {
            return Err(self.malformed(format!("array length {n} exceeds the response")));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that records what was written and replays a canned response.
    struct Canned {
        written: Vec<u8>,
        response: std::io::Cursor<Vec<u8>>,
    }

    impl Read for Canned {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.response.read(buf)
        }
    }

    impl Write for Canned {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Frames `body` as a response to the request that will be sent next.
    fn canned(body: &[u8]) -> Canned {
        let correlation = CORRELATION.load(Ordering::Relaxed);
        let mut resp = Vec::new();
        put_i32(&mut resp, (body.len() + 4) as i32);
        put_i32(&mut resp, correlation);
        resp.extend_from_slice(body);
        Canned {
            written: Vec::new(),
            response: std::io::Cursor::new(resp),
        }
    }

    // The correlation counter is process-global; tests that depend on
    // "the next id" must not interleave.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn metadata_request_is_framed_as_v4_with_all_topics() {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = Vec::new();
        put_i32(&mut body, 0); // throttle
        put_i32(&mut body, 1); // one broker
        put_i32(&mut body, 1);
        put_string(&mut body, "127.0.0.1");
        put_i32(&mut body, 9092);
        put_i16(&mut body, -1); // rack null
        put_string(&mut body, "abc"); // cluster id
        put_i32(&mut body, 1); // controller
        put_i32(&mut body, 1); // one topic
        put_i16(&mut body, 0);
        put_string(&mut body, "t1");
        body.push(0);
        put_i32(&mut body, 1); // one partition
        put_i16(&mut body, 0);
        put_i32(&mut body, 0);
        put_i32(&mut body, 1);
        put_i32(&mut body, 1);
        put_i32(&mut body, 1);
        put_i32(&mut body, 1);
        put_i32(&mut body, 1);
        let mut s = canned(&body);
        let md = metadata_over(&mut s, "test").expect("decodes");
        assert_eq!(md.cluster_id.as_deref(), Some("abc"));
        assert_eq!(md.controller_id, 1);
        assert_eq!(md.brokers.len(), 1);
        assert_eq!(md.brokers[0].port, 9092);
        assert_eq!(md.topics.len(), 1);
        assert_eq!(md.topics[0].name, "t1");
        assert_eq!(md.topics[0].partitions, 1);
        // size, api key 3, version 4
        assert_eq!(&s.written[4..8], &[0, 3, 0, 4]);
        // the body ends with a null topic array and allow_auto_topic_creation=false
        assert_eq!(
            &s.written[s.written.len() - 5..],
            &[0xff, 0xff, 0xff, 0xff, 0]
        );
        let size = i32::from_be_bytes([s.written[0], s.written[1], s.written[2], s.written[3]]);
        assert_eq!(size as usize, s.written.len() - 4);
    }

    #[test]
    fn truncated_metadata_is_a_protocol_error_not_a_panic() {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut body = Vec::new();
        put_i32(&mut body, 0);
        put_i32(&mut body, 1_000_000); // claims a million brokers
        let mut s = canned(&body);
        let err = metadata_over(&mut s, "test").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Protocol {
                    api: "Metadata",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_correlation_id_is_rejected() {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut resp = Vec::new();
        put_i32(&mut resp, 6);
        put_i32(&mut resp, -7);
        put_i16(&mut resp, 0);
        let mut s = Canned {
            written: Vec::new(),
            response: std::io::Cursor::new(resp),
        };
        let err = api_versions_over(&mut s, "test").unwrap_err();
        assert!(err.to_string().contains("correlation id -7"), "{err}");
    }

    #[test]
    fn sasl_failure_carries_the_kafka_code_and_message() {
        let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        // handshake ok, listing PLAIN
        let mut hs = Vec::new();
        put_i16(&mut hs, 0);
        put_i32(&mut hs, 1);
        put_string(&mut hs, "PLAIN");
        let c1 = CORRELATION.load(Ordering::Relaxed);
        let mut auth = Vec::new();
        put_i16(&mut auth, 58);
        put_string(
            &mut auth,
            "Authentication failed: Invalid username or password",
        );
        put_i32(&mut auth, 0);
        let mut resp = Vec::new();
        for (c, body) in [(c1, &hs), (c1 + 1, &auth)] {
            put_i32(&mut resp, (body.len() + 4) as i32);
            put_i32(&mut resp, c);
            resp.extend_from_slice(body);
        }
        let mut s = Canned {
            written: Vec::new(),
            response: std::io::Cursor::new(resp),
        };
        let err = sasl_plain_over(&mut s, "test", "u", "p").unwrap_err();
        match err {
            Error::Kafka { code, message, .. } => {
                assert_eq!(code, 58);
                assert!(message.unwrap_or_default().contains("Invalid username"));
            }
            other => panic!("unexpected {other}"),
        }
        let token = b"\0u\0p";
        assert!(s.written.windows(token.len()).any(|w| w == token));
    }
}
