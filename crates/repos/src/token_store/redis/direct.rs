//! On a cluster, the commands of every request (the `HMGET` of an authenticated request,
//! the rotate script of a refresh) go straight to the primary of their slot over this
//! thread's own connection to it, skipping the cluster client's routing task (its cost:
//! BENCHMARKS.md). Whatever is uncertain goes through the cluster client as before, so
//! correctness rests on it: no slot map yet, no connection to the node yet (it is made in
//! the background) or one lost less than a second ago, a reply by which a node says it
//! did not run the command (`MOVED`, `ASK`, `TRYAGAIN`, …), which also has the map read
//! again, and a read whose node failed. A script whose node failed is the request's 503:
//! it may have run, so it is not sent twice.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use deadpool_redis::redis::{self, AsyncConnectionConfig, Cmd, ConnectionInfo, Value};

use super::primaries::{at, slot_ranges};

const SLOTS: u16 = 16_384;
/// How long a thread leaves a node it could not reach to the cluster client.
const NODE_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest time between two readings of the slot map.
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// Replies by which a node refuses a command without running it: safe to send again
/// through the cluster client, which follows redirections and waits out a failover.
const NOT_RUN: &[&str] = &[
    "MOVED",
    "ASK",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "READONLY",
    "MASTERDOWN",
    "LOADING",
];

/// The cluster slot of a key: CRC16 of its hash tag (what lies between the first `{` and
/// the next `}`, when not empty), else of the whole key, as Redis computes it.
pub(super) fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tag = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &bytes[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tag.unwrap_or(bytes)) % SLOTS
}

/// Each slot's primary, from `CLUSTER SLOTS`.
struct Table {
    /// Index into `names` and `infos` of each slot's primary.
    owner: Box<[u16]>,
    names: Vec<Arc<str>>,
    infos: Vec<ConnectionInfo>,
}

impl PartialEq for Table {
    /// The same primaries for the same slots (`infos` follow from `names`).
    fn eq(&self, other: &Self) -> bool {
        self.owner == other.owner && self.names == other.names
    }
}

impl Table {
    fn read(slots: &Value, seed: &ConnectionInfo) -> Result<Self, String> {
        // Which node answered is not known (the cluster client picks one), so an empty
        // host is an error here rather than the seed.
        let ranges = slot_ranges(slots, "")?;
        let mut owner = vec![0u16; usize::from(SLOTS)].into_boxed_slice();
        let (mut names, mut infos): (Vec<Arc<str>>, Vec<ConnectionInfo>) = (vec![], vec![]);
        for r in ranges {
            let name = format!("{}:{}", r.host, r.port);
            let i = match names.iter().position(|n| **n == *name) {
                Some(i) => i,
                None => {
                    names.push(name.into());
                    infos.push(at(seed, &r.host, r.port));
                    names.len() - 1
                }
            };
            let i = u16::try_from(i).map_err(|_| "too many primaries".to_owned())?;
            owner[usize::from(r.first)..=usize::from(r.last)].fill(i);
        }
        Ok(Self {
            owner,
            names,
            infos,
        })
    }
}

/// A thread's connection to one node: being made, made, or failed at a time.
type Node = Arc<OnceLock<Result<MultiplexedConnection, Instant>>>;

/// One thread's view of the routes: the table it was built from and its node connections.
struct ThreadRoutes {
    version: u64,
    table: Arc<Table>,
    nodes: HashMap<Arc<str>, Node>,
    /// The store while it lives: a dropped store's connections are closed on the next
    /// rebuild.
    store: Weak<Routes>,
}

thread_local! {
    /// Each thread's node connections per store (keyed by store id), like its cluster
    /// connection in `connection`.
    static ROUTES: RefCell<HashMap<u64, ThreadRoutes>> = RefCell::new(HashMap::new());
}

/// The slot map of one store, shared by its threads.
pub(super) struct Routes {
    id: u64,
    /// Credentials and TLS settings of every node connection (the first seed's).
    seed: ConnectionInfo,
    config: AsyncConnectionConfig,
    connect_timeout: Duration,
    command_timeout: Duration,
    table: RwLock<Option<Arc<Table>>>,
    /// Raised with every new table; a thread rebuilds its view when it sees a new one.
    version: AtomicU64,
    refreshing: AtomicBool,
    next_refresh: Mutex<Instant>,
    /// Commands answered straight by their slot's primary, for metrics.
    direct: AtomicU64,
}

/// A command's way straight to its slot's primary, with the cluster client behind it.
#[derive(Clone)]
pub(super) struct Direct {
    conn: MultiplexedConnection,
    cluster: ClusterConnection,
    routes: Arc<Routes>,
    name: Arc<str>,
    node: Node,
    /// A read, safe to send again through the cluster client after any failure.
    idempotent: bool,
    /// Once a command went through the cluster client, the rest of the request follows
    /// it (a script's `SCRIPT LOAD` must reach the node its `EVALSHA` reached).
    fell_back: bool,
}

enum Pick {
    Ready(MultiplexedConnection, Arc<str>, Node),
    Connect(Node, ConnectionInfo),
    NoTable,
    NotNow,
}

impl Routes {
    pub(super) fn new(
        id: u64,
        seed: ConnectionInfo,
        connect_timeout: Duration,
        command_timeout: Duration,
    ) -> Self {
        Self {
            id,
            seed,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(command_timeout)),
            connect_timeout,
            command_timeout,
            table: RwLock::new(None),
            version: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            next_refresh: Mutex::new(Instant::now()),
            direct: AtomicU64::new(0),
        }
    }

    /// Commands answered straight by their slot's primary so far.
    pub(super) fn direct_commands(&self) -> u64 {
        self.direct.load(Ordering::Relaxed)
    }

    /// The way straight to `slot`'s primary, or the cluster connection back when there is
    /// none right now. An `idempotent` command is sent again through the cluster client
    /// after any failure, not only after a refusal.
    pub(super) fn pick(
        self: &Arc<Self>,
        slot: u16,
        idempotent: bool,
        cluster: ClusterConnection,
    ) -> Result<Direct, ClusterConnection> {
        match self.pick_node(slot) {
            Pick::Ready(conn, name, node) => Ok(Direct {
                conn,
                cluster,
                routes: Arc::clone(self),
                name,
                node,
                idempotent,
                fell_back: false,
            }),
            Pick::Connect(node, info) => {
                self.connect(node, info, cluster.clone());
                Err(cluster)
            }
            Pick::NoTable => {
                self.refresh(&cluster);
                Err(cluster)
            }
            Pick::NotNow => Err(cluster),
        }
    }

    fn pick_node(self: &Arc<Self>, slot: u16) -> Pick {
        let version = self.version.load(Ordering::Acquire);
        ROUTES.with(|routes| {
            let mut routes = routes.borrow_mut();
            if routes.get(&self.id).is_none_or(|r| r.version != version) {
                let Some(table) = self.table.read().ok().and_then(|t| t.clone()) else {
                    return Pick::NoTable;
                };
                let mut nodes = routes.remove(&self.id).map(|r| r.nodes).unwrap_or_default();
                // Connections to nodes that are no primary any more, and to dropped stores,
                // are closed here.
                nodes.retain(|name, _| table.names.contains(name));
                routes.retain(|_, r| r.store.strong_count() > 0);
                routes.insert(
                    self.id,
                    ThreadRoutes {
                        version,
                        table,
                        nodes,
                        store: Arc::downgrade(self),
                    },
                );
            }
            let Some(mine) = routes.get_mut(&self.id) else {
                return Pick::NoTable;
            };
            let i = usize::from(mine.table.owner[usize::from(slot % SLOTS)]);
            let name = &mine.table.names[i];
            match mine.nodes.get(name).map(|n| (n, n.get())) {
                Some((node, Some(Ok(conn)))) => {
                    Pick::Ready(conn.clone(), Arc::clone(name), Arc::clone(node))
                }
                Some((_, None)) => Pick::NotNow,
                Some((_, Some(Err(failed)))) if failed.elapsed() < NODE_BACKOFF => Pick::NotNow,
                _ => {
                    let node = Node::default();
                    mine.nodes.insert(Arc::clone(name), Arc::clone(&node));
                    Pick::Connect(node, mine.table.infos[i].clone())
                }
            }
        })
    }

    /// Makes a node connection in the background; meanwhile the cluster client serves.
    fn connect(self: &Arc<Self>, node: Node, info: ConnectionInfo, cluster: ClusterConnection) {
        let routes = Arc::clone(self);
        tokio::spawn(async move {
            let made = async {
                redis::Client::open(info)?
                    .get_multiplexed_async_connection_with_config(&routes.config)
                    .await
            };
            match tokio::time::timeout(routes.connect_timeout, made).await {
                Ok(Ok(conn)) => {
                    let _ = node.set(Ok(conn));
                }
                _ => {
                    let _ = node.set(Err(Instant::now()));
                    routes.refresh(&cluster);
                }
            }
        });
    }

    /// Reads the slot map again in the background, at most once per `REFRESH_EVERY`.
    fn refresh(self: &Arc<Self>, cluster: &ClusterConnection) {
        if self.next_refresh.lock().is_ok_and(|n| Instant::now() < *n)
            || self.refreshing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (routes, mut cluster) = (Arc::clone(self), cluster.clone());
        tokio::spawn(async move {
            // Lets the next refresh in even if this task is dropped half-way.
            let _done = Refreshed(Arc::clone(&routes));
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SLOTS");
            let random = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
            let read =
                tokio::time::timeout(routes.command_timeout, cluster.route_command(cmd, random))
                    .await;
            if let Ok(Ok(slots)) = read {
                match Table::read(&slots, &routes.seed) {
                    Ok(table) => routes.replace(table),
                    Err(e) => {
                        tracing::debug!(error = %e, "slot map not usable; the cluster client routes");
                    }
                }
            }
        });
    }

    fn replace(&self, table: Table) {
        let Ok(mut current) = self.table.write() else {
            return;
        };
        if current.as_deref() != Some(&table) {
            *current = Some(Arc::new(table));
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Forgets this thread's connection to a node that failed, for `NODE_BACKOFF`.
    fn lost(&self, name: &Arc<str>, node: &Node) {
        ROUTES.with(|routes| {
            if let Some(mine) = routes.borrow_mut().get_mut(&self.id) {
                if mine.nodes.get(name).is_some_and(|n| Arc::ptr_eq(n, node)) {
                    let failed = Node::new(OnceLock::from(Err(Instant::now())));
                    mine.nodes.insert(Arc::clone(name), failed);
                }
            }
        });
    }
}

/// Ends a refresh, however its task ends.
struct Refreshed(Arc<Routes>);

impl Drop for Refreshed {
    fn drop(&mut self) {
        if let Ok(mut next) = self.0.next_refresh.lock() {
            *next = Instant::now() + REFRESH_EVERY;
        }
        self.0.refreshing.store(false, Ordering::Release);
    }
}

impl Direct {
    /// `cmd` on the slot's primary; through the cluster client if the node did not run it
    /// (or after any failure, for an idempotent read).
    pub(super) async fn send(&mut self, cmd: &Cmd) -> redis::RedisResult<Value> {
        if self.fell_back {
            return self.cluster.req_packed_command(cmd).await;
        }
        match self.conn.req_packed_command(cmd).await {
            // A server's error reply comes back as a value, not as an `Err`.
            Ok(Value::ServerError(e)) if NOT_RUN.contains(&e.code()) => self.fall_back(cmd).await,
            // Any other reply (NOSCRIPT, a script's error) is the command's own.
            Ok(value) => {
                self.routes.direct.fetch_add(1, Ordering::Relaxed);
                Ok(value)
            }
            // The connection failed, or no reply came in time.
            Err(e) => {
                // A broken connection is made afresh after the back-off.
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                    self.routes.lost(&self.name, &self.node);
                }
                if self.idempotent {
                    return self.fall_back(cmd).await;
                }
                // It may have run, so it is not sent again.
                self.routes.refresh(&self.cluster);
                Err(e)
            }
        }
    }

    async fn fall_back(&mut self, cmd: &Cmd) -> redis::RedisResult<Value> {
        self.fell_back = true;
        self.routes.refresh(&self.cluster);
        self.cluster.req_packed_command(cmd).await
    }

    /// The cluster connection behind, for what does not go straight (pipelines).
    pub(super) fn cluster(&mut self) -> &mut ClusterConnection {
        &mut self.cluster
    }

    pub(super) fn db(&self) -> i64 {
        self.cluster.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::slot_of;

    #[test]
    fn slots_are_those_redis_computes() {
        // Values from CLUSTER KEYSLOT on Redis 7.0.
        assert_eq!(slot_of("foo"), 12_182);
        assert_eq!(slot_of("{user1000}.following"), 3_443);
        assert_eq!(slot_of("user1000"), 3_443);
        assert_eq!(slot_of("foo{}{bar}"), 8_363);
        assert_eq!(slot_of("foo{{bar}}zap"), 4_015);
        assert_eq!(slot_of("foo{bar}{zap}"), 5_061);
        assert_eq!(slot_of("strata:user:{42}:sessions"), slot_of("42"));
    }
}
