//! What the database settings say: pool sizes and timeouts, the pooler, the replicas.

use std::time::Duration;

use crate::{Backend, DatabaseUrl, Pooler};

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
        let lag_limits = Duration::from_secs(1)..=Duration::from_secs(3600);
        if !self.replicas.is_empty() && !lag_limits.contains(&self.replica_max_lag) {
            return Some("REPLICA_MAX_LAG must be between 1s and 1h".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
