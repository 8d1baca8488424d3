//! The crate's error type.

use std::path::PathBuf;

use crate::{ApprovalStatus, TaskStatus};

/// A boxed third-party error (sqlx), kept out of the public API's types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the timeline store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory that should hold the database could not be created or inspected.
    #[error("cannot prepare database directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be created with owner-only permissions.
    #[error("cannot create database file {path}: {source}")]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused to open the file.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// Applying the embedded schema migrations failed.
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The migrator's error.
        #[source]
        source: BoxError,
    },
    /// The file records a schema version this build does not contain.
    #[error(
        "database {path} has schema migration {version} applied, which this build does not know; it was written by a newer kafclaw"
    )]
    SchemaTooNew {
        /// The file.
        path: PathBuf,
        /// The unknown version.
        version: i64,
    },
    /// An applied migration's checksum differs from the embedded one.
    #[error(
        "database {path}: schema migration {version} was applied with different SQL than this build embeds (checksum mismatch)"
    )]
    MigrationModified {
        /// The file.
        path: PathBuf,
        /// The migration version.
        version: i64,
    },
    /// A query failed.
    #[error("database error while {op}: {source}")]
    Db {
        /// What we were doing (e.g. "creating a task").
        op: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// No task has this id.
    #[error("task {task_id} not found")]
    TaskNotFound {
        /// The id asked for.
        task_id: String,
    },
    /// The task is not in a state from which this change is allowed.
    #[error("task {task_id} cannot move from {from} to {to}")]
    InvalidTransition {
        /// The task.
        task_id: String,
        /// Its current status.
        from: TaskStatus,
        /// The requested status.
        to: TaskStatus,
    },
    /// No approval request has this id.
    #[error("approval request {approval_id} not found")]
    ApprovalNotFound {
        /// The id asked for.
        approval_id: String,
    },
    /// The approval request was already decided or expired.
    #[error("approval request {approval_id} is already {status}")]
    ApprovalNotPending {
        /// The request.
        approval_id: String,
        /// Its current status.
        status: ApprovalStatus,
    },
    /// The settings key is not one of the known keys.
    #[error("unknown setting {key:?}; known settings are: {known}")]
    UnknownSetting {
        /// The key given.
        key: String,
        /// Comma-separated list of the known keys.
        known: String,
    },
    /// The value does not fit the setting.
    #[error("invalid value for setting {key}: {reason}")]
    InvalidSetting {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An argument was out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument or field (e.g. `offset`, `metadata`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A stored value could not be decoded.
    #[error("corrupt value in {table}.{column}: {reason}")]
    CorruptRow {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps a driver error to [`Error::Db`] with what we were doing.
pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::Db {
        op,
        source: Box::new(e),
    }
}
