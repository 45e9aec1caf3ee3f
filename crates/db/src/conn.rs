use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::R2D2Connection;
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};

use crate::error::{is_connection_loss, is_deadlock_victim};
use crate::executor::NotRun;
use crate::lane::{establish, mark_broken, Lane, LaneSpec, Opening};
use crate::migrations::run_pending;
use crate::replicas::{self, Freshness, ReplicaSet, ReplicaStatus, WalPosition};
use crate::{Backend, DatabaseConfig, DatabaseUrl, DbError, PoolOptions, Pooler};

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
    let reads = Lane::open(&primary, "db", Opening::Checked)?;
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
            Opening::Checked,
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

/// A pool per replica, and a connection of its own per replica and for the primary, for
/// the watch. None keeps connections warm or logs a failed attempt: the watch reports a
/// replica's state once, when it changes.
fn open_replicas(config: &DatabaseConfig) -> Result<Option<Arc<ReplicaSet>>, DbError> {
    if config.replicas.is_empty() {
        return Ok(None);
    }
    let spec = |url, max_size| LaneSpec {
        url,
        pooler: config.pooler,
        max_size,
        checkout_timeout: replicas::READ_WITHIN,
        connect_within: replicas::CHECK_WITHIN,
    };
    let mut members = Vec::with_capacity(config.replicas.len());
    for (i, url) in config.replicas.iter().enumerate() {
        let size = config.pool.max_size.max(1);
        let reads = Lane::open(
            &spec(url, size),
            &format!("db-replica{i}"),
            Opening::OnDemand,
        )?;
        let watch = Lane::open(&spec(url, 1), &format!("db-watch{i}"), Opening::OnDemand)?;
        members.push((url.to_string(), reads, watch));
    }
    let primary_watch = Lane::open(&spec(&config.url, 1), "db-watch", Opening::OnDemand)?;
    tracing::info!(
        replicas = members.len(),
        max_lag_ms = config.replica_max_lag.as_millis() as u64,
        "reads that may lag go to the replicas"
    );
    Ok(Some(Arc::new(ReplicaSet::new(
        members,
        primary_watch,
        config.replica_max_lag,
    ))))
}

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

/// The connection pool. Cheap to clone; every query runs through [`Database::run`] or
/// [`Database::write`].
#[derive(Clone)]
pub struct Database {
    /// The pool and its threads; callers wait in the threads' queue, on the async side.
    reads: Lane,
    /// SQLite's single writer (a file database); other backends write through `reads`.
    writes: Option<Lane>,
    /// PostgreSQL's read replicas, if any.
    pub(crate) replicas: Option<Arc<ReplicaSet>>,
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
    /// primary. A replica that fails it or does not finish it within
    /// [`replicas::READ_WITHIN`] is taken out of service and the read goes to the primary;
    /// one too busy to start it in that time just passes it on. Any failure but "not
    /// found" is tried on the primary too (a replica may lack a migration the primary has).
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
            let asked = self.run_on(&replica.lane, f.clone());
            match tokio::time::timeout(replicas::READ_WITHIN, asked).await {
                Ok(Err(DbError::Busy(_))) => {}
                Ok(Err(e)) if e.is_unavailable() => set.failed(replica, &e),
                Ok(Err(DbError::Query(diesel::result::Error::NotFound))) => {
                    return Err(DbError::Query(diesel::result::Error::NotFound))
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a read failed on a replica; trying the primary")
                }
                Ok(done) => return done,
                Err(_) => set.failed(replica, &"a read did not finish within 2s"),
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

    pub(crate) async fn run_on<T, F>(&self, lane: &Lane, f: F) -> Result<T, DbError>
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
