//! The crate's error type: bad input (flags, properties files, configuration) and
//! reports that cannot be written. A failing broker is never an error: it is a
//! failed check in the [`crate::Report`].

use std::path::PathBuf;

/// Why kshark could not run or finish (usage and configuration problems).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The properties file could not be read.
    #[error("cannot read properties file {path}: {source}")]
    PropsRead {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// A line of the properties file is malformed.
    #[error("{path}:{line}: {reason}")]
    PropsSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number where the entry starts.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A setting has a value kshark cannot use.
    #[error("invalid setting {key}: {reason}")]
    Setting {
        /// The flag or properties key, e.g. `--broker` or `security.protocol`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--auto` could not load the KafClaw configuration.
    #[error("--auto: cannot load the KafClaw configuration: {0}")]
    AutoConfig(#[source] kafclaw_config::Error),
    /// A report file could not be written.
    #[error("cannot write the {kind} report to {path}: {source}")]
    WriteReport {
        /// `json` or `html`.
        kind: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Setting {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
