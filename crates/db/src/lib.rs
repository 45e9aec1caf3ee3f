//! Database layer: picks the backend from `DATABASE_URL`, connects, runs the embedded
//! migrations and hands out pooled connections off the async workers.
//!
//! This is the bottom of the workspace: it imports Diesel and nothing of strata's.

mod conn;
mod error;
mod url;

#[cfg(feature = "test-support")]
pub mod testing;

pub use conn::{init_db, migrate, revert_all, AnyConnection, Database, PoolOptions, PoolStats};
pub use error::DbError;
pub use url::{redact_url, Backend, DatabaseUrl, DEFAULT_DATABASE_URL};

/// The SQL driver's error type, re-exported so upper layers need not name Diesel's path.
pub use diesel::result::Error as QueryError;
