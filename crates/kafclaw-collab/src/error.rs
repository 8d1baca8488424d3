//! The crate's error type.

/// Errors of kafclaw-collab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command skill's configuration cannot be used.
    #[error("group.commandSkills.{skill}: {reason}")]
    CommandSkill {
        /// The skill name.
        skill: String,
        /// What is wrong.
        reason: String,
    },
    /// The exec sandbox configuration the command skills share cannot be used.
    #[error("tools.exec.{key}: {reason}")]
    ExecConfig {
        /// The key under `tools.exec`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A late-bound part (the agent runtime or the group agent) was bound twice.
    #[error("the {what} is already bound to this collaboration hub")]
    AlreadyBound {
        /// `agent runtime` or `group agent`.
        what: &'static str,
    },
    /// Registering the group tools failed.
    #[error("cannot register the group tools: {0}")]
    Tools(#[from] kafclaw_tools::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
