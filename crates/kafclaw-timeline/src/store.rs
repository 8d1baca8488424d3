//! Opening the database: file creation with owner-only permissions, connection
//! settings, migrations, and recovery of tasks a crash left in `processing`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::Transaction;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::db;
use crate::tasks::{self, Task};
use crate::{Error, Result, migrate};

/// How to open a [`Timeline`].
#[derive(Debug, Clone)]
pub struct TimelineOptions {
    path: PathBuf,
    max_connections: u32,
    busy_timeout: Duration,
    max_task_attempts: u32,
    recover_tasks: bool,
}

impl TimelineOptions {
    /// Options for the database at `path` (created if missing), with defaults:
    /// 8 connections, 10 s busy timeout, 3 attempts per task.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
            max_task_attempts: 3,
            recover_tasks: false,
        }
    }

    /// Size of the connection pool (at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a writer waits for the write lock before failing with "database is locked".
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many times a task may be started before a crash-interrupted run marks it
    /// failed instead of pending again (at least 1).
    pub fn max_task_attempts(mut self, n: u32) -> Self {
        self.max_task_attempts = n.max(1);
        self
    }

    /// Recover tasks a crash left in `processing` while opening (default: no). Only the
    /// process that runs the agent's queue may do this: a read-only command (status,
    /// doctor) opened beside a running agent must not re-queue that agent's running tasks.
    /// See also [`Timeline::recover_interrupted`].
    pub fn recover_tasks(mut self, yes: bool) -> Self {
        self.recover_tasks = yes;
        self
    }
}

/// What [`Timeline::open`] did with tasks that a crash left in `processing`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Moved back to `pending`; the agent should queue them again.
    pub requeued: Vec<Task>,
    /// Had used up their attempts; now `failed` with error "interrupted by restart".
    pub failed: Vec<Task>,
}

/// The local SQLite state of one agent. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Timeline {
    pub(crate) pool: SqlitePool,
    path: PathBuf,
    recovery: std::sync::Arc<Recovery>,
    max_task_attempts: u32,
}

impl Timeline {
    /// Opens (creating if needed) the database at `path` with default options.
    pub async fn open_path(path: impl Into<PathBuf>) -> Result<Self> {
        Self::open(TimelineOptions::new(path)).await
    }

    /// Opens the database: creates the directory and the file (mode 0600 on Unix),
    /// connects with WAL, synchronous NORMAL, the busy timeout and foreign keys, applies
    /// the embedded migrations, and recovers interrupted tasks (see [`Self::recovery`]).
    pub async fn open(options: TimelineOptions) -> Result<Self> {
        Self::open_at_version(options, migrate::SCHEMA_VERSION).await
    }

    pub(crate) async fn open_at_version(options: TimelineOptions, version: i64) -> Result<Self> {
        let path = options.path.clone();
        prepare_file(&path).await?;
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true);
        // No liveness ping before each checkout: for an in-process SQLite connection it
        // tests nothing a statement would not, and it costs a round trip to the
        // connection's worker thread on every query (a dead worker still surfaces as an
        // error on the statement itself).
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|e| Error::Open {
                path: path.clone(),
                source: Box::new(e),
            })?;
        if let Err(e) = migrate::run(&pool, &path, version).await {
            pool.close().await;
            return Err(e);
        }
        let mut tl = Self {
            pool,
            path,
            recovery: Default::default(),
            max_task_attempts: options.max_task_attempts,
        };
        if options.recover_tasks && version == migrate::SCHEMA_VERSION {
            let recovery = tl.recover_tasks(options.max_task_attempts).await?;
            if !recovery.requeued.is_empty() || !recovery.failed.is_empty() {
                tracing::warn!(
                    path = %tl.path.display(),
                    requeued = recovery.requeued.len(),
                    failed = recovery.failed.len(),
                    "recovered tasks interrupted by a restart"
                );
            }
            tl.recovery = std::sync::Arc::new(recovery);
        }
        Ok(tl)
    }

    async fn recover_tasks(&self, max_attempts: u32) -> Result<Recovery> {
        let mut tx = self.write_tx("recovering interrupted tasks").await?;
        let (requeued, failed) =
            tasks::recover_processing(&mut tx, i64::from(max_attempts)).await?;
        tx.commit().await.map_err(db("committing task recovery"))?;
        Ok(Recovery { requeued, failed })
    }

    /// Puts tasks a crash left in `processing` back to `pending`, or marks them failed
    /// ("interrupted by restart") once they used up their attempts. Call it once, from the
    /// process that runs the agent's queue, before it starts working.
    pub async fn recover_interrupted(&self) -> Result<Recovery> {
        let recovery = self.recover_tasks(self.max_task_attempts).await?;
        if !recovery.requeued.is_empty() || !recovery.failed.is_empty() {
            tracing::warn!(
                path = %self.path.display(),
                requeued = recovery.requeued.len(),
                failed = recovery.failed.len(),
                "recovered tasks interrupted by a restart"
            );
        }
        Ok(recovery)
    }

    /// Tasks recovered when this handle was opened (with
    /// [`TimelineOptions::recover_tasks`]; empty otherwise).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database (the highest applied migration).
    pub async fn schema_version(&self) -> Result<i64> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map(|v| v.unwrap_or(0))
        .map_err(db("reading the schema version"))
    }

    /// Closes every connection; waits for those in use to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction that takes the write lock up front (`BEGIN IMMEDIATE`), so
    /// read-then-write sequences wait on the busy timeout instead of failing.
    pub(crate) async fn write_tx(&self, op: &'static str) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(op))
    }
}

/// Creates the parent directory and an empty database file readable by the owner only.
async fn prepare_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir).await.map_err(|source| Error::Dir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut open = tokio::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    open.mode(0o600);
    match open.open(path).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::CreateFile {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewTask, SCHEMA_VERSION, TaskStatus};
    use kafclaw_policy::TrustClass;

    async fn table_exists(tl: &Timeline, name: &str) -> bool {
        sqlx::query_scalar::<_, String>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(name)
        .fetch_optional(&tl.pool)
        .await
        .unwrap()
        .is_some()
    }

    #[tokio::test]
    async fn a_version_1_database_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");

        // What an older build (schema 1) left behind: a finished and an interrupted task.
        let old = Timeline::open_at_version(TimelineOptions::new(&path), 1)
            .await
            .unwrap();
        assert_eq!(old.schema_version().await.unwrap(), 1);
        assert!(!table_exists(&old, "consumer_offsets").await);
        let done = old
            .create_task(NewTask::new("cli", "me", TrustClass::Owner, "hello"))
            .await
            .unwrap()
            .task;
        old.start_task(&done.task_id).await.unwrap();
        old.complete_task(&done.task_id, "hi").await.unwrap();
        let running = old
            .create_task(NewTask::new("cli", "me", TrustClass::Owner, "long job"))
            .await
            .unwrap()
            .task;
        old.start_task(&running.task_id).await.unwrap();
        old.close().await;

        let tl = Timeline::open(TimelineOptions::new(&path).recover_tasks(true))
            .await
            .unwrap();
        assert_eq!(tl.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert!(table_exists(&tl, "consumer_offsets").await);
        let kept = tl.get_task(&done.task_id).await.unwrap().unwrap();
        assert_eq!(kept.status, TaskStatus::Completed);
        assert_eq!(kept.content_out.as_deref(), Some("hi"));
        assert_eq!(tl.recovery().requeued.len(), 1);
        assert_eq!(tl.recovery().requeued[0].task_id, running.task_id);
        // The new tables work.
        tl.set_offset("agent", "topic", 0, 7).await.unwrap();
        assert_eq!(tl.load_offsets("agent", "topic").await.unwrap()[&0], 7);
    }

    #[tokio::test]
    async fn an_edited_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let tl = Timeline::open_path(&path).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1")
            .execute(&tl.pool)
            .await
            .unwrap();
        tl.close().await;
        let err = Timeline::open_path(&path).await.unwrap_err();
        assert!(
            matches!(&err, Error::MigrationModified { version: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[tokio::test]
    async fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let tl = Timeline::open_path(&path).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'future', 1, X'00', 0)",
        )
        .execute(&tl.pool)
        .await
        .unwrap();
        tl.close().await;
        let err = Timeline::open_path(&path).await.unwrap_err();
        assert!(
            matches!(&err, Error::SchemaTooNew { version: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("t.db"), "{err}");
    }

    #[tokio::test]
    async fn connections_use_wal_normal_sync_busy_timeout_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::open(
            TimelineOptions::new(dir.path().join("t.db")).busy_timeout(Duration::from_millis(7500)),
        )
        .await
        .unwrap();
        // Check several pooled connections, not just one.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(tl.pool.acquire().await.unwrap());
        }
        for c in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **c)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **c)
                .await
                .unwrap();
            assert_eq!(sync, 1, "synchronous NORMAL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut **c)
                .await
                .unwrap();
            assert_eq!(fk, 1);
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut **c)
                .await
                .unwrap();
            assert_eq!(busy, 7500);
        }
    }
}
