use crate::url::Backend;

/// Everything that can go wrong below the repositories: choosing, connecting, migrating,
/// checking out a connection, or running a statement.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The `DATABASE_URL` scheme is not one strata can drive.
    #[error(
        "unsupported DATABASE_URL scheme {scheme:?}: use postgres://, postgresql://, mysql://, sqlite://PATH or sqlite::memory:"
    )]
    UnsupportedUrl { scheme: String },

    /// The URL has the right scheme but says nothing usable (for example `sqlite://`).
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),

    /// The first connection failed; the driver's own message says why.
    #[error("cannot connect to {backend} at {url}: {source}")]
    Connect {
        backend: Backend,
        /// The URL with any password replaced by `***`.
        url: String,
        #[source]
        source: diesel::ConnectionError,
    },

    /// The directory that should hold the SQLite file could not be created.
    #[error("cannot create directory {path} for the SQLite database: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A migration failed to apply or revert.
    #[error("{backend} migrations failed: {message}")]
    Migration { backend: Backend, message: String },

    /// No pooled connection could be had in time: the database is down or saturated.
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),

    /// Every connection stayed busy for the whole checkout timeout.
    #[error("no database connection free within {0:?}")]
    Busy(std::time::Duration),

    /// The database thread running the query panicked, or the threads have stopped.
    #[error("database task did not complete: {0}")]
    Blocking(String),

    /// The backend lacks what was asked of it (a log position from SQLite, say).
    #[error("{0}")]
    Unsupported(&'static str),

    /// A statement failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// True when the cause is the database being unreachable or overloaded rather than a bad
    /// statement: callers map it to "try again later".
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) | DbError::Busy(_) | DbError::Connect { .. } => true,
            DbError::Query(e) => is_connection_loss(e) || is_sqlite_locked(e),
            _ => false,
        }
    }
}

/// SQLite's "database is locked": another connection held the write lock past
/// `busy_timeout` (a load the service should answer with 503), or a read transaction could
/// not become a write one (which a new attempt resolves).
fn is_sqlite_locked(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().starts_with("database is locked"))
}

/// True when the database rolled the transaction back to break a deadlock, or because it
/// could not serialise it: running it again is the documented answer (PostgreSQL
/// `40P01` and `40001`, MySQL 1213, SQLite's "database is locked").
pub(crate) fn is_deadlock_victim(e: &DbError) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match e {
        DbError::Query(E::DatabaseError(K::SerializationFailure, _)) => true,
        // Diesel reports PostgreSQL's deadlock_detected as "unknown", with these words.
        DbError::Query(e @ E::DatabaseError(K::Unknown, info)) => {
            info.message().starts_with("deadlock detected") || is_sqlite_locked(e)
        }
        DbError::Query(e) => is_sqlite_locked(e),
        _ => false,
    }
}

/// True for errors that mean the connection itself is gone (server restarted, network cut),
/// as opposed to a statement the server refused.
pub(crate) fn is_connection_loss(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match e {
        E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _)
        | E::BrokenTransactionManager => true,
        // The connection died under the COMMIT (a pooler restarted, say).
        E::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => is_connection_loss(rollback_error) || is_connection_loss(commit_error),
        // MySQL reports a lost server only as "unknown", with its own words; an unknown
        // error that is a refused statement (PostgreSQL's "invalid byte sequence") is not
        // an outage and must not cost the pool a connection.
        E::DatabaseError(K::Unknown, info) => {
            let m = info.message().to_ascii_lowercase();
            [
                "gone away",
                "lost connection",
                "can't connect",
                "connection refused",
                "connection reset",
                "broken pipe",
                "server closed the connection",
                "terminating connection",
                "no connection",
                // PgBouncer's words for a server it cannot reach or lost.
                "cannot connect to server",
                "server conn crashed",
                "server login has been failing",
                "query_wait_timeout",
            ]
            .iter()
            .any(|needle| m.contains(needle))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as E};

    fn db_error(message: &str) -> DbError {
        DbError::Query(E::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn a_locked_sqlite_database_is_retried_then_unavailable_never_a_bug() {
        let locked = db_error("database is locked");
        assert!(is_deadlock_victim(&locked) && locked.is_unavailable());
        let other = db_error("no such table: nope");
        assert!(!is_deadlock_victim(&other) && !other.is_unavailable());
    }
}
