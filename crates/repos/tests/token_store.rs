//! The token-store contract (DESIGN.md section 4): one set of cases, run on the in-memory
//! store and on Redis (`STRATA_TEST_REDIS_URL`, default the local server, with a random key
//! prefix whose keys are deleted after the suite). Redis also gets two cases of its own:
//! the key layout, and failing closed then recovering when the server restarts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_redis::redis::{self, aio::MultiplexedConnection};
use libtest_mimic::Trial;
use repos::token_store::RateCount;
use repos::{
    AnyTokenStore, ChallengeTry, MemoryTokenStore, NewSession, PairState, RateCounters,
    RedisOptions, RedisTokenStore, RepoError, Rotation, RotationRequest, SessionInfo, SessionStore,
    SignInChallenge, SignInChallenges, SingleUse, WriteMarks,
};
use testkit::{random_name, run_suite, trial, Plan, Prepared, SetupError};
use tokio::runtime::Runtime;

// The harness the e2e and fault suites use too (the root package's tests/support).
/// Trials of `suite`, each named by its function: `contract_cases![s; a, b]`.
macro_rules! contract_cases {
    ($suite:expr; $($case:ident),* $(,)?) => {
        vec![$($suite.case(stringify!($case), $case)),*]
    };
}

#[path = "token_store/challenges.rs"]
mod challenges;
#[path = "token_store/counters.rs"]
mod counters;
#[path = "token_store/in_memory.rs"]
mod in_memory;
#[path = "token_store/logout.rs"]
mod logout;
#[path = "token_store/marks.rs"]
mod marks;
#[path = "token_store/on_redis.rs"]
mod on_redis;
#[path = "token_store/revocation.rs"]
mod revocation;
#[path = "token_store/rotation.rs"]
mod rotation;
#[path = "token_store/sessions.rs"]
mod sessions;
#[path = "token_store/single_use.rs"]
mod single_use;

#[path = "../../../tests/support/redis_cluster.rs"]
#[allow(dead_code)]
mod cluster;
use cluster::PrivateCluster;

const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
const REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const SESSION_MAX: i64 = 30 * 24 * 3600;
const GRACE: Duration = Duration::from_secs(10);
const WINDOW: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    run_suite(
        "token store",
        vec![plan_memory(), plan_redis(), plan_cluster()],
    )
}

/// The contract on a private Redis Cluster of 3 primaries with a replica each.
fn plan_cluster() -> Plan {
    Plan {
        label: "redis cluster".to_owned(),
        before_suite: Box::new(|| {
            let rt = runtime()?;
            let cluster = PrivateCluster::start().map_err(SetupError::Unreachable)?;
            let store = RedisTokenStore::new(&RedisOptions {
                url: String::new(),
                cluster_urls: cluster.urls(),
                key_prefix: format!("{}:", random_name("strata_test")),
                connect_timeout: Duration::from_secs(2),
                command_timeout: Duration::from_secs(2),
            })
            .map_err(|e| SetupError::Failed(e.to_string()))?;
            rt.block_on(store.ping())
                .map_err(|e| SetupError::Failed(format!("the private cluster: {e}")))?;
            let version_check = store.clone();
            let suite = Suite {
                label: "redis cluster",
                rt,
                store: AnyTokenStore::Redis(store),
            };
            let mut trials = contract(&suite);
            trials.push(suite.case(
                "the_start_up_version_check_reads_every_primary",
                move |_| async move {
                    // INFO on a cluster answers a map of every primary to its text.
                    version_check
                        .check_server_version()
                        .await
                        .expect("Redis 7 on every primary");
                },
            ));
            let ports = cluster.ports.clone();
            trials.push(
                suite.case("scripts_run_on_nodes_that_forgot_them", move |store| {
                    scripts_run_on_nodes_that_forgot_them(store, ports)
                }),
            );
            let ports = cluster.ports.clone();
            trials.push(suite.case(
                "commands_follow_a_slot_that_moved_to_another_primary",
                move |store| commands_follow_a_slot_that_moved_to_another_primary(store, ports),
            ));
            Ok(Prepared {
                trials,
                guard: Box::new(cluster),
            })
        }),
    }
}

// ---------------------------------------------------------------------------------------
// BeforeSuite / AfterSuite

/// What every case of one plan shares.
#[derive(Clone)]
struct Suite {
    label: &'static str,
    rt: Arc<Runtime>,
    store: AnyTokenStore,
}

impl Suite {
    /// A case: `body` runs on the suite's runtime with its own handle to the store.
    fn case<F, Fut>(&self, name: &str, body: F) -> Trial
    where
        F: FnOnce(AnyTokenStore) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let rt = Arc::clone(&self.rt);
        let store = self.store.clone();
        trial(name, move || rt.block_on(body(store))).with_kind(self.label)
    }
}

fn runtime() -> Result<Arc<Runtime>, SetupError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| SetupError::Failed(format!("tokio runtime: {e}")))
}

fn plan_memory() -> Plan {
    Plan {
        label: "memory".to_owned(),
        before_suite: Box::new(|| {
            let rt = runtime()?;
            let suite = Suite {
                label: "memory",
                rt: Arc::clone(&rt),
                store: AnyTokenStore::Memory(MemoryTokenStore::new()),
            };
            let mut trials = contract(&suite);
            trials.push(suite.case(
                "in_memory::counters_past_the_cap_are_refused_until_expired_ones_are_swept",
                |_| in_memory::counters_past_the_cap_are_refused_until_expired_ones_are_swept(),
            ));
            Ok(Prepared {
                trials,
                guard: Box::new(rt),
            })
        }),
    }
}

fn redis_url() -> String {
    std::env::var("STRATA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn plan_redis() -> Plan {
    Plan {
        label: "redis".to_owned(),
        before_suite: Box::new(|| {
            let rt = runtime()?;
            let url = redis_url();
            let prefix = format!("{}:", random_name("strata_test"));
            let store = RedisTokenStore::new(&RedisOptions {
                url: url.clone(),
                cluster_urls: Vec::new(),
                key_prefix: prefix.clone(),
                connect_timeout: Duration::from_secs(2),
                command_timeout: Duration::from_secs(2),
            })
            .map_err(|e| SetupError::Failed(e.to_string()))?;
            let redacted = db::redact_url(&url);
            rt.block_on(store.ping()).map_err(|e| match e {
                RepoError::Unavailable { .. } => {
                    SetupError::Unreachable(format!("Redis at {redacted}: {e}"))
                }
                e => SetupError::Failed(format!("Redis at {redacted}: {e}")),
            })?;
            // From here on the guard exists, so the keys go even if a case fails.
            let guard = RedisGuard {
                rt: Arc::clone(&rt),
                url: url.clone(),
                prefix: prefix.clone(),
            };
            let suite = Suite {
                label: "redis",
                rt,
                store: AnyTokenStore::Redis(store),
            };
            let mut trials = contract(&suite);
            let (u, p) = (url.clone(), prefix.clone());
            trials.push(suite.case(
                "on_redis::keys_carry_the_prefix_and_the_users_hash_tag",
                move |store| on_redis::keys_carry_the_prefix_and_the_users_hash_tag(store, u, p),
            ));
            let u = url.clone();
            trials.push(suite.case(
                "on_redis::a_generation_whose_key_expired_never_comes_back",
                move |store| on_redis::a_generation_whose_key_expired_never_comes_back(store, u),
            ));
            trials.push(suite.case(
                "on_redis::a_dropped_stores_connection_closes_when_the_thread_next_connects",
                |_| on_redis::a_dropped_stores_connection_closes_when_the_thread_next_connects(),
            ));
            trials.push(suite.case(
                "on_redis::a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them",
                |_| on_redis::a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them(),
            ));
            trials.push(suite.case(
                "on_redis::fails_closed_while_the_server_is_down_and_recovers_after_a_restart",
                |_| on_redis::fails_closed_while_the_server_is_down_and_recovers_after_a_restart(),
            ));
            Ok(Prepared {
                trials,
                guard: Box::new(guard),
            })
        }),
    }
}

/// A freshly promoted replica has no script loaded: `SCRIPT FLUSH` on every node stands for
/// it, and every scripted operation still runs (loaded again on NOSCRIPT).
async fn scripts_run_on_nodes_that_forgot_them(store: AnyTokenStore, ports: Vec<u16>) {
    let users: Vec<NewSession> = (0..6).map(|_| login(&id())).collect();
    for s in &users {
        create(&store, s).await;
    }
    for port in &ports {
        let flushed = cluster::cli(*port, &["SCRIPT", "FLUSH"]).expect("redis-cli");
        assert!(flushed.contains("OK"), "SCRIPT FLUSH on {port}: {flushed}");
    }
    for s in &users {
        let r = refresh(s, &s.pair.refresh_jti, now_ms(), GRACE);
        let pair = rotated(&store, &r).await;
        assert_eq!(
            auth(&store, s, &pair.access_jti).await.as_deref(),
            Some(s.user_id.as_str())
        );
        assert_eq!(
            ids(&list(&store, &s.user_id).await),
            vec![s.session_id.as_str()]
        );
        assert!(store
            .revoke(&s.user_id, &s.session_id)
            .await
            .expect("revoke"));
    }
}

/// A slot handed to another primary (as resharding does): the cluster client, answered
/// `MOVED` by the old owner, follows it to the new one. The slot moves empty, the way
/// `redis-cli --cluster reshard` moves one (IMPORTING and MIGRATING, then the new owner on
/// every primary).
async fn commands_follow_a_slot_that_moved_to_another_primary(
    store: AnyTokenStore,
    ports: Vec<u16>,
) {
    let primaries: Vec<u16> = ports
        .iter()
        .copied()
        .filter(|p| {
            cluster::cli(*p, &["INFO", "replication"]).is_ok_and(|r| r.contains("role:master"))
        })
        .collect();
    let node = primaries[0];
    let slot_of = |user: &str| {
        let key = format!("user:{{{user}}}:probe");
        cluster::cli(node, &["CLUSTER", "KEYSLOT", &key])
            .expect("keyslot")
            .trim()
            .to_owned()
    };
    // A user whose slot holds no key of another case.
    let (s, slot) = std::iter::repeat_with(|| login(&id()))
        .map(|s| {
            let slot = slot_of(&s.user_id);
            (s, slot)
        })
        .find(|(_, slot)| {
            primaries.iter().all(|p| {
                cluster::cli(*p, &["CLUSTER", "COUNTKEYSINSLOT", slot])
                    .is_ok_and(|n| n.trim() == "0")
            })
        })
        .expect("an empty slot");
    // A primary answers for its own slots and redirects the others.
    let owns = |port: u16| {
        cluster::cli(port, &["EXISTS", &format!("user:{{{}}}:probe", s.user_id)])
            .is_ok_and(|r| !r.contains("MOVED"))
    };
    let old = *primaries
        .iter()
        .find(|p| owns(**p))
        .expect("the slot's owner");
    let new = *primaries
        .iter()
        .find(|p| **p != old)
        .expect("another primary");
    let id_of = |port: u16| {
        cluster::cli(port, &["CLUSTER", "MYID"])
            .expect("myid")
            .trim()
            .to_owned()
    };
    let (old_id, new_id) = (id_of(old), id_of(new));

    // The client knows the old owner before the slot moves.
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);

    let setslot = |port: u16, args: &[&str]| {
        let mut all = vec!["CLUSTER", "SETSLOT", slot.as_str()];
        all.extend_from_slice(args);
        let reply = cluster::cli(port, &all).expect("redis-cli");
        assert!(reply.contains("OK"), "SETSLOT {args:?} on {port}: {reply}");
    };
    setslot(new, &["IMPORTING", &old_id]);
    setslot(old, &["MIGRATING", &new_id]);
    setslot(new, &["NODE", &new_id]);
    for port in primaries.iter().filter(|p| **p != new) {
        setslot(*port, &["NODE", &new_id]);
    }
    assert!(!owns(old), "the old owner still serves the slot");

    create(&store, &s).await;
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str())
    );
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE)).await;
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str())
    );
}

/// AfterSuite for Redis: deletes every key under this run's prefix.
struct RedisGuard {
    rt: Arc<Runtime>,
    url: String,
    prefix: String,
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        let result = self.rt.block_on(async {
            let mut c = raw_connection(&self.url).await?;
            let keys = scan(&mut c, &format!("{}*", self.prefix)).await?;
            for chunk in keys.chunks(500) {
                redis::cmd("DEL")
                    .arg(chunk)
                    .query_async::<()>(&mut c)
                    .await?;
            }
            Ok::<_, redis::RedisError>(())
        });
        if let Err(e) = result {
            eprintln!("could not delete the keys under {}: {e}", self.prefix);
        }
    }
}

async fn raw_connection(url: &str) -> redis::RedisResult<MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

/// Every key matching `pattern` (SCAN, never KEYS).
async fn scan(c: &mut MultiplexedConnection, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The cases both stores must pass.
fn contract(s: &Suite) -> Vec<Trial> {
    let mut trials = Vec::new();
    trials.extend(sessions::cases(s));
    trials.extend(rotation::cases(s));
    trials.extend(revocation::cases(s));
    trials.extend(logout::cases(s));
    trials.extend(counters::cases(s));
    trials.extend(challenges::cases(s));
    trials.extend(marks::cases(s));
    trials.extend(single_use::cases(s));
    trials
}

// ---------------------------------------------------------------------------------------
// Helpers

fn counts(rates: &[RateCount]) -> Vec<u64> {
    rates.iter().map(|r| r.count).collect()
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("ms fit in i64")
}

fn now_s() -> i64 {
    now_ms().div_euclid(1000)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).expect("secs fit in i64")
}

/// A login of `user_id` now, with the default lifetimes.
fn login(user_id: &str) -> NewSession {
    login_at(user_id, now_s())
}

fn login_at(user_id: &str, issued_at: i64) -> NewSession {
    NewSession {
        session_id: id(),
        user_id: user_id.to_owned(),
        pair: PairState {
            access_jti: id(),
            refresh_jti: id(),
            issued_at,
            access_expires_at: issued_at + secs(ACCESS_TTL),
            refresh_expires_at: issued_at + secs(REFRESH_TTL),
        },
        expires_at: issued_at + SESSION_MAX,
        user_agent: Some("Mozilla/5.0 (contract test)".into()),
        ip: Some("203.0.113.7".into()),
        second_factor: false,
        method: "password".into(),
        generation: 0,
    }
}

/// Logs a fresh user in and returns the stored session.
async fn logged_in(store: &AnyTokenStore) -> NewSession {
    let session = login(&id());
    create(store, &session).await;
    session
}

async fn create(store: &AnyTokenStore, session: &NewSession) {
    let stored = store.create_session(session).await.expect("create_session");
    assert!(stored, "no revoke-all ran: the session is stored");
}

/// A refresh of session `s` presenting `presented` at `now_ms`, with fresh new jtis.
fn refresh(s: &NewSession, presented: &str, now_ms: i64, grace: Duration) -> RotationRequest {
    RotationRequest {
        user_id: s.user_id.clone(),
        session_id: s.session_id.clone(),
        presented_jti: presented.to_owned(),
        new_access_jti: id(),
        new_refresh_jti: id(),
        now_ms,
        access_ttl: ACCESS_TTL,
        refresh_ttl: REFRESH_TTL,
        grace,
    }
}

async fn rotate(store: &AnyTokenStore, request: &RotationRequest) -> Rotation {
    store.rotate(request).await.expect("rotate")
}

/// Rotates the current refresh jti and returns the new pair.
async fn rotated(store: &AnyTokenStore, request: &RotationRequest) -> PairState {
    match rotate(store, request).await {
        Rotation::Rotated { pair, .. } => pair,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

async fn auth(store: &AnyTokenStore, s: &NewSession, access_jti: &str) -> Option<String> {
    store
        .authenticate(&s.user_id, &s.session_id, access_jti)
        .await
        .expect("authenticate")
}

async fn list(store: &AnyTokenStore, user_id: &str) -> Vec<SessionInfo> {
    store.list(user_id, now_s()).await.expect("list")
}

fn ids(sessions: &[SessionInfo]) -> Vec<&str> {
    sessions.iter().map(|s| s.session_id.as_str()).collect()
}
