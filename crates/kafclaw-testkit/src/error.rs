//! The one error type of the testkit.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Result with the testkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while managing or probing the test broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What we were doing ("write", "create directory", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A program could not be started at all (usually: not installed).
    #[error("could not run `{program}` ({hint}): {source}")]
    Spawn {
        /// The program, e.g. `java` or `mvn`.
        program: String,
        /// What the user can do about it.
        hint: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A helper command ran but failed.
    #[error("{what} failed ({status}); its output ends with:\n{output_tail}")]
    Command {
        /// What the command was for.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its output.
        output_tail: String,
    },

    /// The cached Kafka classpath names a file that is gone.
    #[error("the Kafka classpath in {} is unusable: {reason}", path.display())]
    Classpath {
        /// The classpath file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A port the broker needs is taken by something else.
    #[error(
        "port {port} (needed for the {listener} listener) is in use by a process that {dir} did not start",
        dir = dir.display()
    )]
    PortInUse {
        /// The port.
        port: u16,
        /// Which listener wanted it.
        listener: &'static str,
        /// The broker directory whose broker is not running.
        dir: PathBuf,
    },

    /// The broker process exited while starting.
    #[error(
        "the Kafka broker on port {port} exited during start ({status}); log {}:\n{log_tail}",
        log.display()
    )]
    BrokerExited {
        /// PLAINTEXT port.
        port: u16,
        /// How it exited, as far as known.
        status: String,
        /// The broker log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// The broker did not answer a metadata request in time.
    #[error(
        "the Kafka broker on port {port} did not answer a metadata request within {waited:?} (last error: {last_error}); log {}:\n{log_tail}",
        log.display()
    )]
    StartTimeout {
        /// PLAINTEXT port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The last probe error.
        last_error: String,
        /// The broker log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// The broker did not go away after SIGTERM and SIGKILL.
    #[error("the Kafka broker (pid {pid}) on port {port} did not stop: {reason}")]
    StopFailed {
        /// The broker's process id.
        pid: u32,
        /// PLAINTEXT port.
        port: u16,
        /// What still was the case at the deadline.
        reason: String,
    },

    /// Connecting to a listener failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Talking to a listener failed below the Kafka protocol (reset, timeout, TLS alert).
    #[error("{api} request to {addr}: {source}")]
    Transport {
        /// The Kafka API being called.
        api: &'static str,
        /// host:port.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The broker answered something we could not decode.
    #[error("malformed {api} response from {addr}: {detail}")]
    Protocol {
        /// The Kafka API being called.
        api: &'static str,
        /// host:port.
        addr: String,
        /// What was wrong.
        detail: String,
    },

    /// The broker answered with a Kafka error code.
    #[error("{api} request to {addr} failed with Kafka error {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// The Kafka API being called.
        api: &'static str,
        /// host:port.
        addr: String,
        /// The Kafka error code (e.g. 58 for SASL_AUTHENTICATION_FAILED).
        code: i16,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },

    /// Generating the test certificates failed.
    #[error("generate the test TLS certificates in {}: {detail}", dir.display())]
    Certificates {
        /// The tls directory.
        dir: PathBuf,
        /// What failed.
        detail: String,
    },

    /// An environment variable has a value we cannot use.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is unusable.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
