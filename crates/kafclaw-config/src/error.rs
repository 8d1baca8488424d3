//! The crate's error type: every variant names where the bad value came from and which key it is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The config file at this path.
    File(PathBuf),
    /// An environment variable, with the value it had (secrets are masked).
    Env {
        /// The variable's name, e.g. `KAFCLAW_GATEWAY_PORT`.
        var: String,
        /// Its value as given (masked when the key holds a secret).
        value: String,
    },
    /// A value given directly, e.g. on the `kafclaw config set` command line.
    Direct,
}

impl Origin {
    fn prefix(&self) -> String {
        match self {
            Origin::File(path) => format!("{}: ", path.display()),
            Origin::Env { var, value } => format!("{var}={value}: "),
            Origin::Direct => String::new(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env { var, value } => write!(f, "{var}={value}"),
            Origin::Direct => f.write_str("the given value"),
        }
    }
}

/// Everything that can go wrong while loading, checking or editing the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What we tried to do ("read", "write", "create directory", ...).
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The config file is not valid JSON, or its top level is not an object.
    #[error("{}: not valid JSON (line {line}, column {column}): {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A key that is not part of the configuration tree.
    #[error("{}unknown key \"{key}\"", origin.prefix())]
    UnknownKey {
        /// Where the key was found.
        origin: Origin,
        /// The dotted path of the key, e.g. `group.kafkaBrokerz`.
        key: String,
    },
    /// A value of the wrong type or shape.
    #[error("{}{key}: expected {expected}, got {got}", origin.prefix())]
    WrongType {
        /// Where the value came from.
        origin: Origin,
        /// The dotted path of the key.
        key: String,
        /// What the key accepts, e.g. `an integer`.
        expected: String,
        /// What was found, e.g. `"fast"`.
        got: String,
    },
    /// A value of the right type that breaks a rule (range, allowed values, format).
    #[error("{}{key}: {reason}", origin.prefix())]
    Invalid {
        /// Where the value came from.
        origin: Origin,
        /// The dotted path of the key.
        key: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// Neither `HOME` nor `KAFCLAW_HOME` is set, so there is nowhere to keep state.
    #[error("cannot find the home directory: set HOME or KAFCLAW_HOME")]
    NoHomeDirectory,
}

impl Error {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::UnknownKey { key, .. }
            | Error::WrongType { key, .. }
            | Error::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Where the offending value came from, when the error is about a value.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Error::UnknownKey { origin, .. }
            | Error::WrongType { origin, .. }
            | Error::Invalid { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// The same error, attributed to another origin.
    pub(crate) fn with_origin(self, new: Origin) -> Self {
        match self {
            Error::UnknownKey { key, .. } => Error::UnknownKey { origin: new, key },
            Error::WrongType {
                key, expected, got, ..
            } => Error::WrongType {
                origin: new,
                key,
                expected,
                got,
            },
            Error::Invalid { key, reason, .. } => Error::Invalid {
                origin: new,
                key,
                reason,
            },
            other => other,
        }
    }

    /// The same error with its key rewritten (used to report legacy key names).
    pub(crate) fn map_key(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Error::UnknownKey { origin, key } => Error::UnknownKey {
                origin,
                key: f(key),
            },
            Error::WrongType {
                origin,
                key,
                expected,
                got,
            } => Error::WrongType {
                origin,
                key: f(key),
                expected,
                got,
            },
            Error::Invalid {
                origin,
                key,
                reason,
            } => Error::Invalid {
                origin,
                key: f(key),
                reason,
            },
            other => other,
        }
    }
}
