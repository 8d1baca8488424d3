//! The life cycle of one local Kafka broker: render its configuration, format its storage, start, probe, stop.
//!
//! A broker is identified by its PLAINTEXT port P and its directory (by
//! convention `<workspace>/target/kafka/<P>/`). It is a single KRaft node
//! (broker and controller in one JVM) with five listeners on 127.0.0.1:
//!
//! | port | listener        | security                                     |
//! |------|-----------------|----------------------------------------------|
//! | P    | PLAINTEXT       | none                                         |
//! | P+1  | CONTROLLER      | none (KRaft quorum only, not for clients)    |
//! | P+2  | SASL_PLAINTEXT  | SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512     |
//! | P+3  | SSL             | TLS, server certificate only                 |
//! | P+4  | MTLS            | TLS with a required client certificate       |
//!
//! The JVM runs in its own process group, so it outlives the process that
//! started it; a pid file lets any later process stop it.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::env::vars;
use crate::error::{Error, Result};
use crate::probe::{self, ClusterMetadata};
use crate::runtime::{JAVA_HINT, KAFKA_VERSION, KafkaRuntime, default_cache_dir};
use crate::tls::TlsFiles;
use crate::util::{random_suffix, tail, tail_file};

/// A SASL user that the test broker knows for PLAIN and both SCRAM mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslUser {
    /// User name.
    pub name: &'static str,
    /// Password.
    pub password: &'static str,
}

/// The SASL users of every test broker: the first is the default test user, the second a peer.
pub const SASL_USERS: [SaslUser; 2] = [
    SaslUser {
        name: "kafclaw",
        password: "kafclaw-secret",
    },
    SaslUser {
        name: "kafclaw-peer",
        password: "kafclaw-peer-secret",
    },
];

const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
const HEAP: &str = "512m";
const LOCALHOST: &str = "127.0.0.1";

/// The `host:port` of each listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerAddrs {
    /// PLAINTEXT, port P: the bootstrap address.
    pub plaintext: String,
    /// CONTROLLER, port P+1 (KRaft only).
    pub controller: String,
    /// SASL_PLAINTEXT, port P+2.
    pub sasl_plaintext: String,
    /// SSL, port P+3.
    pub ssl: String,
    /// SSL with required client certificates, port P+4.
    pub mtls: String,
}

/// What [`Broker::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new broker process was started and answers metadata requests.
    Started {
        /// Its process id.
        pid: u32,
    },
    /// The broker of this directory was already running and answering.
    AlreadyRunning {
        /// Its process id.
        pid: u32,
    },
}

/// What [`Broker::stop`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The broker process was stopped and its ports are closed.
    Stopped {
        /// The process id it had.
        pid: u32,
    },
    /// No broker of this directory was running.
    NotRunning,
}

/// One local Kafka broker: a PLAINTEXT port and a directory for its data, logs and state.
#[derive(Debug, Clone)]
pub struct Broker {
    port: u16,
    dir: PathBuf,
    cache_dir: PathBuf,
    start_timeout: Duration,
    stop_timeout: Duration,
}

impl Broker {
    /// A broker with PLAINTEXT port `port` whose files live in `dir`.
    ///
    /// Fails when the five ports `port..=port+4` do not fit below 65536.
    pub fn new(dir: impl Into<PathBuf>, port: u16) -> Result<Self> {
        if port == 0 || port > u16::MAX - 4 {
            return Err(Error::Env {
                var: vars::KAFKA_PORT,
                value: port.to_string(),
                reason: format!(
                    "the broker needs ports P..P+4, so P must be 1..={}",
                    u16::MAX - 4
                ),
            });
        }
        Ok(Broker {
            port,
            dir: dir.into(),
            cache_dir: default_cache_dir(),
            start_timeout: Duration::from_secs(180),
            stop_timeout: Duration::from_secs(30),
        })
    }

    /// The conventional broker of a workspace: directory `<workspace>/target/kafka/<port>`.
    pub fn for_workspace(workspace_root: &Path, port: u16) -> Result<Self> {
        Self::new(
            workspace_root
                .join("target")
                .join("kafka")
                .join(port.to_string()),
            port,
        )
    }

    /// Uses `cache_dir` instead of [`default_cache_dir`] for the Kafka jars.
    pub fn with_cache_dir(mut self, cache_dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = cache_dir.into();
        self
    }

    /// How long [`Broker::start`] waits for the broker to answer (default 180 s).
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The PLAINTEXT port P.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bootstrap address, `127.0.0.1:P`.
    pub fn bootstrap(&self) -> String {
        format!("{LOCALHOST}:{}", self.port)
    }

    /// All listener addresses.
    pub fn listeners(&self) -> ListenerAddrs {
        let at = |offset: u16| format!("{LOCALHOST}:{}", self.port + offset);
        ListenerAddrs {
            plaintext: at(0),
            controller: at(1),
            sasl_plaintext: at(2),
            ssl: at(3),
            mtls: at(4),
        }
    }

    /// The TLS material (generated on first start).
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles::in_dir(&self.dir.join("tls"))
    }

    /// The broker's log (its stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("logs").join("broker.log")
    }

    /// The machine-readable state file written after a successful start.
    pub fn state_json_path(&self) -> PathBuf {
        self.dir.join("broker.json")
    }

    /// The `KAFCLAW_TEST_*=...` file written after a successful start.
    pub fn env_file_path(&self) -> PathBuf {
        self.dir.join("broker.env")
    }

    fn pid_path(&self) -> PathBuf {
        self.dir.join("broker.pid")
    }

    fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The environment that tells tests about this broker (`KAFCLAW_TEST_*`).
    pub fn env_vars(&self) -> Vec<(&'static str, String)> {
        let l = self.listeners();
        let tls = self.tls_files();
        let path = |p: &Path| p.display().to_string();
        vec![
            (vars::BROKERS, l.plaintext),
            (vars::SASL_BROKERS, l.sasl_plaintext),
            (vars::SASL_USER, SASL_USERS[0].name.to_owned()),
            (vars::SASL_PASSWORD, SASL_USERS[0].password.to_owned()),
            (vars::SASL_PEER_USER, SASL_USERS[1].name.to_owned()),
            (vars::SASL_PEER_PASSWORD, SASL_USERS[1].password.to_owned()),
            (vars::TLS_BROKERS, l.ssl),
            (vars::MTLS_BROKERS, l.mtls),
            (vars::TLS_CA, path(&tls.ca_cert)),
            (vars::TLS_CLIENT_CERT, path(&tls.client_cert)),
            (vars::TLS_CLIENT_KEY, path(&tls.client_key)),
            (vars::KAFKA_PORT, self.port.to_string()),
            (vars::BROKER_DIR, path(&self.dir)),
            (vars::BROKER_JSON, path(&self.state_json_path())),
        ]
    }

    /// Asks the PLAINTEXT listener for metadata: `Ok` only when the broker answers.
    pub fn status(&self) -> Result<ClusterMetadata> {
        let md = probe::metadata(&self.bootstrap(), Duration::from_secs(5))?;
        if md.brokers.is_empty() {
            return Err(Error::Protocol {
                api: "Metadata",
                addr: self.bootstrap(),
                detail: "the response lists no broker".to_owned(),
            });
        }
        Ok(md)
    }

    /// The process id of this directory's broker, when that process is alive.
    pub fn pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.pid_path()).ok()?;
        let pid: u32 = pid.trim().parse().ok()?;
        (process_alive(pid) && self.is_our_process(pid)).then_some(pid)
    }

    /// Starts the broker unless it is running already; returns once it answers a Metadata request.
    ///
    /// Resolves the Kafka jars (Maven, first time only), generates the TLS
    /// files and formats the storage with the SCRAM users (first start of this
    /// directory only), writes `server.properties`, starts the JVM detached and
    /// finally writes `broker.json` and `broker.env`.
    pub fn start(&self) -> Result<StartOutcome> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io("create directory", &self.dir, e))?;
        let _lock = self.lock()?;

        if let Some(pid) = self.pid() {
            self.wait_ready(pid, None)?;
            self.write_state_files(pid)?;
            return Ok(StartOutcome::AlreadyRunning { pid });
        }
        let _ = std::fs::remove_file(self.pid_path());
        self.check_ports_free()?;

        let runtime = KafkaRuntime::ensure(&self.cache_dir)?;
        let tls = self.tls_files();
        tls.ensure()?;
        let props = self.render_properties(&tls)?;
        let props_path = self.properties_path();
        std::fs::write(&props_path, props).map_err(|e| Error::io("write", &props_path, e))?;
        if !self.data_dir().join("meta.properties").is_file() {
            self.format(&runtime)?;
        }

        let (pid, exit) = self.spawn(&runtime)?;
        if let Err(e) = self.wait_ready(pid, Some(&exit)) {
            // Never leave a half-started broker behind.
            let _ = self.terminate(pid);
            let _ = std::fs::remove_file(self.pid_path());
            return Err(e);
        }
        self.write_state_files(pid)?;
        Ok(StartOutcome::Started { pid })
    }

    /// Stops the broker (SIGTERM, then SIGKILL after a deadline) and waits until its ports are closed.
    pub fn stop(&self) -> Result<StopOutcome> {
        if !self.dir.is_dir() {
            return Ok(StopOutcome::NotRunning);
        }
        let _lock = self.lock()?;
        let Some(pid) = self.pid() else {
            let _ = std::fs::remove_file(self.pid_path());
            if self.status().is_ok() {
                // Something answers on our port, but we did not start it: we cannot stop it.
                return Err(Error::PortInUse {
                    port: self.port,
                    listener: "PLAINTEXT",
                    dir: self.dir.clone(),
                });
            }
            return Ok(StopOutcome::NotRunning);
        };
        self.terminate(pid)?;
        let _ = std::fs::remove_file(self.pid_path());
        Ok(StopOutcome::Stopped { pid })
    }

    fn terminate(&self, pid: u32) -> Result<()> {
        let gone = |deadline: Duration| {
            crate::wait_until(deadline, Duration::from_millis(100), || !process_alive(pid))
        };
        signal(pid, "TERM");
        if !gone(self.stop_timeout) {
            signal(pid, "KILL");
            if !gone(Duration::from_secs(10)) {
                return Err(Error::StopFailed {
                    pid,
                    port: self.port,
                    reason: "the process is still alive after SIGKILL".to_owned(),
                });
            }
        }
        let ports = self.ports();
        let closed = crate::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            ports.iter().all(|(port, _)| {
                TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                    Duration::from_millis(200),
                )
                .is_err()
            })
        });
        if !closed {
            return Err(Error::StopFailed {
                pid,
                port: self.port,
                reason: "the process is gone but a listener port still accepts connections"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Serializes start and stop of one directory across processes.
    fn lock(&self) -> Result<File> {
        let path = self.dir.join(".lock");
        let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        file.lock().map_err(|e| Error::io("lock", &path, e))?;
        Ok(file)
    }

    fn ports(&self) -> [(u16, &'static str); 5] {
        [
            (self.port, "PLAINTEXT"),
            (self.port + 1, "CONTROLLER"),
            (self.port + 2, "SASL_PLAINTEXT"),
            (self.port + 3, "SSL"),
            (self.port + 4, "MTLS"),
        ]
    }

    fn check_ports_free(&self) -> Result<()> {
        for (port, listener) in self.ports() {
            if TcpListener::bind((LOCALHOST, port)).is_err() {
                return Err(Error::PortInUse {
                    port,
                    listener,
                    dir: self.dir.clone(),
                });
            }
        }
        Ok(())
    }

    fn is_our_process(&self, pid: u32) -> bool {
        match std::fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(cmdline) => {
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.contains("kafka.Kafka")
                    && cmdline.contains(&*self.properties_path().to_string_lossy())
            }
            // No procfs (not Linux): trust the pid file.
            Err(_) => !Path::new("/proc/self").exists(),
        }
    }

    fn format(&self, runtime: &KafkaRuntime) -> Result<()> {
        let log = self.dir.join("logs").join("format.log");
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io("create directory", &logs, e))?;
        let mut cmd = runtime.jvm("256m", "info", "kafka.tools.StorageTool");
        cmd.arg("format")
            .arg("-t")
            .arg(new_cluster_id())
            .arg("-c")
            .arg(self.properties_path());
        for user in SASL_USERS {
            for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                cmd.arg("--add-scram").arg(format!(
                    "{mechanism}=[name={},password={}]",
                    user.name, user.password
                ));
            }
        }
        let output = cmd.output().map_err(|source| Error::Spawn {
            program: crate::runtime::java_program().display().to_string(),
            hint: JAVA_HINT,
            source,
        })?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        std::fs::write(&log, &text).map_err(|e| Error::io("write", &log, e))?;
        if !output.status.success() {
            return Err(Error::Command {
                what: format!(
                    "formatting the KRaft storage in {}",
                    self.data_dir().display()
                ),
                status: output.status,
                output_tail: tail(&text, 30),
            });
        }
        Ok(())
    }

    /// Starts the JVM in its own process group; a thread reaps it when it exits.
    fn spawn(&self, runtime: &KafkaRuntime) -> Result<(u32, Arc<Mutex<Option<ExitStatus>>>)> {
        let log_path = self.log_path();
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| Error::io("create directory", &logs, e))?;
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("open", &log_path, e))?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        std::io::Write::write_all(
            &mut log,
            format!(
                "==== kafclaw-testkit: starting Apache Kafka {KAFKA_VERSION} on port {} (unix time {now}) ====\n",
                self.port
            )
            .as_bytes(),
        )
        .map_err(|e| Error::io("write", &log_path, e))?;
        let stderr = log
            .try_clone()
            .map_err(|e| Error::io("duplicate handle of", &log_path, e))?;

        let mut cmd = runtime.jvm(HEAP, "info", "kafka.Kafka");
        cmd.arg(self.properties_path())
            .current_dir(&self.dir)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| Error::Spawn {
            program: crate::runtime::java_program().display().to_string(),
            hint: JAVA_HINT,
            source,
        })?;
        let pid = child.id();
        let pid_path = self.pid_path();
        if let Err(e) = std::fs::write(&pid_path, format!("{pid}\n")) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::io("write", &pid_path, e));
        }
        let exit = Arc::new(Mutex::new(None));
        let exit_for_reaper = Arc::clone(&exit);
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                *exit_for_reaper.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
            }
        });
        Ok((pid, exit))
    }

    fn wait_ready(&self, pid: u32, exit: Option<&Arc<Mutex<Option<ExitStatus>>>>) -> Result<()> {
        let start = Instant::now();
        loop {
            let exited = match exit {
                Some(exit) => exit
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .map(|s| s.to_string()),
                None => (!process_alive(pid)).then(|| "exited".to_owned()),
            };
            if let Some(status) = exited {
                return Err(Error::BrokerExited {
                    port: self.port,
                    status,
                    log: self.log_path(),
                    log_tail: tail_file(&self.log_path(), 40),
                });
            }
            let last_error = match self.status() {
                Ok(_) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if start.elapsed() >= self.start_timeout {
                return Err(Error::StartTimeout {
                    port: self.port,
                    waited: start.elapsed(),
                    last_error,
                    log: self.log_path(),
                    log_tail: tail_file(&self.log_path(), 40),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn render_properties(&self, tls: &TlsFiles) -> Result<String> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e));
        let ca = pem_value(&read(&tls.ca_cert)?);
        let cert = pem_value(&read(&tls.server_cert)?);
        let key = pem_value(&read(&tls.server_key)?);
        let l = self.listeners();
        let users: String = SASL_USERS
            .iter()
            .map(|u| format!(" user_{}=\"{}\"", u.name, u.password))
            .collect();
        let data = escape_value(&self.data_dir().display().to_string());
        let mut p = String::new();
        let mut line = |k: &str, v: &str| {
            let _ = writeln!(p, "{k}={v}");
        };
        line("process.roles", "broker,controller");
        line("node.id", "1");
        line("controller.quorum.voters", &format!("1@{}", l.controller));
        line("controller.listener.names", "CONTROLLER");
        line("inter.broker.listener.name", "PLAINTEXT");
        line(
            "listeners",
            &format!(
                "PLAINTEXT://{},CONTROLLER://{},SASL_PLAINTEXT://{},SSL://{},MTLS://{}",
                l.plaintext, l.controller, l.sasl_plaintext, l.ssl, l.mtls
            ),
        );
        line(
            "advertised.listeners",
            &format!(
                "PLAINTEXT://{},SASL_PLAINTEXT://{},SSL://{},MTLS://{}",
                l.plaintext, l.sasl_plaintext, l.ssl, l.mtls
            ),
        );
        line(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL",
        );
        line("log.dirs", &data);
        // Our transport creates its topics explicitly; a typo must not create one.
        line("auto.create.topics.enable", "false");
        line("delete.topic.enable", "true");
        line("num.partitions", "1");
        line("default.replication.factor", "1");
        line("min.insync.replicas", "1");
        line("offsets.topic.replication.factor", "1");
        line("offsets.topic.num.partitions", "1");
        line("transaction.state.log.replication.factor", "1");
        line("transaction.state.log.min.isr", "1");
        line("transaction.state.log.num.partitions", "1");
        line("share.coordinator.state.topic.replication.factor", "1");
        line("share.coordinator.state.topic.min.isr", "1");
        line("group.initial.rebalance.delay.ms", "0");
        line("num.network.threads", "2");
        line("num.io.threads", "4");
        line("log.cleaner.dedupe.buffer.size", "33554432");
        line("sasl.enabled.mechanisms", &SASL_MECHANISMS.join(","));
        line(
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            &format!("org.apache.kafka.common.security.plain.PlainLoginModule required{users};"),
        );
        for m in ["scram-sha-256", "scram-sha-512"] {
            line(
                &format!("listener.name.sasl_plaintext.{m}.sasl.jaas.config"),
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            );
        }
        line("ssl.keystore.type", "PEM");
        line("ssl.keystore.certificate.chain", &cert);
        line("ssl.keystore.key", &key);
        line("ssl.truststore.type", "PEM");
        line("ssl.truststore.certificates", &ca);
        line("ssl.client.auth", "none");
        line("listener.name.mtls.ssl.client.auth", "required");
        Ok(format!(
            "# Written by kafclaw-testkit on every start of this broker; edits are overwritten.\n{p}"
        ))
    }

    fn write_state_files(&self, pid: u32) -> Result<()> {
        let l = self.listeners();
        let tls = self.tls_files();
        let runtime_dir = self.cache_dir.join(format!("kafka-{KAFKA_VERSION}"));
        let s = |v: &str| json_string(v);
        let p = |v: &Path| json_string(&v.display().to_string());
        let users: Vec<String> = SASL_USERS
            .iter()
            .map(|u| {
                format!(
                    "{{\"name\": {}, \"password\": {}}}",
                    s(u.name),
                    s(u.password)
                )
            })
            .collect();
        let mechanisms: Vec<String> = SASL_MECHANISMS.iter().map(|m| s(m)).collect();
        let json = format!(
            r#"{{
  "kafka_version": {version},
  "pid": {pid},
  "port": {port},
  "dir": {dir},
  "bootstrap": {bootstrap},
  "listeners": {{
    "plaintext": {plaintext},
    "controller": {controller},
    "sasl_plaintext": {sasl},
    "ssl": {ssl},
    "mtls": {mtls}
  }},
  "sasl": {{
    "mechanisms": [{mechanisms}],
    "users": [{users}]
  }},
  "tls": {{
    "ca_cert": {ca},
    "ca_key": {ca_key},
    "server_cert": {server_cert},
    "server_key": {server_key},
    "client_cert": {client_cert},
    "client_key": {client_key}
  }},
  "files": {{
    "properties": {props},
    "log": {log},
    "env": {env},
    "pid": {pidfile},
    "classpath": {classpath}
  }}
}}
"#,
            version = s(KAFKA_VERSION),
            port = self.port,
            dir = p(&self.dir),
            bootstrap = s(&l.plaintext),
            plaintext = s(&l.plaintext),
            controller = s(&l.controller),
            sasl = s(&l.sasl_plaintext),
            ssl = s(&l.ssl),
            mtls = s(&l.mtls),
            mechanisms = mechanisms.join(", "),
            users = users.join(", "),
            ca = p(&tls.ca_cert),
            ca_key = p(&tls.ca_key),
            server_cert = p(&tls.server_cert),
            server_key = p(&tls.server_key),
            client_cert = p(&tls.client_cert),
            client_key = p(&tls.client_key),
            props = p(&self.properties_path()),
            log = p(&self.log_path()),
            env = p(&self.env_file_path()),
            pidfile = p(&self.pid_path()),
            classpath = p(&runtime_dir.join("classpath.txt")),
        );
        let json_path = self.state_json_path();
        write_atomically(&json_path, &json)?;
        let mut env =
            String::from("# KafClaw test broker; load with: set -a; . ./broker.env; set +a\n");
        for (k, v) in self.env_vars() {
            let _ = writeln!(env, "{k}={}", shell_quote(&v));
        }
        write_atomically(&self.env_file_path(), &env)
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))
}

/// Whether `pid` is a live process (a zombie counts as dead).
pub(crate) fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => match stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
        {
            Some(state) => !matches!(state, 'Z' | 'X'),
            None => true,
        },
        Err(_) if Path::new("/proc/self").exists() => false,
        Err(_) => Command::new("kill")
            .args(["-s", "0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

/// Sends a signal with kill(1): std has no signal API and the workspace forbids `unsafe`.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A KRaft cluster id: 16 random bytes in unpadded URL-safe base64 (22 characters).
fn new_cluster_id() -> String {
    let mut bytes = Vec::with_capacity(16);
    for _ in 0..2 {
        let hex = random_suffix();
        for i in 0..8 {
            bytes.push(u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0));
        }
    }
    base64_url(&bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=n {
            out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A PEM text as one properties value: Kafka accepts the lines joined by spaces.
fn pem_value(pem: &str) -> String {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Escapes a Java properties value.
fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
}

fn json_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn shell_quote(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:,@+-".contains(c))
    {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_must_leave_room_for_five_listeners() {
        assert!(Broker::new("/tmp/x", 0).is_err());
        assert!(Broker::new("/tmp/x", u16::MAX - 3).is_err());
        let b = Broker::new("/tmp/x", u16::MAX - 4).unwrap();
        assert_eq!(b.listeners().mtls, format!("127.0.0.1:{}", u16::MAX));
    }

    #[test]
    fn listener_layout_follows_the_plaintext_port() {
        let b = Broker::for_workspace(Path::new("/ws"), 39092).unwrap();
        assert_eq!(b.dir(), Path::new("/ws/target/kafka/39092"));
        let l = b.listeners();
        assert_eq!(
            [l.plaintext, l.controller, l.sasl_plaintext, l.ssl, l.mtls],
            [
                "127.0.0.1:39092",
                "127.0.0.1:39093",
                "127.0.0.1:39094",
                "127.0.0.1:39095",
                "127.0.0.1:39096"
            ]
        );
    }

    #[test]
    fn properties_configure_all_listeners_users_and_tls() {
        let tmp = tempfile::tempdir().unwrap();
        let b = Broker::new(tmp.path(), 40000).unwrap();
        let tls = b.tls_files();
        tls.ensure().unwrap();
        let props = b.render_properties(&tls).unwrap();
        let get = |key: &str| {
            props
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_else(|| panic!("{key} missing in\n{props}"))
                .to_owned()
        };
        assert_eq!(get("controller.quorum.voters"), "1@127.0.0.1:40001");
        assert!(get("listeners").contains("MTLS://127.0.0.1:40004"));
        assert!(!get("advertised.listeners").contains("CONTROLLER"));
        assert_eq!(get("auto.create.topics.enable"), "false");
        assert_eq!(get("listener.name.mtls.ssl.client.auth"), "required");
        let jaas = get("listener.name.sasl_plaintext.plain.sasl.jaas.config");
        assert!(jaas.contains("user_kafclaw=\"kafclaw-secret\""), "{jaas}");
        assert!(
            jaas.contains("user_kafclaw-peer=\"kafclaw-peer-secret\""),
            "{jaas}"
        );
        let key = get("ssl.keystore.key");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY----- "), "{key}");
        assert!(!key.contains('\n'));
        // Every line is a key=value pair or a comment: PEM text did not leak onto own lines.
        assert!(props.lines().all(|l| l.starts_with('#') || l.contains('=')));
    }

    #[test]
    fn cluster_ids_are_22_url_safe_base64_characters() {
        let a = new_cluster_id();
        assert_eq!(a.len(), 22, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, new_cluster_id());
        // Known vector: RFC 4648 "foobar" is Zm9vYmFy, "fo" is Zm8 unpadded.
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn env_values_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_quote("127.0.0.1:9092"), "127.0.0.1:9092");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_our_broker() {
        let tmp = tempfile::tempdir().unwrap();
        let b = Broker::new(tmp.path(), 40010).unwrap();
        assert_eq!(b.pid(), None, "no pid file");
        // Our own process is alive but is not a Kafka broker of this directory.
        std::fs::write(b.pid_path(), std::process::id().to_string()).unwrap();
        assert!(process_alive(std::process::id()));
        assert_eq!(b.pid(), None);
        assert_eq!(b.stop().unwrap(), StopOutcome::NotRunning);
        assert!(!b.pid_path().exists(), "stale pid file removed");
    }

    #[test]
    fn status_of_a_closed_port_is_an_error() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let b = Broker::new("/nonexistent", port.min(u16::MAX - 4)).unwrap();
        assert!(b.status().is_err());
    }
}
