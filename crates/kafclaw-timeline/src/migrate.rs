//! The schema migrations, embedded in the binary and applied with sqlx's migrator
//! (which keeps versions and checksums in `_sqlx_migrations`).

use std::path::Path;

use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::sqlite::SqlitePool;

use crate::{Error, Result};

/// (version, description, SQL). Append only: never edit a migration that has shipped,
/// add a new one instead (the checksum check refuses edited ones).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/0001_core.sql")),
    (2, "group", include_str!("../migrations/0002_group.sql")),
    (
        3,
        "group admissions",
        include_str!("../migrations/0003_group_admissions.sql"),
    ),
    (
        4,
        "orchestrator",
        include_str!("../migrations/0004_orchestrator.sql"),
    ),
    (
        5,
        "group open tasks",
        include_str!("../migrations/0005_group_open_tasks.sql"),
    ),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 5;

fn migrator(up_to: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|(v, _, _)| *v <= up_to)
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                (*description).into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Applies every embedded migration up to `up_to` that the file lacks, after checking
/// the checksums of those already applied.
pub(crate) async fn run(pool: &SqlitePool, path: &Path, up_to: i64) -> Result<()> {
    migrator(up_to).run(pool).await.map_err(|e| match e {
        MigrateError::VersionMissing(version) => Error::SchemaTooNew {
            path: path.to_owned(),
            version,
        },
        MigrateError::VersionMismatch(version) => Error::MigrationModified {
            path: path.to_owned(),
            version,
        },
        other => Error::Migrate {
            path: path.to_owned(),
            source: Box::new(other),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_schema_version_is_the_last() {
        for (i, (v, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(SCHEMA_VERSION));
    }
}
