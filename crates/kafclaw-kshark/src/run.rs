//! One run of the checks: the connection chain per bootstrap broker (DNS, TCP, TLS,
//! ApiVersions, SASL, Metadata), the advertised brokers, the Kafka client, and the
//! produce/consume round trip. The group topics are in `group.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafclaw_group::{Error as GroupError, KafkaTransport, OutRecord, Produced, Transport};
use tokio::net::TcpStream;

use crate::Progress;
use crate::probe::Probe;
use crate::report::{BrokerInfo, CertificateInfo, Check, ClusterInfo, Layer, Status, TopicReport};
use crate::settings::{SaslAuth, split_host_port};
use crate::tls;
use crate::wire::{Conn, Metadata, WireError, error_name};

/// How a check ended.
pub(crate) enum Outcome<T> {
    /// Passed: the value and what was found.
    Ok(T, String),
    /// Passed with a caveat: the value, what was found, and the hint.
    Warn(T, String, String),
    /// Failed: what went wrong and the hint.
    Fail(String, String),
    /// Did not apply after all: why.
    Skip(String),
}

/// What a finished run hands back to [`Probe::run`].
pub(crate) struct Parts {
    pub checks: Vec<Check>,
    pub cluster: Option<ClusterInfo>,
    pub certificates: Vec<CertificateInfo>,
    pub topics: Vec<TopicReport>,
    pub notes: Vec<String>,
}

pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The hint for a check that ran out of time, by layer.
fn timeout_hint(layer: Layer) -> &'static str {
    match layer {
        Layer::Dns => {
            "the resolver did not answer: check the DNS servers (/etc/resolv.conf), VPN and the host name"
        }
        Layer::Tcp => {
            "no answer to the connection attempt: a firewall or security group drops the packets, the host is down, or the address is wrong"
        }
        Layer::Tls => {
            "the TLS handshake stalled: the port may not be a TLS listener (try --security-protocol PLAINTEXT or SASL_PLAINTEXT), or something in between holds the connection"
        }
        Layer::Kafka => {
            "the port accepted the connection but did not answer a Kafka request: it may expect TLS (--security-protocol SSL or SASL_SSL), or it is not a Kafka listener"
        }
        Layer::Sasl => {
            "the broker did not finish the SASL exchange in time: the listener may expect TLS, or the broker is overloaded"
        }
        Layer::Metadata => {
            "the broker did not answer in time: it may be overloaded or still starting, or an advertised address is unreachable"
        }
        Layer::RoundTrip => {
            "the probe did not complete in time: the partition leader may be unreachable at its advertised address, the topic may lack in-sync replicas, or the broker is overloaded"
        }
        Layer::Topics => {
            "the topic lookups did not complete in time: the broker may be overloaded, or a partition leader is unreachable"
        }
    }
}

/// The state of one run.
pub(crate) struct Run<'a> {
    pub(crate) probe: &'a Probe,
    progress: &'a mut dyn Progress,
    pub(crate) checks: Vec<Check>,
    pub(crate) cluster: Option<ClusterInfo>,
    pub(crate) certificates: Vec<CertificateInfo>,
    pub(crate) topics: Vec<TopicReport>,
    pub(crate) notes: Vec<String>,
    /// An authenticated raw connection from the first broker that passed every layer.
    pub(crate) conn: Option<Conn>,
    /// Whether any bootstrap broker passed every layer.
    pub(crate) broker_ok: bool,
    /// The Kafka client, once connected (`Some(None)`: connecting failed).
    client: Option<Option<Arc<KafkaTransport>>>,
    tls_config: Option<Result<Arc<rustls::ClientConfig>, String>>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(probe: &'a Probe, progress: &'a mut dyn Progress) -> Self {
        Self {
            probe,
            progress,
            checks: Vec::new(),
            cluster: None,
            certificates: Vec::new(),
            topics: Vec::new(),
            notes: Vec::new(),
            conn: None,
            broker_ok: false,
            client: None,
            tls_config: None,
        }
    }

    pub(crate) fn finish(self) -> Parts {
        Parts {
            checks: self.checks,
            cluster: self.cluster,
            certificates: self.certificates,
            topics: self.topics,
            notes: self.notes,
        }
    }

    pub(crate) async fn execute(&mut self) {
        let probe = self.probe;
        if probe.target.uses_tls() {
            self.tls_config = Some(
                kafclaw_group::tls_client_config(&probe.target.tls).map_err(|e| e.to_string()),
            );
        }
        let mut first: Option<(Conn, Metadata)> = None;
        for addr in &probe.target.brokers {
            if let Some((conn, md)) = self.broker(addr).await {
                self.broker_ok = true;
                if first.is_none() {
                    first = Some((conn, md));
                }
            }
        }
        if let Some((conn, md)) = first {
            self.cluster = Some(cluster_info(&md));
            self.conn = Some(conn);
            self.advertised(&md).await;
        }
        if let Some(topic) = &probe.probe_topic {
            self.round_trip(topic).await;
        }
        if let Some(group) = &probe.group {
            self.group_topics(group).await;
        }
    }

    // ---- recording ----------------------------------------------------------------

    pub(crate) fn begin(&mut self, name: &str, layer: Layer, target: &str) -> Instant {
        self.progress.check_started(name, layer, target);
        Instant::now()
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        name: &str,
        layer: Layer,
        target: &str,
        status: Status,
        latency: Option<Duration>,
        detail: String,
        hint: Option<String>,
    ) {
        let check = Check {
            name: name.to_owned(),
            layer,
            target: target.to_owned(),
            status,
            latency_ms: latency.map(millis),
            detail,
            hint,
        };
        self.progress.check_finished(&check);
        self.checks.push(check);
    }

    pub(crate) fn skip(&mut self, name: &str, layer: Layer, target: &str, reason: &str) {
        self.record(
            name,
            layer,
            target,
            Status::Skipped,
            None,
            reason.to_owned(),
            None,
        );
    }

    fn skip_all(&mut self, steps: &[(&'static str, Layer)], target: &str, reason: &str) {
        for (name, layer) in steps {
            self.skip(name, *layer, target, reason);
        }
    }

    /// Runs `fut` as one check within `limit`, records it and returns its value.
    pub(crate) async fn check<T>(
        &mut self,
        name: &str,
        layer: Layer,
        target: &str,
        limit: Duration,
        fut: impl Future<Output = Outcome<T>>,
    ) -> Option<T> {
        let start = self.begin(name, layer, target);
        let result = tokio::time::timeout(limit, fut).await;
        let latency = start.elapsed();
        match result {
            Ok(Outcome::Ok(v, detail)) => {
                self.record(name, layer, target, Status::Ok, Some(latency), detail, None);
                Some(v)
            }
            Ok(Outcome::Warn(v, detail, hint)) => {
                self.record(
                    name,
                    layer,
                    target,
                    Status::Warn,
                    Some(latency),
                    detail,
                    Some(hint),
                );
                Some(v)
            }
            Ok(Outcome::Fail(detail, hint)) => {
                self.record(
                    name,
                    layer,
                    target,
                    Status::Fail,
                    Some(latency),
                    detail,
                    Some(hint),
                );
                None
            }
            Ok(Outcome::Skip(reason)) => {
                self.skip(name, layer, target, &reason);
                None
            }
            Err(_) => {
                self.record(
                    name,
                    layer,
                    target,
                    Status::Fail,
                    Some(latency),
                    format!("no answer within {}", fmt_duration(limit)),
                    Some(timeout_hint(layer).to_owned()),
                );
                None
            }
        }
    }

    // ---- the connection chain of one bootstrap broker -----------------------------

    async fn broker(&mut self, addr: &str) -> Option<(Conn, Metadata)> {
        let probe = self.probe;
        let t = probe.timeouts;
        let target = &probe.target;
        let mut steps: Vec<(&'static str, Layer)> = vec![("tcp", Layer::Tcp)];
        if target.uses_tls() {
            steps.push(("tls_handshake", Layer::Tls));
            steps.push(("tls_certificate", Layer::Tls));
        }
        steps.push(("api_versions", Layer::Kafka));
        if target.sasl.is_some() {
            steps.push(("sasl", Layer::Sasl));
        }
        steps.push(("metadata", Layer::Metadata));
        let rest = |name: &str| {
            let i = steps
                .iter()
                .position(|(n, _)| *n == name)
                .map_or(0, |i| i + 1);
            steps[i..].to_vec()
        };

        let Some((host, port)) = split_host_port(addr) else {
            self.record(
                "dns",
                Layer::Dns,
                addr,
                Status::Fail,
                None,
                format!("{addr:?} is not host:port"),
                Some("give brokers as host:port".to_owned()),
            );
            self.skip_all(&steps, addr, "the address is invalid");
            return None;
        };
        let host = host.to_owned();

        // DNS
        let resolved = self
            .check("dns", Layer::Dns, addr, t.check, async {
                match tokio::net::lookup_host((host.as_str(), port)).await {
                    Ok(found) => {
                        let mut list: Vec<SocketAddr> = found.collect();
                        list.dedup();
                        if list.is_empty() {
                            Outcome::Fail(format!("{host} resolved to no address"), dns_hint(&host))
                        } else {
                            let shown: Vec<String> = list.iter().map(|a| a.to_string()).collect();
                            let detail = if host.parse::<std::net::IpAddr>().is_ok() {
                                format!("{host} is an IP address ({})", shown.join(", "))
                            } else {
                                format!("{host} resolved to {}", shown.join(", "))
                            };
                            Outcome::Ok(list, detail)
                        }
                    }
                    Err(e) => Outcome::Fail(format!("cannot resolve {host}: {e}"), dns_hint(&host)),
                }
            })
            .await;
        let Some(resolved) = resolved else {
            self.skip_all(&steps, addr, "DNS failed");
            return None;
        };

        // TCP
        let connected = self
            .check("tcp", Layer::Tcp, addr, t.check, async {
                let mut last: Option<(SocketAddr, io::Error)> = None;
                for a in &resolved {
                    match TcpStream::connect(a).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            let local = s
                                .local_addr()
                                .map(|l| format!(" from {l}"))
                                .unwrap_or_default();
                            return Outcome::Ok((s, *a), format!("connected to {a}{local}"));
                        }
                        Err(e) => last = Some((*a, e)),
                    }
                }
                match last {
                    Some((a, e)) => {
                        let (detail, hint) = tcp_explain(a, &e);
                        Outcome::Fail(detail, hint)
                    }
                    None => Outcome::Fail("no address to connect to".to_owned(), dns_hint(&host)),
                }
            })
            .await;
        let Some((tcp, sock)) = connected else {
            self.skip_all(&rest("tcp"), addr, "TCP connection failed");
            return None;
        };

        // TLS
        let io: Box<dyn crate::wire::Io> = if target.uses_tls() {
            let Some(stream) = self.tls_handshake(addr, &host, sock, tcp).await else {
                self.skip_all(&rest("tls_handshake"), addr, "TLS handshake failed");
                return None;
            };
            self.tls_certificate(addr, &stream);
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let mut conn = Conn::new(io, &target.client_id);

        // ApiVersions
        let versions = self
            .check("api_versions", Layer::Kafka, addr, t.kafka, async {
                match conn.api_versions().await {
                    Ok(v) => {
                        let name = |k: i16| match k {
                            0 => "Produce",
                            1 => "Fetch",
                            3 => "Metadata",
                            _ => "?",
                        };
                        let mut parts = vec![format!(
                            "ApiVersions v{}: {} APIs",
                            v.version_used,
                            v.apis.len()
                        )];
                        for k in [0i16, 1, 3] {
                            if let Some(r) = v.range(k) {
                                parts.push(format!("{} v{}-v{}", name(k), r.min, r.max));
                            }
                        }
                        let detail = parts.join(", ");
                        match v.range(3) {
                            Some(r)
                                if (r.min..=r.max).contains(&crate::wire::METADATA_VERSION) =>
                            {
                                Outcome::Ok(v, detail)
                            }
                            _ => Outcome::Warn(
                                v,
                                format!("{detail}; Metadata v{} is not offered", crate::wire::METADATA_VERSION),
                                "the broker does not speak the Metadata version kshark uses; later checks may fail".to_owned(),
                            ),
                        }
                    }
                    Err(e) => {
                        let (d, h) = wire_explain(Layer::Kafka, &e, &host, false);
                        Outcome::Fail(d, h)
                    }
                }
            })
            .await;
        if versions.is_none() {
            self.skip_all(&rest("api_versions"), addr, "ApiVersions failed");
            return None;
        }

        // SASL
        if let Some(sasl) = &target.sasl {
            let ok = self
                .check(
                    "sasl",
                    Layer::Sasl,
                    addr,
                    t.kafka,
                    sasl_exchange(&mut conn, sasl, &host),
                )
                .await;
            if ok.is_none() {
                self.skip_all(&rest("sasl"), addr, "SASL authentication failed");
                return None;
            }
        }

        // Metadata
        let authenticated = target.sasl.is_some();
        let md = self
            .check("metadata", Layer::Metadata, addr, t.kafka, async {
                match conn.metadata(None).await {
                    Ok(md) => {
                        let brokers: Vec<String> = md
                            .brokers
                            .iter()
                            .map(|b| format!("{}@{}:{}", b.node_id, b.host, b.port))
                            .collect();
                        let detail = format!(
                            "cluster {}: {} broker(s) {}, controller {}, {} topic(s) visible",
                            md.cluster_id.as_deref().unwrap_or("<no id>"),
                            md.brokers.len(),
                            brokers.join(","),
                            md.controller_id,
                            md.topics.len()
                        );
                        if md.controller_id < 0 {
                            Outcome::Warn(
                                md,
                                format!("{detail}; no active controller reported"),
                                "the cluster reports no active controller: check the controller quorum (KRaft) or ZooKeeper".to_owned(),
                            )
                        } else if md.brokers.is_empty() {
                            Outcome::Warn(
                                md,
                                detail,
                                "the broker listed no brokers for this listener: check listeners and advertised.listeners".to_owned(),
                            )
                        } else {
                            Outcome::Ok(md, detail)
                        }
                    }
                    Err(e) => {
                        let (d, h) = wire_explain(Layer::Metadata, &e, &host, authenticated);
                        Outcome::Fail(d, h)
                    }
                }
            })
            .await;
        md.map(|md| (conn, md))
    }

    async fn tls_handshake(
        &mut self,
        addr: &str,
        host: &str,
        sock: SocketAddr,
        tcp: TcpStream,
    ) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
        let limit = self.probe.timeouts.check;
        let config = match self.tls_config.clone() {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                let start = self.begin("tls_handshake", Layer::Tls, addr);
                self.record(
                    "tls_handshake",
                    Layer::Tls,
                    addr,
                    Status::Fail,
                    Some(start.elapsed()),
                    format!("cannot set up TLS: {e}"),
                    Some("check --ca-file, --cert-file and --key-file (ssl.ca.location, ssl.certificate.location, ssl.key.location): they must be readable PEM files".to_owned()),
                );
                return None;
            }
            None => return None,
        };
        let start = self.begin("tls_handshake", Layer::Tls, addr);
        let result = tokio::time::timeout(limit, tls::handshake(tcp, host, config)).await;
        let latency = start.elapsed();
        match result {
            Ok(Ok(stream)) => {
                let detail = format!("{} with server name {host}", tls::session_summary(&stream));
                self.record(
                    "tls_handshake",
                    Layer::Tls,
                    addr,
                    Status::Ok,
                    Some(latency),
                    detail,
                    None,
                );
                Some(stream)
            }
            Ok(Err(e)) => {
                let (mut detail, hint, cert_problem) =
                    tls::explain(&e, host).unwrap_or_else(|| tls_io_explain(&e));
                if cert_problem {
                    let chain = tls::presented_chain(sock, host, limit).await;
                    let infos =
                        tls::describe_chain(addr, &chain, false, chrono::Utc::now().timestamp());
                    if !infos.is_empty() {
                        detail.push_str(&format!(
                            "; the broker presented: {}",
                            tls::chain_summary(&infos)
                        ));
                        self.certificates.extend(infos);
                    }
                }
                self.record(
                    "tls_handshake",
                    Layer::Tls,
                    addr,
                    Status::Fail,
                    Some(latency),
                    detail,
                    Some(hint),
                );
                None
            }
            Err(_) => {
                self.record(
                    "tls_handshake",
                    Layer::Tls,
                    addr,
                    Status::Fail,
                    Some(latency),
                    format!("no answer within {}", fmt_duration(limit)),
                    Some(timeout_hint(Layer::Tls).to_owned()),
                );
                None
            }
        }
    }

    fn tls_certificate(&mut self, addr: &str, stream: &tokio_rustls::client::TlsStream<TcpStream>) {
        let start = self.begin("tls_certificate", Layer::Tls, addr);
        let chain = tls::peer_chain(stream);
        let infos = tls::describe_chain(addr, &chain, true, chrono::Utc::now().timestamp());
        let latency = start.elapsed();
        let (status, detail, hint) = tls::assess_chain(&infos);
        self.certificates.extend(infos);
        self.record(
            "tls_certificate",
            Layer::Tls,
            addr,
            status,
            Some(latency),
            detail,
            hint,
        );
    }

    /// Checks that every broker the cluster advertises (and that was not a bootstrap
    /// address) accepts connections from here.
    async fn advertised(&mut self, md: &Metadata) {
        let probe = self.probe;
        for b in &md.brokers {
            let addr = if b.host.contains(':') {
                format!("[{}]:{}", b.host, b.port)
            } else {
                format!("{}:{}", b.host, b.port)
            };
            if probe.target.brokers.contains(&addr) {
                continue;
            }
            let target = format!("node {} {addr}", b.node_id);
            let (host, port) = (b.host.clone(), u16::try_from(b.port).unwrap_or(0));
            self.check(
                "advertised_broker",
                Layer::Metadata,
                &target,
                probe.timeouts.check,
                async move {
                    let unreachable = |reason: String| {
                        Outcome::Fail(
                            format!("cannot reach the advertised address {host}:{port}: {reason}"),
                            format!(
                                "clients connect to the advertised address after bootstrap: fix advertised.listeners of node {} or the network path (DNS, firewall, VPN) to {host}:{port}",
                                b.node_id
                            ),
                        )
                    };
                    match TcpStream::connect((host.as_str(), port)).await {
                        Ok(s) => Outcome::Ok(
                            (),
                            format!(
                                "reachable{}",
                                s.peer_addr().map(|a| format!(" at {a}")).unwrap_or_default()
                            ),
                        ),
                        Err(e) => unreachable(e.to_string()),
                    }
                },
            )
            .await;
        }
    }

    // ---- the Kafka client and the round trip ---------------------------------------

    /// The Kafka client (rskafka), connected on first use and recorded as a check.
    pub(crate) async fn client(&mut self) -> Option<Arc<KafkaTransport>> {
        if let Some(c) = &self.client {
            return c.clone();
        }
        let probe = self.probe;
        let settings = probe.target.kafka_settings(probe.timeouts.kafka);
        let target = probe.target.brokers.join(",");
        let limit = probe.timeouts.kafka + probe.timeouts.check;
        let client = self
            .check(
                "kafka_client",
                Layer::Metadata,
                &target,
                limit,
                async move {
                    match KafkaTransport::connect(&settings).await {
                        Ok(t) => Outcome::Ok(
                            Arc::new(t),
                            "the Kafka client bootstrapped and listed the topics".to_owned(),
                        ),
                        Err(e) => {
                            let hint = client_hint(&e);
                            Outcome::Fail(e.to_string(), hint)
                        }
                    }
                },
            )
            .await;
        self.client = Some(client.clone());
        client
    }

    async fn round_trip(&mut self, topic: &str) {
        let steps = [
            ("probe_topic", Layer::RoundTrip),
            ("produce", Layer::RoundTrip),
            ("consume", Layer::RoundTrip),
        ];
        if !self.broker_ok {
            self.skip_all(
                &steps,
                topic,
                "no bootstrap broker passed the connection checks",
            );
            return;
        }
        let Some(client) = self.client().await else {
            self.skip_all(&steps, topic, "the Kafka client could not connect");
            return;
        };
        let t = self.probe.timeouts;

        let tr = Arc::clone(&client);
        let partitions = self
            .check(
                "probe_topic",
                Layer::RoundTrip,
                topic,
                t.check + t.kafka,
                async move {
                    match tr.partitions(topic).await {
                        Ok(ps) if !ps.is_empty() => {
                            let n = ps.len();
                            Outcome::Ok(ps, format!("{topic} exists with {n} partition(s)"))
                        }
                        Ok(_) | Err(GroupError::UnknownTopic { .. }) => {
                            // One partition; the broker's default replication factor.
                            match tr.ensure_topic(topic, 1, -1).await {
                                Ok(()) => match tr.partitions(topic).await {
                                    Ok(ps) => {
                                        Outcome::Ok(ps, format!("created {topic} with 1 partition"))
                                    }
                                    Err(e) => Outcome::Fail(
                                        format!("created {topic}, but: {e}"),
                                        topic_hint(&e, topic, "describe"),
                                    ),
                                },
                                Err(e) => Outcome::Fail(
                                    format!("cannot create {topic}: {e}"),
                                    topic_hint(&e, topic, "create"),
                                ),
                            }
                        }
                        Err(e) => Outcome::Fail(
                            format!("cannot look up {topic}: {e}"),
                            topic_hint(&e, topic, "describe"),
                        ),
                    }
                },
            )
            .await;
        if partitions.is_none() {
            self.skip_all(&steps[1..], topic, "the probe topic is not usable");
            return;
        }

        let round_trip_start = Instant::now();
        let key = format!(
            "kshark-{}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let tr = Arc::clone(&client);
        let record_key = key.clone();
        let produced = self
            .check("produce", Layer::RoundTrip, topic, t.produce, async move {
                let mut headers = BTreeMap::new();
                headers.insert("ksharkcheck".to_owned(), b"1".to_vec());
                let record = OutRecord {
                    key: Some(record_key.into_bytes()),
                    value: b"probe".to_vec(),
                    headers,
                };
                match tr.produce(topic, record).await {
                    Ok(p) => Outcome::Ok(
                        p,
                        format!("wrote offset {} to partition {}", p.offset, p.partition),
                    ),
                    Err(e) => Outcome::Fail(
                        format!("cannot produce to {topic}: {e}"),
                        topic_hint(&e, topic, "write"),
                    ),
                }
            })
            .await;
        let Some(Produced { partition, offset }) = produced else {
            self.skip_all(&steps[2..], topic, "nothing was produced");
            return;
        };

        let tr = Arc::clone(&client);
        self.check("consume", Layer::RoundTrip, topic, t.consume, async move {
            let reader = match tr.reader(topic, partition).await {
                Ok(r) => r,
                Err(e) => {
                    return Outcome::Fail(
                        format!("cannot read {topic}/{partition}: {e}"),
                        topic_hint(&e, topic, "read"),
                    );
                }
            };
            let mut next = offset;
            loop {
                match reader.fetch(next, Duration::from_millis(500)).await {
                    Ok(batch) => {
                        for r in batch.records {
                            if r.offset == offset {
                                return if r.key.as_deref() == Some(key.as_bytes()) {
                                    Outcome::Ok(
                                        (),
                                        format!(
                                            "read back offset {offset} from partition {partition}; produce-to-consume round trip {:.1} ms",
                                            millis(round_trip_start.elapsed())
                                        ),
                                    )
                                } else {
                                    Outcome::Fail(
                                        format!("offset {offset} holds another record than the one produced"),
                                        "another writer or a compaction changed the probe topic: use a dedicated --topic".to_owned(),
                                    )
                                };
                            }
                            next = r.offset + 1;
                        }
                        if next > offset {
                            // Records after the probe came back, but not the probe itself.
                            return Outcome::Fail(
                                format!(
                                    "offset {offset} is missing from partition {partition} (high watermark {})",
                                    batch.high_watermark
                                ),
                                "the probe record vanished: the topic may have been truncated, compacted or recreated; use a dedicated --topic".to_owned(),
                            );
                        }
                    }
                    Err(e) => {
                        return Outcome::Fail(
                            format!("cannot read {topic}/{partition}: {e}"),
                            topic_hint(&e, topic, "read"),
                        );
                    }
                }
            }
        })
        .await;
    }
}

fn cluster_info(md: &Metadata) -> ClusterInfo {
    ClusterInfo {
        cluster_id: md.cluster_id.clone(),
        controller_id: md.controller_id,
        brokers: md
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                node_id: b.node_id,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
            })
            .collect(),
        topic_count: u32::try_from(md.topics.len()).unwrap_or(u32::MAX),
    }
}

fn dns_hint(host: &str) -> String {
    format!(
        "the name {host:?} does not resolve from this machine: check its spelling, the DNS servers and /etc/hosts, and whether it is only resolvable inside another network (VPN, VPC)"
    )
}

fn tcp_explain(addr: SocketAddr, e: &io::Error) -> (String, String) {
    let detail = format!("cannot connect to {addr}: {e}");
    let hint = match e.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "nothing listens on {addr}: the broker is down, or the port is wrong (each listener, PLAINTEXT, SASL or TLS, has its own port)"
        ),
        io::ErrorKind::TimedOut => {
            "the connection attempt timed out: a firewall or security group drops the packets, or the host is down".to_owned()
        }
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            "no route to the host: check the VPN, routing and security groups".to_owned()
        }
        io::ErrorKind::PermissionDenied => {
            "the connection was blocked on this machine: check the local firewall".to_owned()
        }
        _ => "check that the broker runs and that the address and port are right".to_owned(),
    };
    (detail, hint)
}

fn tls_io_explain(e: &io::Error) -> (String, String, bool) {
    let hint = match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => {
            "the broker closed the connection during the TLS handshake: the port is probably not a TLS listener (check the port and --security-protocol), or the broker rejected this client"
        }
        io::ErrorKind::InvalidInput => "the broker host is not usable as a TLS server name",
        _ => "the TLS handshake failed: check that this is a TLS listener",
    };
    (format!("TLS handshake failed: {e}"), hint.to_owned(), false)
}

fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// What a failed raw request means, by layer.
fn wire_explain(layer: Layer, e: &WireError, host: &str, authenticated: bool) -> (String, String) {
    match e {
        WireError::Io(io_err) => {
            if let Some((d, h, _)) = tls::explain(io_err, host) {
                return (d, h);
            }
            if closed(io_err) {
                let hint = match layer {
                    Layer::Kafka => {
                        "the broker closed the connection instead of answering: the listener probably expects TLS (--security-protocol SSL or SASL_SSL, with the TLS port), or the port belongs to another service"
                    }
                    Layer::Metadata if !authenticated => {
                        "the broker closed the connection on the first request that needs authentication: this listener requires SASL (--security-protocol SASL_PLAINTEXT or SASL_SSL with --sasl-mechanism and credentials)"
                    }
                    Layer::Sasl => {
                        "the broker closed the connection during SASL: the listener may not use SASL (--security-protocol PLAINTEXT or SSL), or it expects TLS"
                    }
                    _ => "the broker closed the connection: it may be shutting down, or it rejected this client",
                };
                return (
                    format!("the broker closed the connection: {io_err}"),
                    hint.to_owned(),
                );
            }
            (
                format!("connection error: {io_err}"),
                "check the broker log for the reason it dropped this client".to_owned(),
            )
        }
        WireError::Protocol(d) => (
            format!("the answer is not a Kafka response: {d}"),
            "this port speaks another protocol: is it a TLS listener spoken to in plaintext (or the reverse), or another service?".to_owned(),
        ),
        WireError::Kafka { code, .. } => {
            let hint = match code {
                31 => "the user may not describe the cluster: grant DESCRIBE on the cluster resource",
                35 => "the broker does not support this request version: it may be older than Kafka 0.11 or not a Kafka broker",
                _ => "see the Kafka error code; the broker log has details",
            };
            (format!("{}: {e}", layer.as_str()), hint.to_owned())
        }
    }
}

/// SaslHandshake, then the SASL exchange (PLAIN or SCRAM) through rsasl.
async fn sasl_exchange(conn: &mut Conn, sasl: &SaslAuth, host: &str) -> Outcome<()> {
    let mech = sasl.mechanism.as_str();
    let enabled = match conn.sasl_handshake(mech).await {
        Ok(enabled) => enabled,
        Err(WireError::Kafka {
            code: 33, context, ..
        }) => {
            return Outcome::Fail(
                format!(
                    "the listener does not enable {mech}; it enables: {}",
                    if context.is_empty() {
                        "none".to_owned()
                    } else {
                        context.join(", ")
                    }
                ),
                format!(
                    "use a mechanism the listener enables (--sasl-mechanism {}), or enable {mech} on the broker (sasl.enabled.mechanisms)",
                    context.first().map(String::as_str).unwrap_or("...")
                ),
            );
        }
        Err(e) => {
            let (d, h) = wire_explain(Layer::Sasl, &e, host, false);
            return Outcome::Fail(d, h);
        }
    };
    let config = match rsasl::config::SASLConfig::with_credentials(
        None,
        sasl.username.clone(),
        sasl.password.clone(),
    ) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Fail(
                format!("cannot prepare SASL {mech}: {e}"),
                "check the SASL user name and password".to_owned(),
            );
        }
    };
    let Ok(mechname) = rsasl::mechname::Mechname::parse(mech.as_bytes()) else {
        return Outcome::Fail(format!("bad mechanism name {mech}"), String::new());
    };
    let mut session = match rsasl::prelude::SASLClient::new(config).start_suggested(&[mechname]) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Fail(
                format!("cannot start SASL {mech}: {e}"),
                "this mechanism is not available in kshark".to_owned(),
            );
        }
    };
    let mut received: Option<Vec<u8>> = None;
    let mut round_trips = 0u32;
    loop {
        let mut out = io::Cursor::new(Vec::new());
        let state = match session.step(received.as_deref(), &mut out) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::Fail(
                    format!("SASL {mech} exchange failed: {e}"),
                    "the broker's answer did not verify: check the mechanism and password (a SCRAM server signature mismatch points at a different password on the broker)".to_owned(),
                );
            }
        };
        if state.has_sent_message() {
            round_trips += 1;
            match conn.sasl_authenticate(&out.into_inner()).await {
                Ok(answer) => received = Some(answer),
                Err(WireError::Kafka {
                    code: 58, message, ..
                }) => {
                    return Outcome::Fail(
                        format!(
                            "the broker rejected user {:?} with {mech}: {}",
                            sasl.username,
                            message.unwrap_or_else(|| error_name(58).to_owned())
                        ),
                        format!(
                            "wrong user name or password for {mech}{}; check --sasl-username/--sasl-password (sasl.jaas.config)",
                            if mech.starts_with("SCRAM") {
                                ", or the user has no SCRAM credentials for this mechanism on the broker (kafka-configs --alter --add-config 'SCRAM-SHA-...=[password=...]')"
                            } else {
                                ""
                            }
                        ),
                    );
                }
                Err(e) => {
                    let (d, h) = wire_explain(Layer::Sasl, &e, host, false);
                    return Outcome::Fail(d, h);
                }
            }
        }
        if state.is_finished() {
            break;
        }
    }
    Outcome::Ok(
        (),
        format!(
            "authenticated as {:?} with {mech} in {round_trips} round trip(s); the listener enables {}",
            sasl.username,
            enabled.join(", ")
        ),
    )
}

/// The hint for a Kafka client that could not connect.
fn client_hint(e: &GroupError) -> String {
    match e {
        GroupError::Authentication { .. } => {
            "the broker rejected the credentials: check the SASL user name, password and mechanism".to_owned()
        }
        GroupError::UnsupportedMechanism { .. } => {
            "the broker does not enable this SASL mechanism: pick one from sasl.enabled.mechanisms".to_owned()
        }
        GroupError::Tls { .. } => {
            "TLS failed for the Kafka client: check --ca-file and the client certificate".to_owned()
        }
        GroupError::Config { .. } => "the settings are invalid for the Kafka client".to_owned(),
        _ => "the bootstrap worked but the client could not reach the cluster: the advertised addresses (advertised.listeners) may be unreachable from here".to_owned(),
    }
}

/// The hint for a failed topic operation: ACLs, policies, replicas.
pub(crate) fn topic_hint(e: &GroupError, topic: &str, op: &str) -> String {
    let text = e.to_string().to_ascii_lowercase();
    let acl = match op {
        "create" => "CREATE (on the cluster or the topic) and DESCRIBE on the topic",
        "write" => "WRITE on the topic",
        "read" => "READ on the topic",
        _ => "DESCRIBE on the topic",
    };
    if text.contains("authoriz") {
        return format!(
            "the user may not {op} {topic}: grant {acl}, pick a topic you may use with --topic, or skip the round trip with --no-produce"
        );
    }
    if text.contains("policy") {
        return format!(
            "a broker policy refused to create {topic}: create it beforehand, or pass an existing topic with --topic"
        );
    }
    if text.contains("replication") {
        return format!(
            "the replication factor is not possible on this cluster: create {topic} beforehand with a valid replication factor, or use --topic"
        );
    }
    if text.contains("notenoughreplicas") || text.contains("not enough replicas") {
        return format!(
            "too few in-sync replicas of {topic} (min.insync.replicas): check the brokers that host it"
        );
    }
    format!("the {op} operation on {topic} failed: the broker log has the reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_timeouts_explain_themselves() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (d, h) = tcp_explain(a, &io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(d.contains("127.0.0.1:1"), "{d}");
        assert!(h.contains("port is wrong"), "{h}");
        for layer in Layer::ALL {
            assert!(!timeout_hint(layer).is_empty());
        }
    }

    #[test]
    fn closed_connections_are_attributed_by_layer() {
        let eof = || WireError::Io(io::Error::from(io::ErrorKind::UnexpectedEof));
        assert!(
            wire_explain(Layer::Kafka, &eof(), "h", false)
                .1
                .contains("expects TLS")
        );
        assert!(
            wire_explain(Layer::Metadata, &eof(), "h", false)
                .1
                .contains("requires SASL")
        );
        assert!(
            !wire_explain(Layer::Metadata, &eof(), "h", true)
                .1
                .contains("requires SASL")
        );
    }

    #[test]
    fn topic_hints_name_the_acl() {
        let e = GroupError::Kafka {
            operation: "produce",
            topic: "t".into(),
            reason: "Server error TopicAuthorizationFailed".into(),
        };
        let h = topic_hint(&e, "t", "write");
        assert!(h.contains("WRITE"), "{h}");
        let e = GroupError::Kafka {
            operation: "create topic",
            topic: "t".into(),
            reason: "InvalidReplicationFactor".into(),
        };
        assert!(topic_hint(&e, "t", "create").contains("replication factor"));
        assert_eq!(millis(Duration::from_micros(1500)), 1.5);
        assert_eq!(fmt_duration(Duration::from_secs(3)), "3 s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500 ms");
    }
}
