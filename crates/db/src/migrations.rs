//! The embedded migrations of each backend: applied at start-up and by `api migrate`.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::lane::establish;
use crate::{AnyConnection, Backend, DatabaseUrl, DbError, Pooler};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

fn migration_err(backend: Backend) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> DbError {
    move |e| DbError::Migration {
        backend,
        message: e.to_string(),
    }
}

/// Applies every pending migration of the backend `conn` speaks; returns how many ran.
pub(crate) fn run_pending(conn: &mut AnyConnection) -> Result<usize, DbError> {
    match conn {
        AnyConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        AnyConnection::Mysql(c) => c.run_pending_migrations(MYSQL_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(migration_err(backend_of(conn)))
}

fn backend_of(conn: &AnyConnection) -> Backend {
    match conn {
        AnyConnection::Postgresql(_) => Backend::Postgres,
        AnyConnection::Mysql(_) => Backend::Mysql,
        AnyConnection::Sqlite(_) => Backend::Sqlite,
    }
}

/// Connects to `url` (through `pooler`) and applies the pending migrations: what
/// `api migrate` does.
pub fn migrate(url: &DatabaseUrl, pooler: Pooler) -> Result<usize, DbError> {
    let mut conn = establish(url, pooler)?;
    let n = run_pending(&mut conn)?;
    tracing::info!(backend = %url.backend(), applied = n, "migrations up to date");
    Ok(n)
}

/// The names of the migrations embedded in this build for `backend`, oldest first (the
/// folder names under `migrations/<backend>/`).
pub fn embedded_migrations(backend: Backend) -> Result<Vec<String>, DbError> {
    fn names<DB: diesel::backend::Backend>(
        source: EmbeddedMigrations,
    ) -> diesel::migration::Result<Vec<String>> {
        let list = diesel::migration::MigrationSource::<DB>::migrations(&source)?;
        Ok(list.iter().map(|m| m.name().to_string()).collect())
    }
    match backend {
        Backend::Postgres => names::<diesel::pg::Pg>(POSTGRES_MIGRATIONS),
        Backend::Mysql => names::<diesel::mysql::Mysql>(MYSQL_MIGRATIONS),
        Backend::Sqlite => names::<diesel::sqlite::Sqlite>(SQLITE_MIGRATIONS),
    }
    .map_err(migration_err(backend))
}

/// Reverts every applied migration (tests use it to prove each `down.sql` works).
pub fn revert_all(url: &DatabaseUrl) -> Result<usize, DbError> {
    let mut conn = establish(url, Pooler::Direct)?;
    let backend = url.backend();
    match &mut conn {
        AnyConnection::Postgresql(c) => c
            .revert_all_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        AnyConnection::Mysql(c) => c.revert_all_migrations(MYSQL_MIGRATIONS).map(|v| v.len()),
        AnyConnection::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(migration_err(backend))
}
