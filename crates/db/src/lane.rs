//! A lane: a pool of connections and one thread per connection to use them on, and how
//! each connection is opened.

use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, MysqlConnection, PgConnection, SqliteConnection};

use crate::executor::Executor;
use crate::{AnyConnection, Backend, DatabaseUrl, DbError, Pooler};

/// Opens concrete connections for r2d2. The derived `AnyConnection::establish` tries every
/// backend in turn and hides the real error; this opens exactly the one the URL names.
#[derive(Debug)]
pub(crate) struct Manager {
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
pub(crate) fn establish(url: &DatabaseUrl, pooler: Pooler) -> Result<AnyConnection, DbError> {
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

/// What a pool and its threads are opened with.
#[derive(Clone, Copy)]
pub(crate) struct LaneSpec<'a> {
    pub(crate) url: &'a DatabaseUrl,
    pub(crate) pooler: Pooler,
    pub(crate) max_size: u32,
    /// How long a job waits for one of the threads.
    pub(crate) checkout_timeout: Duration,
    /// How long a thread waits for a connection.
    pub(crate) connect_within: Duration,
}

/// How a lane's pool opens its connections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// The primary's: two connections now (start-up fails without them), kept warm, and
    /// every failed attempt logged.
    Checked,
    /// A replica's, or the watch's: connections when first asked for, and failures left
    /// to the watch, which logs a change of state once (a down replica would otherwise log
    /// a failed attempt twice a second).
    OnDemand,
}

/// A pool of connections and one thread per connection to use them on.
#[derive(Clone)]
pub(crate) struct Lane {
    pub(crate) pool: Pool<Manager>,
    pub(crate) threads: Executor,
    pub(crate) checkout_timeout: Duration,
}

impl Lane {
    pub(crate) fn open(spec: &LaneSpec<'_>, name: &str, opening: Opening) -> Result<Self, DbError> {
        let (url, max_size) = (spec.url, spec.max_size);
        let checked = opening == Opening::Checked;
        let builder = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(if checked { max_size.min(2) } else { 0 }))
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
            .error_handler(if checked {
                Box::new(LogErrors)
            } else {
                Box::new(r2d2::NopErrorHandler)
            });
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

pub(crate) fn mark_broken(conn: &mut AnyConnection) {
    use diesel::connection::AnsiTransactionManager as M;
    match conn {
        AnyConnection::Postgresql(c) => M::transaction_manager_status_mut(c).set_in_error(),
        AnyConnection::Mysql(c) => M::transaction_manager_status_mut(c).set_in_error(),
        AnyConnection::Sqlite(c) => M::transaction_manager_status_mut(c).set_in_error(),
    }
}
