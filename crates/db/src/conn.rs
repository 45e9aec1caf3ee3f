use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{is_connection_loss, is_deadlock_victim};
use crate::executor::{Executor, NotRun};
use crate::replicas::{self, Freshness, ReplicaSet, ReplicaStatus, WalPosition};
use crate::{Backend, DatabaseUrl, DbError, Pooler};

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
    pooler: Pooler,
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        establish(&self.url, self.pooler).map_err(|e| match e {
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
/// Through a transaction pooler, it keeps no statement prepared and sets nothing: the
/// server connection is the next client's after this transaction.
fn establish(url: &DatabaseUrl, pooler: Pooler) -> Result<AnyConnection, DbError> {
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
    if pooler.forbids_session_state() {
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        return Ok(conn);
    }
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

/// Where the data lives and how to reach it: what `DATABASE_URL`, `DATABASE_POOLER`,
/// `DATABASE_REPLICA_URLS` and `REPLICA_MAX_LAG` say.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// The primary: every write, and every read that must be current.
    pub url: DatabaseUrl,
    /// Sizing and timeouts, for the primary's pool and each replica's.
    pub pool: PoolOptions,
    pub pooler: Pooler,
    /// PostgreSQL streaming replicas, for the reads that may lag.
    pub replicas: Vec<DatabaseUrl>,
    /// A replica further behind than this gets no reads.
    pub replica_max_lag: Duration,
}

impl DatabaseConfig {
    /// One database, reached directly, no replicas.
    pub fn direct(url: DatabaseUrl, pool: PoolOptions) -> Self {
        Self {
            url,
            pool,
            pooler: Pooler::Direct,
            replicas: Vec::new(),
            replica_max_lag: Duration::from_secs(5),
        }
    }

    /// Why this combination cannot work, in one line (`None` if it can).
    pub fn problem(&self) -> Option<String> {
        let postgres = self.url.backend() == Backend::Postgres;
        if self.pooler.forbids_session_state() && !postgres {
            return Some(format!(
                "DATABASE_POOLER=pgbouncer needs a PostgreSQL DATABASE_URL, not {}",
                self.url.backend()
            ));
        }
        if !self.replicas.is_empty()
            && (!postgres
                || self
                    .replicas
                    .iter()
                    .any(|r| r.backend() != Backend::Postgres))
        {
            return Some(
                "DATABASE_REPLICA_URLS: read replicas are supported on PostgreSQL only \
                 (a postgres:// primary and postgres:// replicas)"
                    .into(),
            );
        }
        if !self.replicas.is_empty() && self.replica_max_lag < Duration::from_secs(1) {
            return Some("REPLICA_MAX_LAG must be 1s or more".into());
        }
        None
    }
}

/// Connects with the concrete driver of `url` (so a refused port or a wrong password is
/// reported as such), runs the embedded migrations and returns the pool.
pub fn init_db(url: &DatabaseUrl, options: PoolOptions) -> Result<Database, DbError> {
    connect(&DatabaseConfig::direct(url.clone(), options))
}

/// Connects to the primary (running the embedded migrations through the same pooler as
/// every other statement), opens its pool and one per replica. A replica that is down
/// does not stop start-up: it gets reads once it answers.
pub fn connect(config: &DatabaseConfig) -> Result<Database, DbError> {
    if let Some(problem) = config.problem() {
        return Err(DbError::InvalidUrl(problem));
    }
    let (url, options, pooler) = (&config.url, config.pool, config.pooler);
    // The first connection migrates and stays open until the pool has its own: a shared
    // in-memory SQLite database lives only while some connection holds it.
    let mut first = establish(url, pooler)?;
    let applied = run_pending(&mut first)?;
    tracing::info!(backend = %url.backend(), applied, "migrations up to date");
    if pooler.forbids_session_state() {
        warn_on_custom_plans(&mut first);
    }
    let max_size = if url.is_sqlite_memory() {
        1
    } else {
        options.max_size.max(1)
    };
    let primary = LaneSpec {
        url,
        pooler,
        max_size,
        checkout_timeout: options.checkout_timeout,
        connect_within: options.checkout_timeout,
    };
    let reads = Lane::open(&primary, "db", true)?;
    // SQLite lets one connection write at a time; the others sleep in the busy handler and
    // retry, which made a write's p99 several times the floor's under load. Writes queue
    // for one connection of their own instead; reads never wait for it (WAL).
    let writes = if url.backend() == Backend::Sqlite && !url.is_sqlite_memory() {
        Some(Lane::open(
            &LaneSpec {
                max_size: 1,
                ..primary
            },
            "db-writer",
            true,
        )?)
    } else {
        None
    };
    drop(first);
    let replicas = open_replicas(config)?;
    Ok(Database {
        reads,
        writes,
        replicas,
        backend: url.backend(),
        pooler,
    })
}

/// A pool per replica. A replica that cannot hand out a connection within a second is
/// passed over for the primary, so its connections are not waited for longer.
fn open_replicas(config: &DatabaseConfig) -> Result<Option<Arc<ReplicaSet>>, DbError> {
    if config.replicas.is_empty() {
        return Ok(None);
    }
    let mut members = Vec::with_capacity(config.replicas.len());
    for (i, url) in config.replicas.iter().enumerate() {
        let spec = LaneSpec {
            url,
            pooler: config.pooler,
            max_size: config.pool.max_size.max(1),
            checkout_timeout: config.pool.checkout_timeout,
            connect_within: REPLICA_CONNECT_WITHIN,
        };
        members.push((
            url.to_string(),
            Lane::open(&spec, &format!("db-replica{i}"), false)?,
        ));
    }
    tracing::info!(
        replicas = members.len(),
        max_lag_ms = config.replica_max_lag.as_millis() as u64,
        "reads that may lag go to the replicas"
    );
    Ok(Some(Arc::new(ReplicaSet::new(
        members,
        config.replica_max_lag,
    ))))
}

/// How long a read waits for a replica's connection before it goes to the primary.
const REPLICA_CONNECT_WITHIN: Duration = Duration::from_secs(1);

/// Through a transaction pooler no connection can be told to prefer generic plans; the
/// database can (see docs/operations.md). Says so once if it does not.
fn warn_on_custom_plans(conn: &mut AnyConnection) {
    #[derive(diesel::QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        mode: String,
    }
    if let AnyConnection::Postgresql(c) = conn {
        use diesel::RunQueryDsl;
        let mode = diesel::sql_query("SELECT current_setting('plan_cache_mode') AS mode")
            .get_result::<Mode>(c)
            .map(|m| m.mode);
        if let Ok(mode) = mode.as_deref() {
            if mode != "force_generic_plan" {
                tracing::warn!(plan_cache_mode = mode,
                    "through a transaction pooler strata cannot set plan_cache_mode per connection; \
                     run ALTER DATABASE <name> SET plan_cache_mode = force_generic_plan once");
            }
        }
    }
}

/// What a pool and its threads are opened with.
#[derive(Clone, Copy)]
struct LaneSpec<'a> {
    url: &'a DatabaseUrl,
    pooler: Pooler,
    max_size: u32,
    /// How long a job waits for one of the threads.
    checkout_timeout: Duration,
    /// How long a thread waits for a connection.
    connect_within: Duration,
}

/// A pool of connections and one thread per connection to use them on.
#[derive(Clone)]
pub(crate) struct Lane {
    pool: Pool<Manager>,
    threads: Executor,
    checkout_timeout: Duration,
}

impl Lane {
    /// `checked`: open the first connections now and fail if they cannot be had.
    fn open(spec: &LaneSpec<'_>, name: &str, checked: bool) -> Result<Self, DbError> {
        let (url, max_size) = (spec.url, spec.max_size);
        let builder = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(max_size.min(2)))
            .connection_timeout(spec.connect_within)
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
            .error_handler(Box::new(LogErrors));
        let manager = Manager {
            url: url.clone(),
            pooler: spec.pooler,
        };
        let pool = if checked {
            builder.build(manager)?
        } else {
            builder.build_unchecked(manager)
        };
        let threads =
            Executor::start(max_size, name).map_err(|e| DbError::Blocking(e.to_string()))?;
        Ok(Self {
            pool,
            threads,
            checkout_timeout: spec.checkout_timeout,
        })
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
    /// PostgreSQL's read replicas, if any.
    replicas: Option<Arc<ReplicaSet>>,
    backend: Backend,
    pooler: Pooler,
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

    /// Runs `f`, a read that may lag, on a replica that `freshness` allows, or else on the
    /// primary. A replica that fails it for want of a connection is taken out of service
    /// and the read goes to the primary at once; any other failure but "not found" is
    /// tried on the primary too (a replica may lack a migration the primary has).
    pub async fn read<T, F>(&self, freshness: Freshness, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, DbError> + Clone + Send + 'static,
    {
        let chosen = match (&self.replicas, freshness.replica_floor()) {
            (Some(set), Some(floor)) => set.pick(floor).map(|r| (set, r)),
            _ => None,
        };
        if let Some((set, replica)) = chosen {
            match self.run_on(&replica.lane, f.clone()).await {
                Err(e) if e.is_unavailable() => set.failed(replica, &e),
                Err(DbError::Query(diesel::result::Error::NotFound)) => {
                    return Err(DbError::Query(diesel::result::Error::NotFound))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a read failed on a replica; trying the primary")
                }
                done => return done,
            }
        }
        self.run(f).await
    }

    /// True when reads may go to replicas.
    pub fn has_replicas(&self) -> bool {
        self.replicas.is_some()
    }

    /// Where the primary has written to: a write's position once it has committed. `None`
    /// without replicas (nothing to compare it with).
    pub async fn written(&self) -> Result<Option<WalPosition>, DbError> {
        if self.replicas.is_none() {
            return Ok(None);
        }
        self.run(replicas::written).await.map(Some)
    }

    /// How long after a write its writer's reads must look at positions (see
    /// [`Database::written`]); `None` without replicas.
    pub fn hold_after_write(&self) -> Option<Duration> {
        self.replicas
            .as_ref()
            .map(|set| replicas::hold_after_write(set.max_lag()))
    }

    /// Each replica's state, for `/ready` (empty without replicas).
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        self.replicas
            .as_ref()
            .map(|set| set.statuses())
            .unwrap_or_default()
    }

    /// How statements reach the database.
    pub fn pooler(&self) -> Pooler {
        self.pooler
    }

    /// Keeps each replica's state: every [`replicas::CHECK_EVERY`], the primary's write
    /// position and each replica's replay position. Returns at once without replicas;
    /// otherwise runs until the future is dropped.
    pub async fn watch_replicas(&self) {
        let Some(set) = self.replicas.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(replicas::CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A primary that does not answer leaves the timeline as it was: replicas keep
            // serving what they have, which is all there is.
            if let Ok(position) = self.run(replicas::written).await {
                set.primary_at(position);
            }
            for replica in &set.members {
                match self.run_on(&replica.lane, replicas::replayed).await {
                    Ok(position) => set.answered(replica, position),
                    Err(e) => set.failed(replica, &e),
                }
            }
        }
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
        match lane.threads.run(lane.checkout_timeout, job).await {
            Ok(result) => result,
            Err(NotRun::Busy) => Err(DbError::Busy(lane.checkout_timeout)),
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
