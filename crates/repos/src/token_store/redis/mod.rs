//! The Redis token store: the store and its keys here, the connections in `connection`
//! (on a cluster, redis-rs's cluster client routes every command; the checks that ask
//! every primary are in `primaries`), one module per contract (`sessions`, `counters`,
//! `challenges`), each Lua script in a file of its own under `lua/`.
//!
//! Keys (`P` is the configured prefix); every key of one user carries the user's hash tag:
//! - `P user:{<uid>}:session:<sid>`: a hash with the session record; it expires with the
//!   refresh token.
//! - `P user:{<uid>}:sessions`: a sorted set of the user's session ids, scored by their end.
//! - `P user:{<uid>}:generation`: raised by every revoke-all; a login begun before it may
//!   not create its session.
//! - `P rate:{<digest>}` and `P mfa:{<digest>}`: a counter and a waiting sign-in, each in
//!   a slot of its own.
//!
//! Each atomic operation touches one slot, so the layout works unchanged on Redis Cluster.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis::{self, RedisResult, Script};

use super::{PairState, RateCount};
use crate::RepoError;

mod challenges;
mod connection;
mod counters;
mod marks;
mod primaries;
mod sessions;
mod single_use;

pub use connection::RedisStats;
use connection::{Conn, Connections};

/// The Lua scripts, one file each under `lua/`: each runs atomically on one key.
const ROTATE: &str = include_str!("../lua/rotate.lua");
const REVOKE: &str = include_str!("../lua/revoke.lua");
const LOGOUT: &str = include_str!("../lua/logout.lua");
const HIT: &str = include_str!("../lua/rate_hit.lua");
const FORGIVE: &str = include_str!("../lua/rate_forgive.lua");
const CHALLENGE: &str = include_str!("../lua/challenge_try.lua");
const CREATE: &str = include_str!("../lua/create_session.lua");
const REVOKE_ALL: &str = include_str!("../lua/revoke_all.lua");
const LIST: &str = include_str!("../lua/list.lua");
const MARK: &str = include_str!("../lua/mark_write.lua");
const SINGLE_PUT: &str = include_str!("../lua/single_put.lua");
const SINGLE_TAKE: &str = include_str!("../lua/single_take.lua");

/// How long a user's generation is kept after a revoke-all: far longer than any login or
/// sign-in waiting for its second factor (5 minutes) takes.
const GENERATION_TTL_MS: u64 = 3_600_000;

/// Connection settings for [`RedisTokenStore`].
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://` or `rediss://` URL (may hold a password: never logged).
    pub url: String,
    /// Seed nodes of a Redis Cluster; when set, `url` is not used.
    pub cluster_urls: Vec<String>,
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
            .field(
                "cluster_urls",
                &self
                    .cluster_urls
                    .iter()
                    .map(|u| db::redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// A token store in Redis, shared by every instance of the service.
#[derive(Clone)]
pub struct RedisTokenStore {
    conn: Connections,
    prefix: Arc<str>,
    rotate: Arc<Script>,
    revoke: Arc<Script>,
    logout: Arc<Script>,
    forgive: Arc<Script>,
    challenge: Arc<Script>,
    create: Arc<Script>,
    revoke_all: Arc<Script>,
    list: Arc<Script>,
    mark: Arc<Script>,
    single_put: Arc<Script>,
    single_take: Arc<Script>,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTokenStore {
    /// Prepares the store; no connection is made until first use (see [`Self::ping`]).
    pub fn new(options: &RedisOptions) -> Result<Self, RepoError> {
        Ok(Self {
            conn: Connections::new(options)?,
            prefix: options.key_prefix.as_str().into(),
            rotate: Arc::new(Script::new(ROTATE)),
            revoke: Arc::new(Script::new(REVOKE)),
            logout: Arc::new(Script::new(LOGOUT)),
            forgive: Arc::new(Script::new(FORGIVE)),
            challenge: Arc::new(Script::new(CHALLENGE)),
            create: Arc::new(Script::new(CREATE)),
            revoke_all: Arc::new(Script::new(REVOKE_ALL)),
            list: Arc::new(Script::new(LIST)),
            mark: Arc::new(Script::new(MARK)),
            single_put: Arc::new(Script::new(SINGLE_PUT)),
            single_take: Arc::new(Script::new(SINGLE_TAKE)),
        })
    }

    // Every key of one user carries the user's hash tag, `{<user id>}`: their sessions,
    // the index of them, and their generation live in one slot, so each operation on a
    // user's sessions is one atomic script, on one Redis or on a cluster.

    /// `<prefix>user:{<uid>}:session:<sid>`, built without `format!` (every request makes one).
    fn session_key(&self, user_id: &str, session_id: &str) -> String {
        self.key(&["user:{", user_id, "}:session:", session_id])
    }

    /// What a session key of the user starts with (the scripts append the id).
    fn session_prefix(&self, user_id: &str) -> String {
        self.key(&["user:{", user_id, "}:session:"])
    }

    fn user_key(&self, user_id: &str) -> String {
        self.key(&["user:{", user_id, "}:sessions"])
    }

    fn generation_key(&self, user_id: &str) -> String {
        self.key(&["user:{", user_id, "}:generation"])
    }

    /// `<prefix>user:{<uid>}:wrote`: the user's last write position.
    fn mark_key(&self, user_id: &str) -> String {
        self.key(&["user:{", user_id, "}:wrote"])
    }

    /// `<prefix>once:{<kind>}:<key>`: a single-use record, in its kind's slot.
    fn single_key(&self, kind: &str, key: &str) -> String {
        self.key(&["once:{", kind, "}:", key])
    }

    /// `<prefix>once:{<kind>}`: the kind's live records, by when they lapse.
    fn single_index(&self, kind: &str) -> String {
        self.key(&["once:{", kind, "}"])
    }

    /// `<prefix>rate:{<digest of the name>}`: fixed-size, whatever the name.
    fn rate_key(&self, name: &str) -> String {
        self.key(&["rate:{", &super::counter_digest(name), "}"])
    }

    fn challenge_key(&self, digest: &str) -> String {
        self.key(&["mfa:{", digest, "}"])
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
        let mut info = redis::cmd("INFO");
        info.arg("server");
        let replies = match self.on_every_primary("info", info).await {
            Ok(replies) => replies,
            Err(RepoError::TokenStore(e)) => {
                tracing::warn!(error = %e, "cannot ask Redis its version; it must be 7 or later");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let texts: Vec<String> = replies
            .into_iter()
            .filter_map(|text| redis::from_redis_value(text).ok())
            .collect();
        if texts.is_empty() {
            tracing::warn!("Redis did not say its version; it must be 7 or later");
        }
        for info in &texts {
            match server_major_version(info) {
                Some((major, _)) if major >= 7 => {}
                Some((_, version)) => {
                    return Err(RepoError::TokenStore(format!(
                        "Redis {version} is too old: strata needs Redis 7 or later (PEXPIRE NX/GT)"
                    )))
                }
                None => tracing::warn!("Redis did not say its version; it must be 7 or later"),
            }
        }
        Ok(())
    }

    /// Proves the store answers: on a cluster, every primary of its slot map.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.on_every_primary("ping", redis::cmd("PING"))
            .await
            .map(drop)
    }

    /// How the connection is used right now.
    pub fn stats(&self) -> RedisStats {
        self.conn.stats()
    }

    /// Runs one command on this thread's connection (see [`Connections::run`]).
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, RepoError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.conn.run(op, f).await
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
