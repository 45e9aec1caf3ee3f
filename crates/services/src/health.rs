//! Readiness and pool figures: whether the database and the token store answer (`/ready`),
//! and how their connections are used (`/metrics`).

pub use repos::database::{ReplicaState, ReplicaStatus};
use repos::{AnyTokenStore, DatabaseProbe};

use crate::ServiceError;

/// Pool figures of the database and Redis (none for the in-memory store).
#[derive(Debug, Clone, Copy)]
pub struct InfraStats {
    pub database: repos::database::PoolStats,
    pub redis: Option<repos::RedisStats>,
}

/// The dependencies' health.
#[derive(Clone)]
pub struct HealthService {
    database: DatabaseProbe,
    store: AnyTokenStore,
}

impl HealthService {
    pub(crate) fn new(database: DatabaseProbe, store: AnyTokenStore) -> Self {
        Self { database, store }
    }

    /// Connection-pool figures, for metrics.
    pub fn infra_stats(&self) -> InfraStats {
        InfraStats {
            database: self.database.pool_stats(),
            redis: self.store.redis_stats(),
        }
    }

    /// Checks the token store answers (for `/ready`).
    pub async fn token_store_ready(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Checks the database answers (for `/ready`).
    pub async fn database_ready(&self) -> Result<(), ServiceError> {
        Ok(self.database.ping().await?)
    }

    /// Each read replica's state (for `/ready`; empty without replicas).
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        self.database.replicas()
    }

    /// Watches the read replicas until `stop` turns true (at once without replicas): the
    /// worker that decides which replica may serve reads.
    pub async fn watch_replicas(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tokio::select! {
            () = self.database.watch_replicas() => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}
