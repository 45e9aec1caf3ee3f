//! The token store, as little of it as strata's routes need: one `HMGET` per authenticated
//! request, one pipeline per login, one script per refresh, on strata's key layout
//! (`<prefix>user:{<uid>}:session:<sid>`, `<prefix>user:{<uid>}:sessions`).
//!
//! Redis connections: `shared` is one multiplexed connection made at start-up (driven on
//! the main thread), as strata does; `per-worker` gives each actix worker its own, made on
//! first use and driven on that worker's thread (no cross-thread wake-up per command).
//! Without `REDIS_URL` the store is a map in memory, filled on first sight of a session
//! (the stand-in for strata's in-memory store, whose sessions the floor cannot see).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncConnectionConfig, Script};

/// strata's rotate script itself: KEYS[1] session; ARGV: presented jti, new access jti,
/// new refresh jti, now (ms), grace (ms), access ttl (s), refresh ttl (s).
const ROTATE: &str = include_str!("../../../crates/repos/src/token_store/lua/rotate.lua");

/// The times and ids of a token pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub access_jti: String,
    pub refresh_jti: String,
    pub iat: i64,
    pub aexp: i64,
    pub rexp: i64,
}

/// What a refresh found.
pub enum Rotation {
    /// Rotated, or the previous token within the grace: sign this pair for this user.
    Pair(String, Pair),
    /// Unknown, expired, or reused (and now revoked).
    Refused,
}

/// A rotation request.
pub struct Rotate<'a> {
    pub uid: &'a str,
    pub sid: &'a str,
    pub presented: &'a str,
    pub new_access: &'a str,
    pub new_refresh: &'a str,
    pub now_ms: i64,
    pub grace_ms: i64,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
}

/// A session of the in-memory stand-in.
#[derive(Clone)]
pub struct MemSession {
    uid: String,
    ajti: String,
    rjti: String,
    prjti: String,
    rot_ms: i64,
    pair: Option<Pair>,
    cap: i64,
}

thread_local! {
    static WORKER_CONN: RefCell<Option<MultiplexedConnection>> = const { RefCell::new(None) };
}

/// Where sessions live (one per process, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
pub enum Store {
    Redis {
        client: redis::Client,
        shared: Option<MultiplexedConnection>,
        prefix: String,
        rotate: Script,
    },
    Memory(RwLock<HashMap<String, MemSession>>),
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// strata's default `REDIS_TIMEOUT` (2 s) for connecting and for each reply.
fn config() -> AsyncConnectionConfig {
    let two = Some(std::time::Duration::from_secs(2));
    AsyncConnectionConfig::new()
        .set_connection_timeout(two)
        .set_response_timeout(two)
}

impl Store {
    /// Connects (in `shared` mode) or prepares (in `per-worker` mode) the Redis store.
    pub async fn redis(url: &str, prefix: &str, per_worker: bool) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(err)?;
        let shared = if per_worker {
            None
        } else {
            Some(
                client
                    .get_multiplexed_async_connection_with_config(&config())
                    .await
                    .map_err(err)?,
            )
        };
        Ok(Store::Redis {
            client,
            shared,
            prefix: prefix.to_owned(),
            rotate: Script::new(ROTATE),
        })
    }

    /// The in-memory stand-in.
    pub fn memory() -> Self {
        Store::Memory(RwLock::new(HashMap::new()))
    }

    async fn conn(
        client: &redis::Client,
        shared: &Option<MultiplexedConnection>,
    ) -> Result<MultiplexedConnection, String> {
        if let Some(c) = shared {
            return Ok(c.clone());
        }
        if let Some(c) = WORKER_CONN.with(|w| w.borrow().clone()) {
            return Ok(c);
        }
        let fresh = client
            .get_multiplexed_async_connection_with_config(&config())
            .await
            .map_err(err)?;
        WORKER_CONN.with(|w| *w.borrow_mut() = Some(fresh.clone()));
        Ok(fresh)
    }

    /// One round trip: the session's user if `jti` is its current access token.
    pub async fn authenticate(
        &self,
        sid: &str,
        jti: &str,
        sub: &str,
    ) -> Result<Option<String>, String> {
        match self {
            Store::Redis {
                client,
                shared,
                prefix,
                ..
            } => {
                let mut c = Self::conn(client, shared).await?;
                let (uid, ajti): (Option<String>, Option<String>) = redis::cmd("HMGET")
                    .arg(format!("{prefix}user:{{{sub}}}:session:{sid}"))
                    .arg("uid")
                    .arg("ajti")
                    .query_async(&mut c)
                    .await
                    .map_err(err)?;
                Ok(match (uid, ajti) {
                    (Some(uid), Some(ajti)) if ajti == jti => Some(uid),
                    _ => None,
                })
            }
            Store::Memory(map) => {
                if let Some(s) = map.read().map_err(err)?.get(sid) {
                    return Ok((s.ajti == jti).then(|| s.uid.clone()));
                }
                let mut w = map.write().map_err(err)?;
                let s = w.entry(sid.to_owned()).or_insert_with(|| MemSession {
                    uid: sub.to_owned(),
                    ajti: jti.to_owned(),
                    rjti: String::new(),
                    prjti: String::new(),
                    rot_ms: 0,
                    pair: None,
                    cap: i64::MAX,
                });
                Ok((s.ajti == jti).then(|| s.uid.clone()))
            }
        }
    }

    /// Records a new session: strata's login pipeline, one round trip.
    pub async fn create_session(
        &self,
        sid: &str,
        uid: &str,
        pair: &Pair,
        cap: i64,
    ) -> Result<(), String> {
        match self {
            Store::Redis {
                client,
                shared,
                prefix,
                ..
            } => {
                let mut c = Self::conn(client, shared).await?;
                let session_key = format!("{prefix}user:{{{uid}}}:session:{sid}");
                let user_key = format!("{prefix}user:{{{uid}}}:sessions");
                let mut pipe = redis::pipe();
                pipe.cmd("ZREMRANGEBYSCORE")
                    .arg(&user_key)
                    .arg("-inf")
                    .arg(pair.iat)
                    .ignore()
                    .cmd("ZADD")
                    .arg(&user_key)
                    .arg(cap)
                    .arg(sid)
                    .ignore()
                    .cmd("PEXPIREAT")
                    .arg(&user_key)
                    .arg(cap * 1000)
                    .arg("NX")
                    .ignore()
                    .cmd("PEXPIREAT")
                    .arg(&user_key)
                    .arg(cap * 1000)
                    .arg("GT")
                    .ignore()
                    .cmd("HSET")
                    .arg(&session_key)
                    .arg(&[
                        ("uid", uid),
                        ("ajti", &pair.access_jti),
                        ("rjti", &pair.refresh_jti),
                        ("prjti", ""),
                        ("rot", "0"),
                    ])
                    .arg(&[
                        ("iat", pair.iat),
                        ("aexp", pair.aexp),
                        ("rexp", pair.rexp),
                        ("cap", cap),
                        ("created", pair.iat),
                    ])
                    .arg(&[("ua", ""), ("ip", "127.0.0.1")])
                    .ignore()
                    .cmd("PEXPIREAT")
                    .arg(&session_key)
                    .arg(pair.rexp * 1000)
                    .ignore();
                pipe.query_async::<()>(&mut c).await.map_err(err)
            }
            Store::Memory(map) => {
                map.write().map_err(err)?.insert(
                    sid.to_owned(),
                    MemSession {
                        uid: uid.to_owned(),
                        ajti: pair.access_jti.clone(),
                        rjti: pair.refresh_jti.clone(),
                        prjti: String::new(),
                        rot_ms: 0,
                        pair: Some(pair.clone()),
                        cap,
                    },
                );
                Ok(())
            }
        }
    }

    /// strata's rotation: one script call on one key.
    pub async fn rotate(&self, r: &Rotate<'_>) -> Result<Rotation, String> {
        match self {
            Store::Redis {
                client,
                shared,
                prefix,
                rotate,
            } => {
                let mut c = Self::conn(client, shared).await?;
                let reply: Vec<String> = rotate
                    .key(format!("{prefix}user:{{{}}}:session:{}", r.uid, r.sid))
                    .key(format!("{prefix}user:{{{}}}:sessions", r.uid))
                    .arg(r.presented)
                    .arg(r.new_access)
                    .arg(r.new_refresh)
                    .arg(r.now_ms)
                    .arg(r.grace_ms)
                    .arg(r.access_ttl)
                    .arg(r.refresh_ttl)
                    .arg(r.sid)
                    .invoke_async(&mut c)
                    .await
                    .map_err(err)?;
                let num = |i: usize| reply.get(i).and_then(|v| v.parse::<i64>().ok());
                match (reply.first().map(String::as_str), reply.get(1)) {
                    (Some("rotated" | "grace"), Some(uid)) => {
                        match (reply.get(2), reply.get(3), num(4), num(5), num(6)) {
                            (Some(a), Some(f), Some(iat), Some(aexp), Some(rexp)) => {
                                Ok(Rotation::Pair(
                                    uid.clone(),
                                    Pair {
                                        access_jti: a.clone(),
                                        refresh_jti: f.clone(),
                                        iat,
                                        aexp,
                                        rexp,
                                    },
                                ))
                            }
                            _ => Err(format!("short rotate reply {reply:?}")),
                        }
                    }
                    _ => Ok(Rotation::Refused),
                }
            }
            Store::Memory(map) => {
                let mut w = map.write().map_err(err)?;
                let Some(s) = w.get_mut(r.sid) else {
                    return Ok(Rotation::Refused);
                };
                if s.rjti == r.presented {
                    let iat = r.now_ms / 1000;
                    let pair = Pair {
                        access_jti: r.new_access.to_owned(),
                        refresh_jti: r.new_refresh.to_owned(),
                        iat,
                        aexp: (iat + r.access_ttl).min(s.cap),
                        rexp: (iat + r.refresh_ttl).min(s.cap),
                    };
                    s.prjti = std::mem::take(&mut s.rjti);
                    s.rjti = pair.refresh_jti.clone();
                    s.ajti = pair.access_jti.clone();
                    s.rot_ms = r.now_ms;
                    s.pair = Some(pair.clone());
                    return Ok(Rotation::Pair(s.uid.clone(), pair));
                }
                if s.prjti == r.presented && r.now_ms - s.rot_ms <= r.grace_ms {
                    if let Some(pair) = s.pair.clone() {
                        return Ok(Rotation::Pair(s.uid.clone(), pair));
                    }
                }
                w.remove(r.sid);
                Ok(Rotation::Refused)
            }
        }
    }
}
