//! Database layer: picks the backend from `DATABASE_URL`, connects, runs the embedded
//! migrations and hands out pooled connections off the async workers.
//!
//! This is the bottom of the workspace: it imports Diesel and nothing of strata's.

mod config;
mod conn;
mod error;
mod executor;
mod lane;
mod migrations;
mod pooler;
mod replicas;
mod url;

pub use config::{default_pool_size, DatabaseConfig, PoolOptions};
pub use conn::{connect, init_db, AnyConnection, Database, PoolStats, TRANSACTION_ATTEMPTS};
pub use error::DbError;
pub use migrations::{embedded_migrations, migrate, revert_all};
pub use pooler::Pooler;
pub use replicas::{Freshness, ReplicaState, ReplicaStatus, WalPosition};
pub use url::{redact_url, Backend, DatabaseUrl, DEFAULT_DATABASE_URL};

/// The SQL driver's error type, re-exported so upper layers need not name Diesel's path.
pub use diesel::result::Error as QueryError;

/// Runs one Diesel expression on the concrete connection inside an [`AnyConnection`]:
///
/// ```ignore
/// let user = db::on_backend!(conn, |c| users::table.find(id).first::<User>(c))?;
/// ```
///
/// The expression is written once and compiled for each backend. Queries run this way keep
/// a static query id, so Diesel finds their prepared statement by type; through the
/// `AnyConnection` itself, every execution builds the SQL text again to find it.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::AnyConnection::Postgresql($c) => $body,
            $crate::AnyConnection::Mysql($c) => $body,
            $crate::AnyConnection::Sqlite($c) => $body,
        }
    };
}
