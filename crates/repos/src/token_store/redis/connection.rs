//! Connections to Redis: one multiplexed connection per thread, shared by that thread's
//! requests and replaced when it breaks. deadpool-redis creates it (with its timeouts),
//! but is not asked for a connection per request: its recycle check (UNWATCH + PING) would
//! double the cost of every command.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::{ClusterClient, ClusterClientBuilder};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, RedisResult, Value,
};
use deadpool_redis::{Manager, Pool, Runtime};
use tracing::Instrument;

use super::RedisOptions;
use crate::RepoError;

/// A connection to one Redis, or to a Redis Cluster (which follows MOVED and ASK, and
/// refreshes its slot map when a node says it no longer serves a slot).
#[derive(Clone)]
pub(super) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// How a thread's connection is made.
#[derive(Clone)]
enum Maker {
    /// deadpool-redis makes it, with its timeouts; the pool is never asked per request.
    Single(Pool),
    /// The cluster client makes it (one connection per node, multiplexed).
    Cluster(Box<ClusterClient>),
}

/// One thread's connection to one store.
struct ThreadConnection {
    /// Tells this connection from a newer one, so that a failing request only drops the
    /// connection it used.
    generation: u64,
    conn: Conn,
    /// The store's counters while the store lives: a connection whose store is gone is
    /// closed the next time the thread makes one.
    store: Weak<Counters>,
}

thread_local! {
    /// Each thread's connection per store (keyed by store id). One per thread: actix-web
    /// runs a single-threaded runtime per worker, and a connection made on the worker's own
    /// runtime answers there, without a hop to another thread per command.
    static CONNECTIONS: RefCell<HashMap<u64, ThreadConnection>> = RefCell::new(HashMap::new());
}

/// The connections of one store: how they are made, and each thread's current one.
#[derive(Clone)]
pub(super) struct Connections {
    maker: Maker,
    /// The seed nodes, for the checks that ask every primary over a connection of their own.
    cluster_seeds: Option<Arc<[ConnectionInfo]>>,
    connect_timeout: Duration,
    /// Tells this store's connections apart from another store's on the same thread.
    id: u64,
    command_timeout: Duration,
    stats: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    in_flight: AtomicU64,
    waiting: AtomicU64,
    connections: AtomicU64,
}

/// A snapshot of the Redis connection's use, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Commands sent and not yet answered.
    pub in_flight: u64,
    /// Requests waiting for a connection to be made.
    pub waiting: u64,
    /// Connections open (one per thread that has used the store).
    pub connections: u64,
}

fn unavailable(detail: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable {
        what: "token store",
        detail: detail.to_string(),
    }
}

/// True when the error means the connection is no good any more (as opposed to a reply
/// that Redis sent, such as a script error).
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Replies by which a running server says it cannot serve right now: loading its data set
/// after a restart, a replica since a failover, out of memory, unable to persist, busy
/// with a script, no primary or replicas. An outage like a refused connection (503, and
/// the connection is made afresh), not a fault of ours (500).
const OUTAGE_REPLIES: &[&str] = &[
    "LOADING",
    "READONLY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "OOM",
    "MISCONF",
    "BUSY",
    "NOREPLICAS",
];

/// True for an outage reply, to a command or to any command of a pipeline.
fn is_outage_reply(e: &RedisError) -> bool {
    let outage = |code: &str| OUTAGE_REPLIES.contains(&code);
    e.code().is_some_and(outage)
        || e.clone()
            .into_server_errors()
            .is_some_and(|replies| replies.iter().any(|(_, reply)| outage(reply.code())))
}

impl Connections {
    pub(super) fn new(options: &RedisOptions) -> Result<Self, RepoError> {
        let maker = if options.cluster_urls.is_empty() {
            Maker::Single(Self::pool(options)?)
        } else {
            let client = ClusterClientBuilder::new(options.cluster_urls.clone())
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.command_timeout)
                .build()
                .map_err(|e| RepoError::TokenStore(format!("invalid REDIS_CLUSTER_URLS: {e}")))?;
            Maker::Cluster(Box::new(client))
        };
        // Every seed must parse: one that does not is a configuration error, not a node to
        // skip when every primary is asked.
        let seeds = options
            .cluster_urls
            .iter()
            .map(|url| url.as_str().into_connection_info())
            .collect::<RedisResult<Vec<ConnectionInfo>>>()
            .map_err(|e| RepoError::TokenStore(format!("invalid REDIS_CLUSTER_URLS: {e}")))?;
        Ok(Self {
            maker,
            cluster_seeds: (!seeds.is_empty()).then(|| Arc::from(seeds)),
            connect_timeout: options.connect_timeout,
            id: rand_generation(),
            command_timeout: options.command_timeout,
            stats: Arc::new(Counters::default()),
        })
    }

    /// True on a Redis Cluster: a pipeline must then stay within one slot.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.maker, Maker::Cluster(_))
    }

    /// The cluster's seed nodes (`None` off a cluster).
    pub(super) fn cluster_seeds(&self) -> Option<&[ConnectionInfo]> {
        self.cluster_seeds.as_deref()
    }

    /// Longest wait for one command's reply.
    pub(super) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    fn pool(options: &RedisOptions) -> Result<Pool, RepoError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout));
        let manager = Manager::new_with_config(options.url.as_str(), config)
            .map_err(|e| RepoError::TokenStore(format!("invalid REDIS_URL: {e}")))?;
        let pool = Pool::builder(manager)
            .max_size(2)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.command_timeout))
            .build()
            .map_err(|e| RepoError::TokenStore(format!("cannot build the Redis pool: {e}")))?;
        Ok(pool)
    }

    /// A new connection, within the connect timeout.
    async fn make(&self) -> Result<Conn, RepoError> {
        match &self.maker {
            Maker::Single(pool) => {
                let made = pool.get().await.map_err(unavailable)?;
                Ok(Conn::Single(deadpool_redis::Connection::take(made)))
            }
            Maker::Cluster(client) => {
                match tokio::time::timeout(self.connect_timeout, client.get_async_connection())
                    .await
                {
                    Ok(made) => Ok(Conn::Cluster(made.map_err(unavailable)?)),
                    Err(_) => Err(unavailable(format!(
                        "no cluster connection within {:?}",
                        self.connect_timeout
                    ))),
                }
            }
        }
    }

    /// How the connection is used right now.
    pub(super) fn stats(&self) -> RedisStats {
        RedisStats {
            in_flight: self.stats.in_flight.load(Ordering::Relaxed),
            waiting: self.stats.waiting.load(Ordering::Relaxed),
            connections: self.stats.connections.load(Ordering::Relaxed),
        }
    }

    /// This thread's connection, made (through the pool's timeouts) if there is none.
    async fn connection(&self) -> Result<(u64, Conn), RepoError> {
        // Only the generation and the connection: cloning the `Weak` too would touch the
        // store's shared reference counts on every command.
        let current = CONNECTIONS.with(|c| {
            c.borrow()
                .get(&self.id)
                .map(|t| (t.generation, t.conn.clone()))
        });
        if let Some(current) = current {
            return Ok(current);
        }
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let made = self.make().await;
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let fresh = made?;
        let generation = rand_generation();
        let kept = CONNECTIONS.with(|c| {
            let mut map = c.borrow_mut();
            // Another request on this thread may have made one meanwhile: keep theirs.
            if let Some(current) = map.get(&self.id) {
                return (current.generation, current.conn.clone());
            }
            // Dropping the last handle of a dropped store's connection closes it.
            map.retain(|_, c| c.store.strong_count() > 0);
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            map.insert(
                self.id,
                ThreadConnection {
                    generation,
                    conn: fresh.clone(),
                    store: Arc::downgrade(&self.stats),
                },
            );
            (generation, fresh)
        });
        Ok(kept)
    }

    /// Drops this thread's connection if it is still `generation`. Not on a cluster: its
    /// client reconnects each node by itself, and a new one would make every slot wait
    /// for a node that is down.
    fn discard(&self, generation: u64) {
        if self.is_cluster() {
            return;
        }
        CONNECTIONS.with(|c| {
            let mut map = c.borrow_mut();
            if map
                .get(&self.id)
                .is_some_and(|c| c.generation == generation)
            {
                map.remove(&self.id);
                self.stats.connections.fetch_sub(1, Ordering::Relaxed);
            }
        });
    }

    /// Runs one command (or pipeline, or script) on this thread's connection with a deadline;
    /// drops the connection if the failure was the connection's.
    pub(super) async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, RepoError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        // DEBUG: a child span in exported traces; no cost when nothing exports them.
        let span = tracing::debug_span!(
            "redis",
            db.system = "redis",
            db.operation = op,
            otel.kind = "client"
        );
        let (generation, conn) = self.connection().instrument(span.clone()).await?;
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let reply = tokio::time::timeout(self.command_timeout, f(conn))
            .instrument(span)
            .await;
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        match reply {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_connection_error(&e) || is_outage_reply(&e) => {
                self.discard(generation);
                Err(unavailable(e))
            }
            Ok(Err(e)) => Err(RepoError::TokenStore(e.to_string())),
            Err(_) => {
                self.discard(generation);
                Err(unavailable(format!(
                    "no reply within {:?}",
                    self.command_timeout
                )))
            }
        }
    }
}

fn rand_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
