//! The Redis token store.
//!
//! Keys (`P` is the configured prefix):
//! - `P session:{<sid>}`: a hash with the session record; it expires with the refresh token.
//! - `P user:{<uid>}:sessions`: a sorted set of the user's session ids, scored by their end.
//! - `P rate:{<digest>}`: a failed-attempt counter, named by a digest of its name.
//!
//! Each atomic operation touches one key, so the layout works unchanged on Redis Cluster.
//!
//! One multiplexed connection per thread is shared by that thread's requests and replaced
//! when it breaks.
//! deadpool-redis creates it (with its timeouts), but is not asked for a connection per
//! request: its recycle check (UNWATCH + PING) would double the cost of every command.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncConnectionConfig, RedisError, RedisResult, Script};
use deadpool_redis::{Manager, Pool, Runtime};

use tracing::Instrument;

use super::{NewSession, PairState, RateCount, Rotation, RotationRequest, SessionInfo, TokenStore};
use crate::RepoError;

/// The Lua scripts, one file each under `lua/`: each runs atomically on one key.
const ROTATE: &str = include_str!("lua/rotate.lua");
const REVOKE: &str = include_str!("lua/revoke.lua");
const LOGOUT: &str = include_str!("lua/logout.lua");
const HIT: &str = include_str!("lua/rate_hit.lua");
const FORGIVE: &str = include_str!("lua/rate_forgive.lua");

/// Connection settings for [`RedisTokenStore`].
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://` or `rediss://` URL (may hold a password: never logged).
    pub url: String,
    /// Prefix of every key, e.g. `strata:`.
    pub key_prefix: String,
    /// Longest wait for a new connection.
    pub connect_timeout: Duration,
    /// Longest wait for one command's reply before the store counts as unavailable.
    pub command_timeout: Duration,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &db::redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// One thread's connection to one store.
struct ThreadConnection {
    /// Tells this connection from a newer one, so that a failing request only drops the
    /// connection it used.
    generation: u64,
    conn: MultiplexedConnection,
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

/// A token store in Redis, shared by every instance of the service.
#[derive(Clone)]
pub struct RedisTokenStore {
    pool: Pool,
    /// Tells this store's connections apart from another store's on the same thread.
    id: u64,
    prefix: Arc<str>,
    command_timeout: Duration,
    rotate: Arc<Script>,
    revoke: Arc<Script>,
    logout: Arc<Script>,
    forgive: Arc<Script>,
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

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
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

impl RedisTokenStore {
    /// Prepares the store; no connection is made until first use (see [`TokenStore::ping`]).
    pub fn new(options: &RedisOptions) -> Result<Self, RepoError> {
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
        Ok(Self {
            pool,
            id: rand_generation(),
            prefix: options.key_prefix.as_str().into(),
            command_timeout: options.command_timeout,
            rotate: Arc::new(Script::new(ROTATE)),
            revoke: Arc::new(Script::new(REVOKE)),
            logout: Arc::new(Script::new(LOGOUT)),
            forgive: Arc::new(Script::new(FORGIVE)),
            stats: Arc::new(Counters::default()),
        })
    }

    /// `<prefix>session:{<id>}`, built without `format!` (every request makes one).
    fn session_key(&self, session_id: &str) -> String {
        self.key(&["session:{", session_id, "}"])
    }

    fn user_key(&self, user_id: &str) -> String {
        self.key(&["user:{", user_id, "}:sessions"])
    }

    /// `<prefix>rate:{<digest of the name>}`: fixed-size, whatever the name.
    fn rate_key(&self, name: &str) -> String {
        self.key(&["rate:{", &super::counter_digest(name), "}"])
    }

    fn key(&self, parts: &[&str]) -> String {
        let len = self.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut key = String::with_capacity(len);
        key.push_str(&self.prefix);
        parts.iter().for_each(|p| key.push_str(p));
        key
    }

    /// Refuses a server older than Redis 7, which would turn down the `PEXPIRE … NX` and
    /// `GT` the store sets expiries with: every login would fail. Called once at start-up.
    /// A server that does not say its version (`INFO` renamed away, a look-alike) is let
    /// through with a warning.
    pub async fn check_server_version(&self) -> Result<(), RepoError> {
        let info = self
            .run("info", |mut c| async move {
                redis::cmd("INFO")
                    .arg("server")
                    .query_async::<String>(&mut c)
                    .await
            })
            .await;
        let info = match info {
            Ok(info) => info,
            Err(RepoError::TokenStore(e)) => {
                tracing::warn!(error = %e, "cannot ask Redis its version; it must be 7 or later");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match server_major_version(&info) {
            Some((major, _)) if major >= 7 => Ok(()),
            Some((_, version)) => Err(RepoError::TokenStore(format!(
                "Redis {version} is too old: strata needs Redis 7 or later (PEXPIRE NX/GT)"
            ))),
            None => {
                tracing::warn!("Redis did not say its version; it must be 7 or later");
                Ok(())
            }
        }
    }

    /// How the connection is used right now.
    pub fn stats(&self) -> RedisStats {
        RedisStats {
            in_flight: self.stats.in_flight.load(Ordering::Relaxed),
            waiting: self.stats.waiting.load(Ordering::Relaxed),
            connections: self.stats.connections.load(Ordering::Relaxed),
        }
    }

    /// This thread's connection, made (through the pool's timeouts) if there is none.
    async fn connection(&self) -> Result<(u64, MultiplexedConnection), RepoError> {
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
        let made = self.pool.get().await;
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let fresh = deadpool_redis::Connection::take(made.map_err(unavailable)?);
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

    fn discard(&self, generation: u64) {
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
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, RepoError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
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

impl RedisTokenStore {
    /// Drops a deleted session from its user's index.
    async fn unindex(
        &self,
        user_id: &str,
        session_id: &str,
        op: &'static str,
    ) -> Result<(), RepoError> {
        let user_key = self.user_key(user_id);
        self.run(op, |mut c| async move {
            redis::cmd("ZREM")
                .arg(&user_key)
                .arg(session_id)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }
}

/// The major version and the whole `redis_version` line of an `INFO server` reply.
fn server_major_version(info: &str) -> Option<(u32, &str)> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))?
        .trim();
    let major = version.split('.').next()?.parse().ok()?;
    Some((major, version))
}

fn rand_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn parse_i64(s: Option<&String>) -> Result<i64, RepoError> {
    s.and_then(|v| v.parse().ok())
        .ok_or_else(|| RepoError::TokenStore("malformed session record".into()))
}

/// Reads `[kind, uid, ajti, rjti, iat, aexp, rexp]` as returned by the rotate script.
fn parse_pair(reply: &[String]) -> Result<(String, PairState), RepoError> {
    let get = |i: usize| {
        reply
            .get(i)
            .cloned()
            .ok_or_else(|| RepoError::TokenStore("short rotate reply".into()))
    };
    Ok((
        get(1)?,
        PairState {
            access_jti: get(2)?,
            refresh_jti: get(3)?,
            issued_at: parse_i64(reply.get(4))?,
            access_expires_at: parse_i64(reply.get(5))?,
            refresh_expires_at: parse_i64(reply.get(6))?,
        },
    ))
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl TokenStore for RedisTokenStore {
    async fn create_session(&self, s: &NewSession) -> Result<(), RepoError> {
        let session_key = self.session_key(&s.session_id);
        let user_key = self.user_key(&s.user_id);
        let end_ms = s.expires_at.saturating_mul(1000);
        let mut pipe = redis::pipe();
        // The index first: if the connection dies half-way, no session exists that
        // revoke-all could miss.
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&user_key)
            .arg("-inf")
            .arg(s.pair.issued_at)
            .ignore()
            .cmd("ZADD")
            .arg(&user_key)
            .arg(s.expires_at)
            .arg(&s.session_id)
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&user_key)
            .arg(end_ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&user_key)
            .arg(end_ms)
            .arg("GT")
            .ignore()
            .cmd("HSET")
            .arg(&session_key)
            .arg("uid")
            .arg(&s.user_id)
            .arg("ajti")
            .arg(&s.pair.access_jti)
            .arg("rjti")
            .arg(&s.pair.refresh_jti)
            .arg("prjti")
            .arg("")
            .arg("rot")
            .arg(0)
            .arg("iat")
            .arg(s.pair.issued_at)
            .arg("aexp")
            .arg(s.pair.access_expires_at)
            .arg("rexp")
            .arg(s.pair.refresh_expires_at)
            .arg("cap")
            .arg(s.expires_at)
            .arg("created")
            .arg(s.pair.issued_at)
            .arg("ua")
            .arg(s.user_agent.as_deref().unwrap_or(""))
            .arg("ip")
            .arg(s.ip.as_deref().unwrap_or(""))
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&session_key)
            .arg(s.pair.refresh_expires_at.saturating_mul(1000))
            .ignore();
        self.run("create_session", |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    async fn authenticate(
        &self,
        session_id: &str,
        access_jti: &str,
    ) -> Result<Option<String>, RepoError> {
        let key = self.session_key(session_id);
        let (uid, ajti): (Option<String>, Option<String>) = self
            .run("authenticate", |mut c| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("uid")
                    .arg("ajti")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(match (uid, ajti) {
            (Some(uid), Some(ajti)) if ajti == access_jti => Some(uid),
            _ => None,
        })
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<Rotation, RepoError> {
        let key = self.session_key(&r.session_id);
        let grace_ms = u64::try_from(r.grace.as_millis()).unwrap_or(u64::MAX);
        let script = Arc::clone(&self.rotate);
        let reply: Vec<String> = self
            .run("rotate", |mut c| async move {
                script
                    .key(&key)
                    .arg(&r.presented_jti)
                    .arg(&r.new_access_jti)
                    .arg(&r.new_refresh_jti)
                    .arg(r.now_ms)
                    .arg(grace_ms)
                    .arg(secs(r.access_ttl))
                    .arg(secs(r.refresh_ttl))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match reply.first().map(String::as_str) {
            Some("missing") => Ok(Rotation::Missing),
            Some("rotated") => {
                parse_pair(&reply).map(|(user_id, pair)| Rotation::Rotated { user_id, pair })
            }
            Some("grace") => {
                parse_pair(&reply).map(|(user_id, pair)| Rotation::Grace { user_id, pair })
            }
            Some("reused") => {
                let user_id = reply.get(1).cloned().unwrap_or_default();
                // The session is gone; tidy the index (a hint only, so a failure is logged, not fatal).
                let user_key = self.user_key(&user_id);
                let sid = r.session_id.clone();
                if let Err(e) = self
                    .run("rotate", |mut c| async move {
                        redis::cmd("ZREM")
                            .arg(&user_key)
                            .arg(&sid)
                            .query_async::<()>(&mut c)
                            .await
                    })
                    .await
                {
                    tracing::warn!(error = %e, "could not drop a reused session from its user's index");
                }
                Ok(Rotation::Reused { user_id })
            }
            _ => Err(RepoError::TokenStore(format!(
                "unexpected rotate reply {reply:?}"
            ))),
        }
    }

    async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        let key = self.session_key(session_id);
        let script = Arc::clone(&self.revoke);
        let deleted: i64 = self
            .run("revoke", |mut c| async move {
                script.key(&key).arg(user_id).invoke_async(&mut c).await
            })
            .await?;
        if deleted > 0 {
            self.unindex(user_id, session_id, "revoke").await?;
        }
        Ok(deleted > 0)
    }

    async fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> Result<bool, RepoError> {
        let key = self.session_key(session_id);
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        let script = Arc::clone(&self.logout);
        let deleted: i64 = self
            .run("logout", |mut c| async move {
                script
                    .key(&key)
                    .arg(user_id)
                    .arg(access_jti)
                    .arg(grace_ms)
                    .arg(now_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if deleted > 0 {
            self.unindex(user_id, session_id, "logout").await?;
        }
        Ok(deleted > 0)
    }

    async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, RepoError> {
        let user_key = self.user_key(user_id);
        let ids: Vec<String> = {
            let key = user_key.clone();
            self.run("revoke_all", |mut c| async move {
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut c)
                    .await
            })
            .await?
        };
        let doomed: Vec<&String> = ids.iter().filter(|id| Some(id.as_str()) != keep).collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for id in &doomed {
            // One DEL per key: keys of different sessions may live on different cluster nodes.
            pipe.cmd("DEL").arg(self.session_key(id));
        }
        for id in &doomed {
            pipe.cmd("ZREM").arg(&user_key).arg(id.as_str()).ignore();
        }
        let deleted: Vec<i64> = self
            .run("revoke_all", |mut c| async move {
                pipe.query_async(&mut c).await
            })
            .await?;
        Ok(deleted.iter().filter(|n| **n > 0).count())
    }

    async fn list(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>, RepoError> {
        let user_key = self.user_key(user_id);
        let ids: Vec<String> = self
            .run("list", |mut c| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&user_key)
                    .arg(format!("({now}"))
                    .arg("+inf")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.session_key(id))
                .arg(&["uid", "created", "iat", "cap", "ua", "ip"]);
        }
        type Fields = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Fields> = self
            .run(
                "list",
                |mut c| async move { pipe.query_async(&mut c).await },
            )
            .await?;
        let mut out = Vec::new();
        for (id, (uid, created, iat, cap, ua, ip)) in ids.into_iter().zip(rows) {
            if uid.as_deref() != Some(user_id) {
                continue; // expired or revoked since the index was read
            }
            out.push(SessionInfo {
                session_id: id,
                user_id: user_id.to_owned(),
                created_at: parse_i64(created.as_ref())?,
                refreshed_at: parse_i64(iat.as_ref())?,
                expires_at: parse_i64(cap.as_ref())?,
                user_agent: ua.filter(|v| !v.is_empty()),
                ip: ip.filter(|v| !v.is_empty()),
            });
        }
        out.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        Ok(out)
    }

    async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        let mut pipe = redis::pipe();
        for k in keys {
            let key = self.rate_key(k);
            pipe.cmd("GET")
                .arg(&key)
                .cmd("PTTL")
                .arg(&key)
                .cmd("PEXPIRETIME")
                .arg(&key);
        }
        let replies: Vec<(Option<u64>, i64, i64)> = self
            .run("rate_peek", |mut c| async move {
                pipe.query_async(&mut c).await
            })
            .await?;
        Ok(replies
            .into_iter()
            .map(|(count, ttl, ends)| rate_count(count.unwrap_or(0), ttl, ends))
            .collect())
    }

    async fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<RateCount>, RepoError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        // One script per counter (each is its own hash slot): the count and the window it
        // landed in are read in the same atomic step, never across a window's end.
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("EVAL")
                .arg(HIT)
                .arg(1)
                .arg(self.rate_key(k))
                .arg(window_ms);
        }
        let replies: Vec<(u64, i64, i64)> = self
            .run(
                "rate_hit",
                |mut c| async move { pipe.query_async(&mut c).await },
            )
            .await?;
        Ok(replies
            .into_iter()
            .map(|(count, ttl, ends)| rate_count(count, ttl, ends))
            .collect())
    }

    async fn rate_clear(&self, key: &str) -> Result<(), RepoError> {
        let key = self.rate_key(key);
        self.run("rate_clear", |mut c| async move {
            redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await
        })
        .await
    }

    async fn rate_forgive(&self, key: &str, window: u64) -> Result<(), RepoError> {
        let key = self.rate_key(key);
        let script = Arc::clone(&self.forgive);
        self.run("rate_forgive", |mut c| async move {
            script
                .key(&key)
                .arg(window)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.run("ping", |mut c| async move {
            redis::cmd("PING").query_async::<()>(&mut c).await
        })
        .await
    }
}

/// A counter from its value, `PTTL` and `PEXPIRETIME` (unix ms, the window's id; negative
/// when there is no key or no expiry).
fn rate_count(count: u64, pttl: i64, ends_at_ms: i64) -> RateCount {
    RateCount {
        count,
        resets_in: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
        window: u64::try_from(ends_at_ms).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::server_major_version;

    #[test]
    fn the_server_version_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";
        assert_eq!(server_major_version(info), Some((7, "7.0.15")));
        let old = "# Server\r\nredis_version:6.2.14\r\n";
        assert_eq!(server_major_version(old), Some((6, "6.2.14")));
        assert_eq!(
            server_major_version("# Server\r\nredis_mode:standalone\r\n"),
            None
        );
        assert_eq!(server_major_version("redis_version:x.y\r\n"), None);
    }
}
