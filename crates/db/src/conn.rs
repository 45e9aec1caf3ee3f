use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{is_connection_loss, is_deadlock_victim};
use crate::executor::{Executor, NotRun};
use crate::{Backend, DatabaseUrl, DbError};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/mysql");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How many times [`Database::transaction`] runs a transaction that keeps being chosen as
/// a deadlock's victim before it gives the error up.
pub const TRANSACTION_ATTEMPTS: u32 = 3;

/// One connection to whichever backend `DATABASE_URL` named; every query is written once
/// against this type.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Mysql(MysqlConnection),
    Sqlite(SqliteConnection),
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// How long a request waits for a free connection before giving up with `DbError::Pool`.
    pub checkout_timeout: Duration,
}

/// The pool size when none is configured. Each connection has a thread of its own.
/// PostgreSQL and MariaDB: two per CPU, at least 4 and at most 32 (a thread waits on the
/// network for most of a query). SQLite: 10 (a read is CPU work on a local file). The
/// measurements behind both are in bench/HISTORY.md.
pub fn default_pool_size(backend: Backend) -> u32 {
    match backend {
        Backend::Sqlite => 10,
        Backend::Postgres | Backend::Mysql => {
            let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
            u32::try_from(cpus.saturating_mul(2))
                .unwrap_or(u32::MAX)
                .clamp(4, 32)
        }
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: default_pool_size(Backend::Sqlite),
            checkout_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens concrete connections for r2d2. The derived `AnyConnection::establish` tries every
/// backend in turn and hides the real error; this opens exactly the one the URL names.
#[derive(Debug)]
struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        establish(&self.url).map_err(|e| match e {
            DbError::Connect { source, .. } => r2d2::Error::ConnectionError(source),
            DbError::Query(q) => r2d2::Error::QueryError(q),
            other => r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
                other.to_string(),
            )),
        })
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// Opens one connection of the named backend and applies the per-connection settings.
fn establish(url: &DatabaseUrl) -> Result<AnyConnection, DbError> {
    let connect_err = |source| DbError::Connect {
        backend: url.backend(),
        url: url.to_string(),
        source,
    };
    let mut conn = match url.backend() {
        Backend::Postgres => {
            AnyConnection::Postgresql(PgConnection::establish(url.expose()).map_err(connect_err)?)
        }
        Backend::Mysql => {
            AnyConnection::Mysql(MysqlConnection::establish(url.expose()).map_err(connect_err)?)
        }
        Backend::Sqlite => {
            create_parent_dir(url.expose())?;
            AnyConnection::Sqlite(SqliteConnection::establish(url.expose()).map_err(connect_err)?)
        }
    };
    let setup = match url.backend() {
        // Generic plans: strata's statements are index lookups whose best plan does not
        // depend on the values. A custom plan for a user whose tasks are the newest rows
        // walked the primary key instead of (user_id, id): 200x slower for 100,000 tasks.
        Backend::Postgres => "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan;",
        Backend::Mysql => {
            "SET time_zone = '+00:00'; \
             SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';"
        }
        Backend::Sqlite => {
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
             PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
        }
    };
    conn.batch_execute(setup)?;
    Ok(conn)
}

fn create_parent_dir(path: &str) -> Result<(), DbError> {
    if path.starts_with("file:") {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

fn migration_err(backend: Backend) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> DbError {
    move |e| DbError::Migration {
        backend,
        message: e.to_string(),
    }
}

/// Applies every pending migration of the backend `conn` speaks; returns how many ran.
fn run_pending(conn: &mut AnyConnection) -> Result<usize, DbError> {
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

/// Connects to `url` and applies the pending migrations: what `api migrate` does.
pub fn migrate(url: &DatabaseUrl) -> Result<usize, DbError> {
    let mut conn = establish(url)?;
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
    let mut conn = establish(url)?;
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

/// Connects with the concrete driver of `url` (so a refused port or a wrong password is
/// reported as such), runs the embedded migrations and returns the pool.
pub fn init_db(url: &DatabaseUrl, options: PoolOptions) -> Result<Database, DbError> {
    // The first connection migrates and stays open until the pool has its own: a shared
    // in-memory SQLite database lives only while some connection holds it.
    let mut first = establish(url)?;
    let applied = run_pending(&mut first)?;
    tracing::info!(backend = %url.backend(), applied, "migrations up to date");
    let max_size = if url.is_sqlite_memory() {
        1
    } else {
        options.max_size.max(1)
    };
    let reads = Lane::open(url, max_size, options.checkout_timeout, "db")?;
    // SQLite lets one connection write at a time; the others sleep in the busy handler and
    // retry, which made a write's p99 several times the floor's under load. Writes queue
    // for one connection of their own instead; reads never wait for it (WAL).
    let writes = if url.backend() == Backend::Sqlite && !url.is_sqlite_memory() {
        Some(Lane::open(url, 1, options.checkout_timeout, "db-writer")?)
    } else {
        None
    };
    drop(first);
    Ok(Database {
        reads,
        writes,
        backend: url.backend(),
        checkout_timeout: options.checkout_timeout,
    })
}

/// A pool of connections and one thread per connection to use them on.
#[derive(Clone)]
struct Lane {
    pool: Pool<Manager>,
    threads: Executor,
}

impl Lane {
    fn open(
        url: &DatabaseUrl,
        max_size: u32,
        checkout_timeout: Duration,
        name: &str,
    ) -> Result<Self, DbError> {
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(max_size.min(2)))
            .connection_timeout(checkout_timeout)
            // A `SELECT 1` before every checkout would double each query's round trips; broken
            // connections are detected from the errors they return instead (see `Database::run`).
            .test_on_check_out(false)
            .idle_timeout(if url.is_sqlite_memory() {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if url.is_sqlite_memory() {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .error_handler(Box::new(LogErrors))
            .build(Manager { url: url.clone() })?;
        let threads =
            Executor::start(max_size, name).map_err(|e| DbError::Blocking(e.to_string()))?;
        Ok(Self { pool, threads })
    }
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<r2d2::Error> for LogErrors {
    fn handle_error(&self, error: r2d2::Error) {
        tracing::warn!(error = %error, "database connection failed");
    }
}

/// The connection pool. Cheap to clone; every query runs through [`Database::run`] or
/// [`Database::write`].
#[derive(Clone)]
pub struct Database {
    /// The pool and its threads; callers wait in the threads' queue, on the async side.
    reads: Lane,
    /// SQLite's single writer (a file database); other backends write through `reads`.
    writes: Option<Lane>,
    backend: Backend,
    checkout_timeout: Duration,
}

/// A snapshot of the pool, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open.
    pub open: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// Callers waiting for a connection.
    pub waiting: u64,
    /// The most connections the pool opens.
    pub max: u32,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Which backend the pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections open, idle and waited for, right now.
    pub fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        for lane in std::iter::once(&self.reads).chain(&self.writes) {
            let s = lane.pool.state();
            stats.open += s.connections;
            stats.idle += s.idle_connections;
            stats.waiting += lane.threads.queued();
            stats.max += lane.pool.max_size();
        }
        stats
    }

    /// Runs `f` with a pooled connection on one of the database threads, never on an async
    /// worker; waits at most the checkout timeout for a thread (`DbError::Busy`). A
    /// connection whose error shows it is dead is marked broken, so the pool drops it
    /// instead of handing it out again.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.run_on(&self.reads, f).await
    }

    /// Runs `f`, which writes, like [`Database::run`]; on SQLite, on the one connection
    /// that writes, so that writers queue here rather than in SQLite's busy handler.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.run_on(self.writes.as_ref().unwrap_or(&self.reads), f)
            .await
    }

    async fn run_on<T, F>(&self, lane: &Lane, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        let pool = lane.pool.clone();
        // DEBUG: a child span in exported traces; no cost when nothing exports them.
        let span = tracing::debug_span!(
            "db",
            db.system = self.backend.system_name(),
            otel.kind = "client"
        );
        let job = move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            let result = f(&mut conn);
            if let Err(DbError::Query(e)) = &result {
                if is_connection_loss(e) {
                    mark_broken(&mut conn);
                }
            }
            result
        };
        match lane.threads.run(self.checkout_timeout, job).await {
            Ok(result) => result,
            Err(NotRun::Busy) => Err(DbError::Busy(self.checkout_timeout)),
            Err(NotRun::Failed(why)) => Err(DbError::Blocking(why)),
        }
    }

    /// Runs `f`, which writes, inside a transaction (see [`Database::write`]). A transaction
    /// the database rolled back as a deadlock's victim is run again, up to
    /// [`TRANSACTION_ATTEMPTS`] times in all, so `f` must be safe to repeat. strata's writes
    /// take their locks in one order (`repos::lock`), so a retry is a safety net, and a
    /// warning: it means some pair of transactions still locks in opposite orders.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: Fn(&mut AnyConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.write(move |conn| {
            let mut attempt = 1;
            loop {
                match conn.transaction(&f) {
                    Err(e) if attempt < TRANSACTION_ATTEMPTS && is_deadlock_victim(&e) => {
                        tracing::warn!(attempt, error = %e, "transaction chosen as a deadlock victim; running it again");
                        // A short pause, longer each time, lets the winner commit first.
                        std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
                        attempt += 1;
                    }
                    result => return result,
                }
            }
        })
        .await
    }

    /// Proves the database answers, through the pool and SQLite's writer (for `/ready`).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| conn.ping().map_err(DbError::from)).await?;
        if self.writes.is_some() {
            self.write(|conn| conn.ping().map_err(DbError::from))
                .await?;
        }
        Ok(())
    }
}

fn mark_broken(conn: &mut AnyConnection) {
    use diesel::connection::AnsiTransactionManager as M;
    match conn {
        AnyConnection::Postgresql(c) => M::transaction_manager_status_mut(c).set_in_error(),
        AnyConnection::Mysql(c) => M::transaction_manager_status_mut(c).set_in_error(),
        AnyConnection::Sqlite(c) => M::transaction_manager_status_mut(c).set_in_error(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_owned()
    }

    #[test]
    fn sqlite_writes_queue_for_one_connection_and_reads_use_the_pool() {
        let dir = std::env::temp_dir().join(format!(
            "strata-writer-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let url = DatabaseUrl::parse(&format!("sqlite://{}/db.sqlite", dir.display())).unwrap();
        let options = PoolOptions {
            max_size: 3,
            ..PoolOptions::default()
        };
        let db = init_db(&url, options).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let read = rt.block_on(db.run(|_| Ok(thread_name()))).unwrap();
        let write = rt.block_on(db.write(|_| Ok(thread_name()))).unwrap();
        let in_tx = rt.block_on(db.transaction(|_| Ok(thread_name()))).unwrap();
        assert!(
            read.starts_with("db-") && !read.starts_with("db-writer"),
            "{read}"
        );
        assert_eq!(write, "db-writer-0");
        assert_eq!(in_tx, "db-writer-0");
        assert_eq!(db.stats().max, 4, "three readers and the writer");
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_default_pool_is_two_connections_per_cpu_for_network_databases() {
        let cpus = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(
            default_pool_size(Backend::Postgres),
            (2 * cpus).clamp(4, 32)
        );
        assert_eq!(default_pool_size(Backend::Mysql), (2 * cpus).clamp(4, 32));
        assert_eq!(default_pool_size(Backend::Sqlite), 10);
    }

    #[test]
    fn an_in_memory_sqlite_database_has_one_connection_for_everything() {
        let url = DatabaseUrl::parse("sqlite::memory:").unwrap();
        let db = init_db(&url, PoolOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(db.write(|_| Ok(thread_name()))).unwrap(),
            "db-0"
        );
        assert_eq!(db.stats().max, 1);
    }
}
