//! The crate's error type: every failure names the field, name or topic that was wrong.

/// Everything that can go wrong while decoding, validating names or encoding.
///
/// Paths are JSON pointers into the record (`/payload/identity/agent_id`); the
/// empty path means the record as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record is not JSON at all (or not UTF-8, or nested deeper than 128 levels).
    #[error("record is not valid JSON at line {line}, column {column}: {reason}")]
    NotJson {
        /// 1-based line of the offending byte (0 when the input is empty).
        line: usize,
        /// 1-based column of the offending byte.
        column: usize,
        /// What the JSON parser expected.
        reason: String,
    },
    /// The record is JSON but a field has a value a Go agent would refuse to decode
    /// (for example a number where a string belongs, or a malformed timestamp).
    #[error("{path}: {reason}")]
    InvalidField {
        /// JSON pointer of the offending field.
        path: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A KafScale LFS pointer record (`kfs_lfs`) that cannot be resolved.
    #[error("invalid LFS pointer record: {path}: {reason}")]
    InvalidLfsPointer {
        /// JSON pointer of the offending field.
        path: String,
        /// Why the pointer is refused.
        reason: String,
    },
    /// A knowledge envelope that breaks the knowledge protocol's rules.
    #[error("invalid knowledge envelope: {path}: {reason}")]
    InvalidKnowledge {
        /// JSON pointer of the offending field.
        path: String,
        /// The rule that was broken.
        reason: String,
    },
    /// A group, skill or knowledge-group name that cannot be used in a topic name.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `group`, `skill` or `knowledge group`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A topic name that is not one of KafClaw's topics.
    #[error("topic {topic:?} is not a KafClaw topic: {reason}")]
    InvalidTopic {
        /// The topic name as given.
        topic: String,
        /// Why it was not recognised.
        reason: String,
    },
    /// A timestamp string that is not RFC 3339.
    #[error("invalid timestamp {value:?}: {reason}")]
    InvalidTimestamp {
        /// The text as given (shortened when long).
        value: String,
        /// Which part is wrong.
        reason: String,
    },
    /// A value could not be encoded as JSON.
    #[error("cannot encode {what} as JSON: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's reason.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Turns a `serde_json` parse error into [`Error::NotJson`] with its position.
    pub(crate) fn not_json(err: &serde_json::Error) -> Self {
        let text = err.to_string();
        // serde_json appends " at line L column C"; keep only the reason.
        let reason = match text.rfind(" at line ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        };
        Error::NotJson {
            line: err.line(),
            column: err.column(),
            reason,
        }
    }

    pub(crate) fn field(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Shortens `text` for an error message: at most `max` characters, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
