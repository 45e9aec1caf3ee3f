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

use db::testing::{random_name, run_suite, trial, Plan, Prepared, SetupError};
use deadpool_redis::redis::{self, aio::MultiplexedConnection};
use libtest_mimic::Trial;
use repos::token_store::RateCount;
use repos::{
    AnyTokenStore, ChallengeTry, MemoryTokenStore, MfaChallenge, NewSession, PairState,
    RateCounters, RedisOptions, RedisTokenStore, RepoError, Rotation, RotationRequest, SessionInfo,
    SessionStore, SignInChallenges,
};
use tokio::runtime::Runtime;

// The harness the e2e and fault suites use too (the root package's tests/support).
#[path = "../../../tests/support/redis_cluster.rs"]
#[allow(dead_code)]
mod cluster;
use cluster::PrivateCluster;

const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
const REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const SESSION_MAX: i64 = 30 * 24 * 3600;
const GRACE: Duration = Duration::from_secs(10);

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
                "counters_past_the_cap_are_refused_until_expired_ones_are_swept",
                |_| counters_past_the_cap_are_refused_until_expired_ones_are_swept(),
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
                "keys_carry_the_prefix_and_the_users_hash_tag",
                move |store| keys_carry_the_prefix_and_the_users_hash_tag(store, u, p),
            ));
            let u = url.clone();
            trials.push(suite.case(
                "a_generation_whose_key_expired_never_comes_back",
                move |store| a_generation_whose_key_expired_never_comes_back(store, u),
            ));
            trials.push(suite.case(
                "a_dropped_stores_connection_closes_when_the_thread_next_connects",
                |_| a_dropped_stores_connection_closes_when_the_thread_next_connects(),
            ));
            trials.push(suite.case(
                "a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them",
                |_| a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them(),
            ));
            trials.push(suite.case(
                "fails_closed_while_the_server_is_down_and_recovers_after_a_restart",
                |_| fails_closed_while_the_server_is_down_and_recovers_after_a_restart(),
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
    vec![
        s.case("ping_answers", ping_answers),
        s.case(
            "created_session_authenticates_with_its_access_jti",
            created_session_authenticates_with_its_access_jti,
        ),
        s.case(
            "wrong_jti_does_not_authenticate",
            wrong_jti_does_not_authenticate,
        ),
        s.case(
            "unknown_session_does_not_authenticate",
            unknown_session_does_not_authenticate,
        ),
        s.case(
            "session_past_its_refresh_expiry_is_gone",
            session_past_its_refresh_expiry_is_gone,
        ),
        s.case(
            "list_returns_the_users_live_sessions_oldest_first",
            list_returns_the_users_live_sessions_oldest_first,
        ),
        s.case("list_omits_revoked_sessions", list_omits_revoked_sessions),
        s.case(
            "list_shows_the_last_refresh_and_keeps_the_end",
            list_shows_the_last_refresh_and_keeps_the_end,
        ),
        s.case(
            "current_refresh_jti_rotates_to_the_new_pair",
            current_refresh_jti_rotates_to_the_new_pair,
        ),
        s.case(
            "new_expiries_are_capped_by_the_session_end",
            new_expiries_are_capped_by_the_session_end,
        ),
        s.case(
            "only_the_new_access_jti_authenticates_after_rotation",
            only_the_new_access_jti_authenticates_after_rotation,
        ),
        s.case(
            "previous_refresh_jti_within_grace_returns_the_current_pair",
            previous_refresh_jti_within_grace_returns_the_current_pair,
        ),
        s.case(
            "previous_refresh_jti_after_grace_is_reuse_and_revokes_the_session",
            previous_refresh_jti_after_grace_is_reuse_and_revokes_the_session,
        ),
        s.case(
            "with_zero_grace_a_replay_a_second_later_is_reuse",
            with_zero_grace_a_replay_a_second_later_is_reuse,
        ),
        s.case(
            "refresh_jti_two_rotations_back_is_reuse_and_revokes_the_session",
            refresh_jti_two_rotations_back_is_reuse_and_revokes_the_session,
        ),
        s.case(
            "refresh_jti_the_session_never_had_is_reuse",
            refresh_jti_the_session_never_had_is_reuse,
        ),
        s.case(
            "concurrent_rotations_yield_one_rotation_and_grace_for_the_rest",
            concurrent_rotations_yield_one_rotation_and_grace_for_the_rest,
        ),
        s.case(
            "session_past_its_end_cannot_be_rotated",
            session_past_its_end_cannot_be_rotated,
        ),
        s.case("unknown_session_is_missing", unknown_session_is_missing),
        s.case(
            "owner_revokes_a_session_for_good",
            owner_revokes_a_session_for_good,
        ),
        s.case(
            "another_user_cannot_revoke_a_session",
            another_user_cannot_revoke_a_session,
        ),
        s.case(
            "revoking_an_unknown_session_returns_false",
            revoking_an_unknown_session_returns_false,
        ),
        s.case(
            "revoke_all_deletes_every_session_but_keep",
            revoke_all_deletes_every_session_but_keep,
        ),
        s.case(
            "revoke_all_counts_only_live_sessions",
            revoke_all_counts_only_live_sessions,
        ),
        s.case(
            "a_login_begun_before_a_revoke_all_stores_no_session_after_it",
            a_login_begun_before_a_revoke_all_stores_no_session_after_it,
        ),
        s.case(
            "twenty_logins_racing_a_revoke_all_leave_only_those_begun_after_it",
            twenty_logins_racing_a_revoke_all_leave_only_those_begun_after_it,
        ),
        s.case(
            "every_revoke_all_moves_the_generation_to_a_value_never_held_before",
            every_revoke_all_moves_the_generation_to_a_value_never_held_before,
        ),
        s.case("hits_count_up_per_key", hits_count_up_per_key),
        s.case("peek_does_not_count", peek_does_not_count),
        s.case(
            "window_starts_at_the_first_hit",
            window_starts_at_the_first_hit,
        ),
        s.case("clear_resets_the_counter", clear_resets_the_counter),
        s.case(
            "forgive_takes_back_one_hit_and_keeps_the_window",
            forgive_takes_back_one_hit_and_keeps_the_window,
        ),
        s.case(
            "forgive_leaves_a_later_window_alone",
            forgive_leaves_a_later_window_alone,
        ),
        s.case("short_window_expires", short_window_expires),
        s.case(
            "a_counter_forgiven_back_to_zero_is_deleted",
            a_counter_forgiven_back_to_zero_is_deleted,
        ),
        s.case(
            "the_current_access_token_ends_the_session",
            the_current_access_token_ends_the_session,
        ),
        s.case(
            "the_access_token_a_refresh_replaced_ends_the_session_within_the_grace",
            the_access_token_a_refresh_replaced_ends_the_session_within_the_grace,
        ),
        s.case(
            "a_replaced_access_token_after_the_grace_ends_nothing",
            a_replaced_access_token_after_the_grace_ends_nothing,
        ),
        s.case(
            "another_users_or_an_unknown_token_ends_nothing",
            another_users_or_an_unknown_token_ends_nothing,
        ),
        s.case(
            "settle_clears_some_counters_and_forgives_others_at_once",
            settle_clears_some_counters_and_forgives_others_at_once,
        ),
        s.case(
            "a_challenge_grants_its_tries_one_at_a_time_then_refuses",
            a_challenge_grants_its_tries_one_at_a_time_then_refuses,
        ),
        s.case(
            "a_granted_try_can_take_the_challenge_even_when_the_tries_are_spent",
            a_granted_try_can_take_the_challenge_even_when_the_tries_are_spent,
        ),
        s.case(
            "of_twenty_concurrent_tries_one_is_granted_and_the_rest_wait",
            of_twenty_concurrent_tries_one_is_granted_and_the_rest_wait,
        ),
        s.case(
            "of_twenty_concurrent_takes_of_a_challenge_one_wins",
            of_twenty_concurrent_takes_of_a_challenge_one_wins,
        ),
        s.case(
            "a_challenge_ends_with_its_lifetime",
            a_challenge_ends_with_its_lifetime,
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Helpers

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

// ---------------------------------------------------------------------------------------
// store:: and sessions::

async fn ping_answers(store: AnyTokenStore) {
    store.ping().await.expect("ping");
}

async fn created_session_authenticates_with_its_access_jti(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        Some(s.user_id.clone())
    );
    // Authenticating changes nothing.
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, Some(s.user_id));
}

async fn wrong_jti_does_not_authenticate(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(auth(&store, &s, &id()).await, None);
    assert_eq!(
        auth(&store, &s, &s.pair.refresh_jti).await,
        None,
        "a refresh jti is not an access jti"
    );
    assert_eq!(auth(&store, &s, "").await, None);
    // Another session's access jti does not open this one.
    let other = logged_in(&store).await;
    assert_eq!(auth(&store, &s, &other.pair.access_jti).await, None);
}

async fn unknown_session_does_not_authenticate(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(auth(&store, &login(&id()), &s.pair.access_jti).await, None);
    assert_eq!(auth(&store, &login(&id()), &id()).await, None);
}

async fn session_past_its_refresh_expiry_is_gone(store: AnyTokenStore) {
    let now = now_s();
    let mut s = login_at(&id(), now - 3600);
    s.pair.access_expires_at = now - 1800;
    s.pair.refresh_expires_at = now - 10;
    create(&store, &s).await;
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert!(list(&store, &s.user_id).await.is_empty());
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}

async fn list_returns_the_users_live_sessions_oldest_first(store: AnyTokenStore) {
    let user = id();
    let now = now_s();
    let oldest = login_at(&user, now - 300);
    let mut middle = login_at(&user, now - 200);
    middle.user_agent = Some("curl/8.5".into());
    middle.ip = Some("2001:db8::1".into());
    middle.second_factor = true;
    let mut newest = login_at(&user, now - 100);
    newest.user_agent = None;
    newest.ip = None;
    // Stored out of order on purpose.
    for s in [&newest, &oldest, &middle] {
        create(&store, s).await;
    }
    let stranger = logged_in(&store).await;

    let listed = list(&store, &user).await;
    let expected: Vec<SessionInfo> = [&oldest, &middle, &newest]
        .iter()
        .map(|s| SessionInfo {
            session_id: s.session_id.clone(),
            user_id: user.clone(),
            created_at: s.pair.issued_at,
            refreshed_at: s.pair.issued_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            second_factor: s.second_factor,
        })
        .collect();
    assert_eq!(listed, expected);
    assert!(!ids(&listed).contains(&stranger.session_id.as_str()));
    assert!(
        list(&store, &id()).await.is_empty(),
        "a user with no sessions"
    );
}

async fn list_omits_revoked_sessions(store: AnyTokenStore) {
    let user = id();
    let now = now_s();
    let a = login_at(&user, now - 30);
    let b = login_at(&user, now - 20);
    let c = login_at(&user, now - 10);
    for s in [&a, &b, &c] {
        create(&store, s).await;
    }
    assert!(store.revoke(&user, &b.session_id).await.expect("revoke"));
    assert_eq!(
        ids(&list(&store, &user).await),
        vec![a.session_id.as_str(), c.session_id.as_str()]
    );
    // A session revoked by reuse disappears too.
    let r1 = refresh(&c, &c.pair.refresh_jti, now_ms(), Duration::ZERO);
    rotated(&store, &r1).await;
    let replay = refresh(&c, &c.pair.refresh_jti, now_ms() + 1000, Duration::ZERO);
    assert!(matches!(
        rotate(&store, &replay).await,
        Rotation::Reused { .. }
    ));
    assert_eq!(ids(&list(&store, &user).await), vec![a.session_id.as_str()]);
}

async fn list_shows_the_last_refresh_and_keeps_the_end(store: AnyTokenStore) {
    let user = id();
    let s = login_at(&user, now_s() - 60);
    create(&store, &s).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    let listed = list(&store, &user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].created_at, s.pair.issued_at);
    assert_eq!(listed[0].refreshed_at, pair.issued_at);
    assert_eq!(listed[0].expires_at, s.expires_at, "the end never moves");
}

// ---------------------------------------------------------------------------------------
// rotation::

async fn current_refresh_jti_rotates_to_the_new_pair(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
    let iat = at.div_euclid(1000);
    assert_eq!(
        rotate(&store, &r).await,
        Rotation::Rotated {
            user_id: s.user_id.clone(),
            pair: PairState {
                access_jti: r.new_access_jti.clone(),
                refresh_jti: r.new_refresh_jti.clone(),
                issued_at: iat,
                access_expires_at: iat + secs(ACCESS_TTL),
                refresh_expires_at: iat + secs(REFRESH_TTL),
            },
        }
    );
    // The new refresh jti rotates in turn.
    let r2 = refresh(&s, &r.new_refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r2).await;
    assert_eq!(pair.access_jti, r2.new_access_jti);
    assert_eq!(pair.refresh_jti, r2.new_refresh_jti);
}

async fn new_expiries_are_capped_by_the_session_end(store: AnyTokenStore) {
    let now = now_s();
    let mut s = login(&id());
    s.expires_at = now + 120;
    s.pair.access_expires_at = now + 120;
    s.pair.refresh_expires_at = now + 120;
    create(&store, &s).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(pair.issued_at, at.div_euclid(1000));
    assert_eq!(pair.access_expires_at, s.expires_at);
    assert_eq!(pair.refresh_expires_at, s.expires_at);

    // Only the part past the end is cut: a short access lifetime is kept.
    let mut r2 = refresh(&s, &pair.refresh_jti, now_ms(), GRACE);
    r2.access_ttl = Duration::from_secs(30);
    let pair2 = rotated(&store, &r2).await;
    assert_eq!(pair2.access_expires_at, pair2.issued_at + 30);
    assert_eq!(pair2.refresh_expires_at, s.expires_at);
}

async fn only_the_new_access_jti_authenticates_after_rotation(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert_eq!(auth(&store, &s, &pair.access_jti).await, Some(s.user_id));
}

async fn previous_refresh_jti_within_grace_returns_the_current_pair(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let expected = Rotation::Grace {
        user_id: s.user_id.clone(),
        pair: pair.clone(),
    };
    // A second tab, a moment later and at the very end of the grace: the same pair, not
    // the new jtis it asked for.
    for later in [at, at + 1, at + 5_000, at + 10_000] {
        let replay = refresh(&s, &s.pair.refresh_jti, later, GRACE);
        assert_eq!(
            rotate(&store, &replay).await,
            expected,
            "at +{}ms",
            later - at
        );
    }
    // Nothing changed: the current pair still works, the first one still does not.
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await,
        Some(s.user_id.clone())
    );
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    let next = rotated(&store, &refresh(&s, &pair.refresh_jti, now_ms(), GRACE)).await;
    assert_ne!(next, pair);
}

async fn previous_refresh_jti_after_grace_is_reuse_and_revokes_the_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let grace_ms = i64::try_from(GRACE.as_millis()).expect("grace");
    let late = refresh(&s, &s.pair.refresh_jti, at + grace_ms + 1, GRACE);
    assert_eq!(
        rotate(&store, &late).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    let current = refresh(&s, &pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
    assert!(list(&store, &s.user_id).await.is_empty());
}

async fn with_zero_grace_a_replay_a_second_later_is_reuse(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, Duration::ZERO);
    let pair = rotated(&store, &r).await;
    let replay = refresh(&s, &s.pair.refresh_jti, at + 1000, Duration::ZERO);
    assert_eq!(
        rotate(&store, &replay).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    let current = refresh(&s, &pair.refresh_jti, now_ms(), Duration::ZERO);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
}

async fn refresh_jti_two_rotations_back_is_reuse_and_revokes_the_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let first = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let second = rotated(&store, &refresh(&s, &first.refresh_jti, at + 1, GRACE)).await;
    // Well within the grace of the last rotation, yet two rotations back.
    let replay = refresh(&s, &s.pair.refresh_jti, at + 2, GRACE);
    assert_eq!(
        rotate(&store, &replay).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &second.access_jti).await, None);
    let current = refresh(&s, &second.refresh_jti, at + 3, GRACE);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
}

async fn refresh_jti_the_session_never_had_is_reuse(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let r = refresh(&s, &id(), now_ms(), GRACE);
    assert_eq!(
        rotate(&store, &r).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
}

async fn concurrent_rotations_yield_one_rotation_and_grace_for_the_rest(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
            tokio::spawn(async move { (store.rotate(&r).await, r) })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        let (result, request) = h.await.expect("rotation task");
        results.push((result.expect("rotate"), request));
    }
    let winners: Vec<(&PairState, &RotationRequest)> = results
        .iter()
        .filter_map(|(rotation, request)| match rotation {
            Rotation::Rotated { pair, .. } => Some((pair, request)),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation: {results:?}");
    let (pair, request) = winners[0];
    assert_eq!(pair.access_jti, request.new_access_jti);
    assert_eq!(pair.refresh_jti, request.new_refresh_jti);
    for (rotation, _) in &results {
        match rotation {
            Rotation::Rotated { user_id, pair: p } | Rotation::Grace { user_id, pair: p } => {
                assert_eq!(user_id, &s.user_id);
                assert_eq!(p, pair, "every caller holds the same pair");
            }
            other => panic!("expected Rotated or Grace, got {other:?}"),
        }
    }
    let graces = results
        .iter()
        .filter(|(r, _)| matches!(r, Rotation::Grace { .. }))
        .count();
    assert_eq!(graces, 19);
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await,
        Some(s.user_id.clone())
    );
}

async fn session_past_its_end_cannot_be_rotated(store: AnyTokenStore) {
    // The end passes while the refresh token is still valid: at the end, and later.
    for past_end_ms in [0, 5_000] {
        let now = now_s();
        let mut s = login_at(&id(), now - 100);
        s.expires_at = now + 60;
        s.pair.access_expires_at = now + 60;
        s.pair.refresh_expires_at = now + 60;
        create(&store, &s).await;
        let r = refresh(
            &s,
            &s.pair.refresh_jti,
            s.expires_at * 1000 + past_end_ms,
            GRACE,
        );
        assert_eq!(
            rotate(&store, &r).await,
            Rotation::Missing,
            "+{past_end_ms}ms"
        );
    }
    // A record whose end is already behind the real clock.
    let now = now_s();
    let mut s = login_at(&id(), now - 100);
    s.expires_at = now - 1;
    create(&store, &s).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}

async fn unknown_session_is_missing(store: AnyTokenStore) {
    let r = refresh(&login(&id()), &id(), now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}

// ---------------------------------------------------------------------------------------
// revocation::

async fn owner_revokes_a_session_for_good(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert!(store
        .revoke(&s.user_id, &s.session_id)
        .await
        .expect("revoke"));
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
    assert!(
        !store
            .revoke(&s.user_id, &s.session_id)
            .await
            .expect("revoke again"),
        "already gone"
    );
    assert!(list(&store, &s.user_id).await.is_empty());
}

async fn another_user_cannot_revoke_a_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let intruder = logged_in(&store).await;
    assert!(!store
        .revoke(&intruder.user_id, &s.session_id)
        .await
        .expect("revoke"));
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        Some(s.user_id.clone())
    );
    assert_eq!(
        ids(&list(&store, &s.user_id).await),
        vec![s.session_id.as_str()]
    );
    assert!(store
        .revoke(&s.user_id, &s.session_id)
        .await
        .expect("revoke by owner"));
}

async fn revoking_an_unknown_session_returns_false(store: AnyTokenStore) {
    assert!(!store.revoke(&id(), &id()).await.expect("revoke"));
}

async fn revoke_all_deletes_every_session_but_keep(store: AnyTokenStore) {
    let user = id();
    let sessions: Vec<NewSession> = (0..3).map(|_| login(&user)).collect();
    for s in &sessions {
        create(&store, s).await;
    }
    let other = logged_in(&store).await;
    let keep = &sessions[1];

    let n = store
        .revoke_all(&user, Some(&keep.session_id))
        .await
        .expect("revoke_all");
    assert_eq!(n, 2);
    for s in &sessions {
        let expected = (s.session_id == keep.session_id).then(|| user.clone());
        assert_eq!(auth(&store, s, &s.pair.access_jti).await, expected);
    }
    assert_eq!(
        ids(&list(&store, &user).await),
        vec![keep.session_id.as_str()]
    );
    assert_eq!(
        auth(&store, &other, &other.pair.access_jti).await,
        Some(other.user_id.clone()),
        "another user's session is untouched"
    );

    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 1);
    assert_eq!(auth(&store, keep, &keep.pair.access_jti).await, None);
    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 0);
    assert_eq!(store.revoke_all(&id(), None).await.expect("revoke_all"), 0);
    assert_eq!(
        ids(&list(&store, &other.user_id).await),
        vec![other.session_id.as_str()]
    );
}

async fn revoke_all_counts_only_live_sessions(store: AnyTokenStore) {
    let user = id();
    let live = login(&user);
    let revoked = login(&user);
    let reused = login(&user);
    let now = now_s();
    let mut expired = login_at(&user, now - 3600);
    expired.pair.access_expires_at = now - 1800;
    expired.pair.refresh_expires_at = now - 10;
    for s in [&live, &revoked, &reused, &expired] {
        create(&store, s).await;
    }
    assert!(store
        .revoke(&user, &revoked.session_id)
        .await
        .expect("revoke"));
    let bogus = refresh(&reused, &id(), now_ms(), GRACE);
    assert!(matches!(
        rotate(&store, &bogus).await,
        Rotation::Reused { .. }
    ));

    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 1);
    assert_eq!(auth(&store, &live, &live.pair.access_jti).await, None);
}

// ---------------------------------------------------------------------------------------
// rate::

fn counts(rates: &[RateCount]) -> Vec<u64> {
    rates.iter().map(|r| r.count).collect()
}

const WINDOW: Duration = Duration::from_secs(60);

async fn hits_count_up_per_key(store: AnyTokenStore) {
    let (a, b) = (id(), id());
    for expected in 1..=3 {
        let got = store
            .rate_hit(std::slice::from_ref(&a), WINDOW)
            .await
            .expect("rate_hit");
        assert_eq!(counts(&got), vec![expected]);
    }
    // Several keys at once, answered in the order asked.
    let got = store
        .rate_hit(&[b.clone(), a.clone()], WINDOW)
        .await
        .expect("rate_hit");
    assert_eq!(counts(&got), vec![1, 4]);
    for r in &got {
        assert!(
            r.resets_in > Duration::ZERO && r.resets_in <= WINDOW,
            "{r:?}"
        );
    }
}

async fn peek_does_not_count(store: AnyTokenStore) {
    let (a, unknown) = (id(), id());
    let keys = [a.clone(), unknown.clone()];
    let got = store.rate_peek(&keys).await.expect("rate_peek");
    assert_eq!(counts(&got), vec![0, 0]);
    assert_eq!(got[0].resets_in, Duration::ZERO, "no window yet");
    for _ in 0..2 {
        store
            .rate_hit(std::slice::from_ref(&a), WINDOW)
            .await
            .expect("rate_hit");
    }
    for _ in 0..3 {
        let got = store.rate_peek(&keys).await.expect("rate_peek");
        assert_eq!(counts(&got), vec![2, 0]);
        assert!(got[0].resets_in > Duration::ZERO && got[0].resets_in <= WINDOW);
        assert_eq!(got[1].resets_in, Duration::ZERO);
    }
}

async fn window_starts_at_the_first_hit(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let first = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    let second = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    assert!(first.resets_in > Duration::ZERO && first.resets_in <= WINDOW);
    assert!(
        second.resets_in <= first.resets_in,
        "a later hit does not extend the window: {first:?} then {second:?}"
    );
    let peeked = store.rate_peek(key).await.expect("rate_peek")[0];
    assert!(peeked.resets_in <= second.resets_in && peeked.resets_in > Duration::ZERO);
}

async fn clear_resets_the_counter(store: AnyTokenStore) {
    let (a, b) = (id(), id());
    for _ in 0..3 {
        store
            .rate_hit(&[a.clone(), b.clone()], WINDOW)
            .await
            .expect("rate_hit");
    }
    store
        .rate_settle(std::slice::from_ref(&a), &[])
        .await
        .expect("rate_settle");
    let got = store
        .rate_peek(&[a.clone(), b.clone()])
        .await
        .expect("rate_peek");
    assert_eq!(counts(&got), vec![0, 3], "only the cleared key is reset");
    let got = store
        .rate_hit(std::slice::from_ref(&a), WINDOW)
        .await
        .expect("rate_hit");
    assert_eq!(counts(&got), vec![1], "counting starts again");
    store
        .rate_settle(&[id()], &[])
        .await
        .expect("clearing an unknown key");
}

async fn a_login_begun_before_a_revoke_all_stores_no_session_after_it(store: AnyTokenStore) {
    let user = id();
    let before = store.generation(&user).await.expect("generation");
    let mut late = login(&user);
    late.generation = before;
    store.revoke_all(&user, None).await.expect("revoke_all");
    assert!(
        !store.create_session(&late).await.expect("create_session"),
        "a login that began before the revoke-all"
    );
    assert!(list(&store, &user).await.is_empty());
    assert_eq!(auth(&store, &late, &late.pair.access_jti).await, None);
    // A login that begins afterwards reads the new generation and is stored.
    let mut fresh = login(&user);
    fresh.generation = store.generation(&user).await.expect("generation");
    assert_ne!(fresh.generation, before);
    create(&store, &fresh).await;
    assert_eq!(ids(&list(&store, &user).await), [fresh.session_id.as_str()]);
}

async fn every_revoke_all_moves_the_generation_to_a_value_never_held_before(store: AnyTokenStore) {
    let (user, other) = (id(), id());
    let mut seen = vec![store.generation(&user).await.expect("generation")];
    for u in [&user, &other, &user, &user] {
        store.revoke_all(u, None).await.expect("revoke_all");
        seen.push(store.generation(&user).await.expect("generation"));
    }
    let moved: Vec<bool> = seen.windows(2).map(|w| w[1] > w[0]).collect();
    assert_eq!(moved, [true, false, true, true], "{seen:?}");
}

async fn twenty_logins_racing_a_revoke_all_leave_only_those_begun_after_it(store: AnyTokenStore) {
    let user = id();
    let before = store.generation(&user).await.expect("generation");
    let logins = (0..20).map(|_| {
        let (store, mut s) = (store.clone(), login(&user));
        s.generation = before;
        tokio::spawn(async move { store.create_session(&s).await.map(|stored| (stored, s)) })
    });
    let revoke = {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move { store.revoke_all(&user, None).await })
    };
    let mut sessions = Vec::new();
    for l in logins.collect::<Vec<_>>() {
        sessions.push(l.await.expect("join").expect("create_session"));
    }
    revoke.await.expect("join").expect("revoke_all");
    // Every login began before the revoke-all: whether it was stored before (and then
    // revoked) or refused after, none survives it.
    assert!(list(&store, &user).await.is_empty());
    for (_, s) in &sessions {
        assert_eq!(auth(&store, s, &s.pair.access_jti).await, None);
    }
}

async fn settle_clears_some_counters_and_forgives_others_at_once(store: AnyTokenStore) {
    let (a, b, c, later) = (id(), id(), id(), id());
    let keys = [a.clone(), b.clone(), c.clone()];
    store.rate_hit(&keys, WINDOW).await.expect("rate_hit");
    let hits = store.rate_hit(&keys, WINDOW).await.expect("rate_hit");
    store
        .rate_settle(
            std::slice::from_ref(&a),
            &[(b.clone(), hits[1].window), (later.clone(), hits[2].window)],
        )
        .await
        .expect("rate_settle");
    let got = store.rate_peek(&[a, b, c, later]).await.expect("rate_peek");
    assert_eq!(
        counts(&got),
        vec![0, 1, 2, 0],
        "cleared, forgiven once, untouched, never counted"
    );
    store.rate_settle(&[], &[]).await.expect("settling nothing");
}

async fn forgive_takes_back_one_hit_and_keeps_the_window(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let mut hit = None;
    for _ in 0..3 {
        hit = Some(store.rate_hit(key, WINDOW).await.expect("rate_hit")[0]);
    }
    let hit = hit.expect("three hits");
    assert_ne!(hit.window, 0, "a counted hit names its window");
    store
        .rate_settle(&[], &[(a.clone(), hit.window)])
        .await
        .expect("rate_settle");
    let got = store.rate_peek(key).await.expect("rate_peek")[0];
    assert_eq!(got.count, 2);
    assert_eq!(got.window, hit.window, "the same window");
    assert!(
        got.resets_in > Duration::ZERO && got.resets_in <= hit.resets_in,
        "the window is kept: {hit:?} then {got:?}"
    );
    // Down to zero and no further; the next hit counts from one.
    for _ in 0..3 {
        store
            .rate_settle(&[], &[(a.clone(), hit.window)])
            .await
            .expect("rate_settle");
    }
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![0]
    );
    assert_eq!(
        counts(&store.rate_hit(key, WINDOW).await.expect("rate_hit")),
        vec![1]
    );
    // A counter that does not exist is not created by forgiving it.
    let unknown = id();
    store
        .rate_settle(&[], &[(unknown.clone(), hit.window)])
        .await
        .expect("rate_settle");
    let got = store
        .rate_peek(std::slice::from_ref(&unknown))
        .await
        .expect("rate_peek")[0];
    assert_eq!(
        (got.count, got.resets_in, got.window),
        (0, Duration::ZERO, 0)
    );
}

async fn forgive_leaves_a_later_window_alone(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let window = Duration::from_millis(200);
    let old = store.rate_hit(key, window).await.expect("rate_hit")[0];
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The window ended while the attempt was being checked; a new one has begun.
    let new = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    assert_eq!(new.count, 1);
    assert_ne!(new.window, old.window);
    store
        .rate_settle(&[], &[(a.clone(), old.window)])
        .await
        .expect("rate_settle");
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![1],
        "a hit of the old window is not taken from the new one"
    );
    store
        .rate_settle(&[], &[(a.clone(), new.window)])
        .await
        .expect("rate_settle");
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![0]
    );
}

async fn short_window_expires(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let window = Duration::from_millis(300);
    for expected in 1..=2 {
        let got = store.rate_hit(key, window).await.expect("rate_hit");
        assert_eq!(counts(&got), vec![expected]);
        assert!(got[0].resets_in > Duration::ZERO && got[0].resets_in <= window);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = store.rate_peek(key).await.expect("rate_peek");
    assert_eq!(counts(&got), vec![0]);
    assert_eq!(got[0].resets_in, Duration::ZERO);
    let got = store.rate_hit(key, window).await.expect("rate_hit");
    assert_eq!(counts(&got), vec![1], "a new window starts");
}

// ---------------------------------------------------------------------------------------
// redis:: (Redis only)

async fn a_generation_whose_key_expired_never_comes_back(store: AnyTokenStore, url: String) {
    let user = id();
    store.revoke_all(&user, None).await.expect("revoke_all");
    let held = store.generation(&user).await.expect("generation");
    // A login holds `held`; the key expires (here: is deleted); a logout-all follows.
    let mut c = raw_connection(&url).await.expect("raw connection");
    let keys = scan(&mut c, &format!("*{user}}}:generation"))
        .await
        .expect("SCAN");
    assert_eq!(keys.len(), 1, "{keys:?}");
    redis::cmd("DEL")
        .arg(&keys[0])
        .query_async::<()>(&mut c)
        .await
        .expect("DEL");
    store.revoke_all(&user, None).await.expect("revoke_all");
    let mut late = login(&user);
    late.generation = held;
    assert!(
        !store.create_session(&late).await.expect("create_session"),
        "a login holding the generation from before the key expired"
    );
}

async fn keys_carry_the_prefix_and_the_users_hash_tag(
    store: AnyTokenStore,
    url: String,
    prefix: String,
) {
    let mut c = raw_connection(&url).await.expect("raw connection");
    let s = logged_in(&store).await;
    let rate = id();
    store
        .rate_hit(std::slice::from_ref(&rate), WINDOW)
        .await
        .expect("rate_hit");

    // One hash tag per user: their sessions and their index share a slot.
    let session_key = format!("{prefix}user:{{{}}}:session:{}", s.user_id, s.session_id);
    let user_key = format!("{prefix}user:{{{}}}:sessions", s.user_id);
    let rate_key = format!(
        "{prefix}rate:{{{}}}",
        repos::token_store::counter_digest(&rate)
    );
    for (name, key) in [
        ("session", &session_key),
        ("user index", &user_key),
        ("rate", &rate_key),
    ] {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut c)
            .await
            .expect("EXISTS");
        assert_eq!(exists, 1, "{name} key {key}");
    }
    // Nothing about this session, user or counter lives outside the prefix.
    let digest = repos::token_store::counter_digest(&rate);
    for (needle, keys) in [
        (&s.session_id, vec![session_key.clone()]),
        (&s.user_id, vec![session_key.clone(), user_key.clone()]),
        (&digest, vec![rate_key.clone()]),
    ] {
        let mut found = scan(&mut c, &format!("*{needle}*")).await.expect("SCAN");
        found.sort();
        let mut want = keys;
        want.sort();
        assert_eq!(found, want, "keys naming {needle}");
    }

    // Keys expire with the session: the record with its refresh token, the index with its end.
    assert_eq!(
        pexpiretime(&mut c, &session_key).await,
        s.pair.refresh_expires_at * 1000
    );
    assert_eq!(pexpiretime(&mut c, &user_key).await, s.expires_at * 1000);
    let rate_pttl: i64 = redis::cmd("PTTL")
        .arg(&rate_key)
        .query_async(&mut c)
        .await
        .expect("PTTL");
    assert!(rate_pttl > 0, "a counter expires with its window");

    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(
        pexpiretime(&mut c, &session_key).await,
        pair.refresh_expires_at * 1000,
        "a rotation moves the record's expiry"
    );
    let session_keys = scan(&mut c, &format!("*{}*", s.session_id))
        .await
        .expect("SCAN");
    assert_eq!(session_keys, vec![session_key], "a rotation adds no key");
}

/// The absolute expiry of `key`, unix milliseconds.
async fn pexpiretime(c: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(c)
        .await
        .expect("PEXPIRETIME")
}

/// A `redis-server` of this test's own on a fixed port; killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill() {
                eprintln!("could not kill redis-server on port {}: {e}", self.port);
            }
            if let Err(e) = child.wait() {
                eprintln!("could not reap redis-server on port {}: {e}", self.port);
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until the server answers PING.
    async fn ready(&self) {
        for _ in 0..60 {
            if let Ok(mut c) = raw_connection(&self.url()).await {
                if redis::cmd("PING").query_async::<()>(&mut c).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} never answered", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `op` with a ceiling, so that a hang fails the case instead of stalling the suite.
async fn bounded<T>(what: &str, op: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), op).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung while the server was down"),
    }
}

fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, RepoError>) {
    match result {
        Err(RepoError::Unavailable { .. }) => {}
        other => panic!("{what}: expected Err(Unavailable), got {other:?}"),
    }
}

/// Clients connected to `server` other than the one asking.
async fn other_clients(server: &PrivateRedis) -> usize {
    let mut c = raw_connection(&server.url()).await.expect("connect");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .expect("CLIENT LIST");
    list.lines().count() - 1
}

/// A store on `server` under a fresh prefix, waiting at most `timeout` for anything.
fn store_on(server: &PrivateRedis, timeout: Duration) -> AnyTokenStore {
    AnyTokenStore::Redis(
        RedisTokenStore::new(&RedisOptions {
            url: server.url(),
            cluster_urls: Vec::new(),
            key_prefix: format!("{}:", random_name("strata_test")),
            connect_timeout: timeout,
            command_timeout: timeout,
        })
        .expect("store"),
    )
}

async fn a_dropped_stores_connection_closes_when_the_thread_next_connects() {
    let server = PrivateRedis::start(free_port());
    server.ready().await;
    let first = store_on(&server, Duration::from_secs(2));
    first.ping().await.expect("first store");
    assert_eq!(
        other_clients(&server).await,
        1,
        "the first store's connection"
    );
    drop(first);
    // The second store's first command on this thread makes its connection and closes the
    // one the dropped store left here (asynchronously: give the server a moment to see it).
    let second = store_on(&server, Duration::from_secs(2));
    second.ping().await.expect("second store");
    let mut open = 0;
    for _ in 0..100 {
        open = other_clients(&server).await;
        if open == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 1, "only the live store's connection stays open");
}

/// Sends one command to `server` on a connection of the test's own.
async fn admin(server: &PrivateRedis, args: &[&str]) {
    let mut c = raw_connection(&server.url()).await.expect("connect");
    redis::cmd(args[0])
        .arg(&args[1..])
        .query_async::<()>(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

async fn a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them() {
    let server = PrivateRedis::start(free_port());
    server.ready().await;
    let store = store_on(&server, Duration::from_millis(500));
    let live = logged_in(&store).await;
    // Out of memory (`OOM`), then a replica since a failover (`READONLY`; its primary here
    // is a port nobody listens on): writes are refused, by commands and scripts alike.
    let refusals: [(&[&str], &[&str]); 2] = [
        (
            &["CONFIG", "SET", "maxmemory", "1"],
            &["CONFIG", "SET", "maxmemory", "0"],
        ),
        (
            &["REPLICAOF", "127.0.0.1", &free_port().to_string()],
            &["REPLICAOF", "NO", "ONE"],
        ),
    ];
    for (refuse, restore) in refusals {
        let doomed = logged_in(&store).await;
        admin(&server, refuse).await;
        assert_unavailable(
            &format!("create_session during {refuse:?}"),
            store.create_session(&login(&id())).await,
        );
        assert_unavailable(
            &format!("rate_hit during {refuse:?}"),
            store.rate_hit(&[id()], WINDOW).await,
        );
        assert_unavailable(
            &format!("rotate during {refuse:?}"),
            store
                .rotate(&refresh(
                    &live,
                    &live.pair.refresh_jti,
                    now_ms(),
                    Duration::from_secs(10),
                ))
                .await,
        );
        let out_of_memory = refuse.contains(&"maxmemory");
        let revoked = store.revoke_all(&doomed.user_id, None).await;
        if out_of_memory {
            // Ending sessions frees memory: a password change must still end the others.
            assert_eq!(revoked.expect("revoke_all while out of memory"), 1);
            assert_eq!(auth(&store, &doomed, &doomed.pair.access_jti).await, None);
        } else {
            assert_unavailable(&format!("revoke_all during {refuse:?}"), revoked);
        }
        admin(&server, restore).await;
        let after = logged_in(&store).await;
        assert_eq!(
            auth(&store, &after, &after.pair.access_jti).await,
            Some(after.user_id.clone()),
            "writes work again after {restore:?}"
        );
    }
}

async fn fails_closed_while_the_server_is_down_and_recovers_after_a_restart() {
    let mut server = PrivateRedis::start(free_port());
    server.ready().await;
    let store = store_on(&server, Duration::from_millis(500));
    store.ping().await.expect("ping before the outage");
    let before = logged_in(&store).await;
    assert_eq!(
        auth(&store, &before, &before.pair.access_jti).await,
        Some(before.user_id.clone())
    );

    server.kill();
    // The first command finds the shared connection broken; the next ones cannot connect.
    assert_unavailable(
        "authenticate",
        bounded(
            "authenticate",
            store.authenticate(&before.user_id, &before.session_id, &before.pair.access_jti),
        )
        .await,
    );
    let r = refresh(&before, &before.pair.refresh_jti, now_ms(), GRACE);
    assert_unavailable("rotate", bounded("rotate", store.rotate(&r)).await);
    assert_unavailable(
        "create_session",
        bounded("create_session", store.create_session(&login(&id()))).await,
    );
    assert_unavailable(
        "rate_hit",
        bounded("rate_hit", store.rate_hit(&[id()], WINDOW)).await,
    );
    assert_unavailable("ping", bounded("ping", store.ping()).await);

    server.restart();
    server.ready().await;
    let mut last = None;
    for _ in 0..30 {
        match bounded("ping", store.ping()).await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(e) = last {
        panic!("the store did not recover after the restart: {e}");
    }
    let after = logged_in(&store).await;
    assert_eq!(
        auth(&store, &after, &after.pair.access_jti).await,
        Some(after.user_id.clone())
    );
    // The killed server kept nothing (no persistence): the old session is simply gone.
    assert_eq!(auth(&store, &before, &before.pair.access_jti).await, None);
}

async fn a_counter_forgiven_back_to_zero_is_deleted(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let first = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    store.rate_hit(key, WINDOW).await.expect("rate_hit");
    for _ in 0..2 {
        store
            .rate_settle(&[], &[(a.clone(), first.window)])
            .await
            .expect("rate_settle");
    }
    let got = store.rate_peek(key).await.expect("rate_peek")[0];
    assert_eq!(
        (got.count, got.resets_in, got.window),
        (0, Duration::ZERO, 0),
        "no counter is left, not even one at zero"
    );
}

// ---------------------------------------------------------------------------------------
// logout::

async fn logout(store: &AnyTokenStore, s: &NewSession, access_jti: &str, grace: Duration) -> bool {
    store
        .logout(&s.user_id, &s.session_id, access_jti, grace, now_ms())
        .await
        .expect("logout")
}

async fn the_current_access_token_ends_the_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert!(logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert!(list(&store, &s.user_id).await.is_empty(), "unindexed too");
    assert!(
        !logout(&store, &s, &s.pair.access_jti, GRACE).await,
        "a second logout finds nothing"
    );
}

async fn the_access_token_a_refresh_replaced_ends_the_session_within_the_grace(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE)).await;
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        None,
        "the old access token no longer authenticates"
    );
    assert!(logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    assert_eq!(
        rotate(&store, &refresh(&s, &pair.refresh_jti, now_ms(), GRACE)).await,
        Rotation::Missing
    );
}

async fn a_replaced_access_token_after_the_grace_ends_nothing(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let pair = rotated(
        &store,
        &refresh(&s, &s.pair.refresh_jti, now_ms() - 60_000, GRACE),
    )
    .await;
    assert!(!logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str()),
        "the session lives on"
    );
}

async fn another_users_or_an_unknown_token_ends_nothing(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let other = NewSession {
        user_id: id(),
        ..s.clone()
    };
    assert!(!logout(&store, &other, &s.pair.access_jti, GRACE).await);
    assert!(!logout(&store, &s, &id(), GRACE).await);
    assert!(!logout(&store, &s, "", GRACE).await);
    let unknown = NewSession {
        session_id: id(),
        ..s.clone()
    };
    assert!(!logout(&store, &unknown, &s.pair.access_jti, GRACE).await);
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str())
    );
}

// ---------------------------------------------------------------------------------------
// memory:: (in-memory store only)

async fn counters_past_the_cap_are_refused_until_expired_ones_are_swept() {
    let store = MemoryTokenStore::with_counter_cap(100);
    let short = Duration::from_millis(200);
    // Names of any length: each counter is held under a fixed-size digest.
    let names: Vec<String> = (0..100)
        .map(|i| format!("{i}{}", "x".repeat(20_000)))
        .collect();
    for chunk in names.chunks(2) {
        store.rate_hit(chunk, short).await.expect("rate_hit");
    }
    assert_eq!(store.len().1, 100);
    let refused = store.rate_hit(&[id()], WINDOW).await;
    assert!(
        matches!(refused, Err(RepoError::Unavailable { .. })),
        "{refused:?}"
    );
    // Counting on a counter already held still works at the cap.
    let again = store.rate_hit(&names[..1], short).await.expect("rate_hit");
    assert_eq!(counts(&again), vec![2]);
    // Expired, and a second since the last sweep: the next new counter makes room.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .rate_hit(&[id()], WINDOW)
        .await
        .expect("room once expired counters go");
    assert_eq!(store.len().1, 1);
}

// ---------------------------------------------------------------------------------------
// challenge:: (sign-ins waiting for their second factor)

fn challenge() -> (String, MfaChallenge) {
    let c = MfaChallenge {
        user_id: id(),
        proof: id(),
        generation: 3,
    };
    (id().replace('-', ""), c)
}

async fn try_(store: &AnyTokenStore, key: &str, max: u64) -> ChallengeTry {
    store.challenge_try(key, max).await.expect("challenge_try")
}

async fn a_challenge_grants_its_tries_one_at_a_time_then_refuses(store: AnyTokenStore) {
    let (key, c) = challenge();
    assert_eq!(try_(&store, &key, 3).await, ChallengeTry::Gone, "unknown");
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    for n in 1..=3 {
        assert_eq!(
            try_(&store, &key, 3).await,
            ChallengeTry::Granted(c.clone(), n)
        );
        assert_eq!(
            try_(&store, &key, 3).await,
            ChallengeTry::Busy,
            "one at a time"
        );
        store.challenge_release(&key).await.expect("release");
    }
    assert_eq!(try_(&store, &key, 3).await, ChallengeTry::Gone, "spent");
    assert_eq!(
        try_(&store, &key, 3).await,
        ChallengeTry::Gone,
        "still spent"
    );
    store
        .challenge_release(&id())
        .await
        .expect("releasing an unknown challenge");
}

async fn a_granted_try_can_take_the_challenge_even_when_the_tries_are_spent(store: AnyTokenStore) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Granted(c, 1));
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Busy);
    assert!(store.challenge_take(&key).await.expect("take"));
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Gone);
    assert!(!store.challenge_take(&key).await.expect("take"));
}

async fn of_twenty_concurrent_tries_one_is_granted_and_the_rest_wait(store: AnyTokenStore) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    let tries = (0..20).map(|_| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move { store.challenge_try(&key, 5).await })
    });
    let mut granted = 0;
    for t in tries.collect::<Vec<_>>() {
        match t.await.expect("join").expect("try") {
            ChallengeTry::Granted(_, n) => {
                assert_eq!(n, 1);
                granted += 1;
            }
            ChallengeTry::Busy => {}
            ChallengeTry::Gone => panic!("a live challenge with tries left"),
        }
    }
    assert_eq!(granted, 1);
}

async fn of_twenty_concurrent_takes_of_a_challenge_one_wins(store: AnyTokenStore) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    let takes = (0..20).map(|_| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move { store.challenge_take(&key).await })
    });
    let mut wins = 0;
    for t in takes.collect::<Vec<_>>() {
        wins += usize::from(t.await.expect("join").expect("take"));
    }
    assert_eq!(wins, 1);
    assert_eq!(try_(&store, &key, 5).await, ChallengeTry::Gone);
}

async fn a_challenge_ends_with_its_lifetime(store: AnyTokenStore) {
    let (key, c) = challenge();
    store
        .challenge_put(&key, &c, Duration::from_millis(300))
        .await
        .expect("put");
    assert!(matches!(
        try_(&store, &key, 5).await,
        ChallengeTry::Granted(..)
    ));
    store.challenge_release(&key).await.expect("release");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(try_(&store, &key, 5).await, ChallengeTry::Gone);
    store
        .challenge_release(&key)
        .await
        .expect("release after the end");
    assert_eq!(
        try_(&store, &key, 5).await,
        ChallengeTry::Gone,
        "a release brings nothing back"
    );
    assert!(!store.challenge_take(&key).await.expect("take"));
}
