//! The crate's error type, and [`Refusal`]: a tool call that was understood but
//! refused for a stated reason.

use std::fmt;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which rule refused a tool call. Stable snake_case names (see [`RefusalRule::as_str`])
/// are meant for the policy-decision log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalRule {
    /// The path leads outside the configured roots (absolute path, `..`, symlink).
    PathEscape,
    /// The path text itself is refused (NUL, control characters, `~`, backslash,
    /// percent-encoding, Unicode look-alikes of dots and slashes, empty).
    PathSyntax,
    /// The path is inside a root but protected (writes into `.git`, the root itself).
    ProtectedPath,
    /// The path exists but has the wrong type (a directory where a file is needed, a FIFO).
    NotRegularFile,
    /// `edit_file`: the old text occurs more than once.
    AmbiguousMatch,
    /// `edit_file`: the old text does not occur.
    NoMatch,
    /// Content or output beyond the configured size cap.
    TooLarge,
    /// Shell syntax that would need a shell (separators, pipes, redirections,
    /// substitutions, globs, newlines, unbalanced quotes).
    ShellSyntax,
    /// The program is not on the allow-list.
    ProgramNotAllowed,
    /// A deny pattern of the seeds (destructive commands) matched.
    DeniedPattern,
    /// An argument or option of an allowed program is refused.
    DangerousArgument,
    /// The URL scheme, credentials or host form is refused.
    UrlRefused,
    /// The destination address is loopback, private, link-local, metadata, etc.
    AddressBlocked,
    /// More redirects than allowed.
    TooManyRedirects,
}

impl RefusalRule {
    /// A stable identifier, e.g. `path_escape`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PathEscape => "path_escape",
            Self::PathSyntax => "path_syntax",
            Self::ProtectedPath => "protected_path",
            Self::NotRegularFile => "not_regular_file",
            Self::AmbiguousMatch => "ambiguous_match",
            Self::NoMatch => "no_match",
            Self::TooLarge => "too_large",
            Self::ShellSyntax => "shell_syntax",
            Self::ProgramNotAllowed => "program_not_allowed",
            Self::DeniedPattern => "denied_pattern",
            Self::DangerousArgument => "dangerous_argument",
            Self::UrlRefused => "url_refused",
            Self::AddressBlocked => "address_blocked",
            Self::TooManyRedirects => "too_many_redirects",
        }
    }
}

impl fmt::Display for RefusalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused tool call: which rule, and a reason naming what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that refused.
    pub rule: RefusalRule,
    /// Human-readable reason; always names the refused path, program, argument or address.
    pub reason: String,
}

impl Refusal {
    pub(crate) fn new(rule: RefusalRule, reason: impl Into<String>) -> Self {
        Self {
            rule,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.rule)
    }
}

impl std::error::Error for Refusal {}

/// Errors of the tool registry and the built-in tools.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No tool of that name is registered.
    #[error("unknown tool `{name}`")]
    UnknownTool {
        /// The requested name.
        name: String,
    },
    /// The arguments do not match the tool's parameter schema.
    #[error("tool `{tool}`: argument `{argument}`: {problem}")]
    InvalidArgument {
        /// Tool name.
        tool: String,
        /// The argument (JSON path such as `path` or `items[2]`; `(arguments)` for the whole object).
        argument: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The call was understood and refused by a safety rule.
    #[error("tool `{tool}` refused: {refusal}")]
    Refused {
        /// Tool name.
        tool: String,
        /// Which rule and why.
        refusal: Refusal,
    },
    /// A filesystem operation failed (not found, permission, ...).
    #[error("tool `{tool}`: `{path}`: {source}")]
    Io {
        /// Tool name.
        tool: String,
        /// The path as given by the caller.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `exec`: the program could not be started.
    #[error("tool `{tool}`: cannot run `{program}`: {problem}")]
    Spawn {
        /// Tool name.
        tool: String,
        /// The program name.
        program: String,
        /// Why.
        problem: String,
    },
    /// `web_fetch`: the request failed (connection, TLS, timeout, bad response).
    #[error("tool `{tool}`: fetching {url} failed: {problem}")]
    Fetch {
        /// Tool name.
        tool: String,
        /// The URL being fetched.
        url: String,
        /// Why.
        problem: String,
    },
    /// A tool definition is malformed (bad name, unsupported schema keyword, duplicate).
    #[error("tool definition `{name}`: {problem}")]
    InvalidTool {
        /// Tool name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The tools configuration is invalid (missing root, bad CIDR, ...).
    #[error("tools config `{key}`: {problem}")]
    Config {
        /// The config key, e.g. `roots[0].path` or `webFetch.allowCidrs[1]`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
    /// The refusal, when this error is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    pub(crate) fn refused(tool: &str, refusal: Refusal) -> Self {
        Self::Refused {
            tool: tool.to_owned(),
            refusal,
        }
    }
}
