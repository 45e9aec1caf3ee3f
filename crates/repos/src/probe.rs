//! The database as a whole, for `/ready` and `/metrics`: whether it answers, and how its
//! pool is used. Not a table's repository: no query of strata's data runs here.

use db::Database;

use crate::RepoError;

/// Asks the database how it is.
#[derive(Debug, Clone)]
pub struct DatabaseProbe {
    db: Database,
}

impl DatabaseProbe {
    /// A probe of `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Proves the database answers, through the pool and SQLite's writer.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.db.ping().await.map_err(RepoError::from)
    }

    /// The pool's state, for metrics.
    pub fn pool_stats(&self) -> db::PoolStats {
        self.db.stats()
    }

    /// Each read replica's state as last seen (empty without replicas).
    pub fn replicas(&self) -> Vec<db::ReplicaStatus> {
        self.db.replicas()
    }

    /// Keeps the replicas' states until dropped (returns at once without replicas).
    pub async fn watch_replicas(&self) {
        self.db.watch_replicas().await
    }
}
