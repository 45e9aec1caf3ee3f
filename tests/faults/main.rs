//! Fault tests against the real `api` binary: Redis dying, a cluster primary killed, the
//! database cut off, SIGTERM with requests in flight, and start-ups that must fail fast and say why.
//!
//! Every fault is private to the test: a redis-server of its own, a TCP proxy in front of
//! the shared database. Recovery is awaited with a generous bound and the time it took is
//! printed (RELIABILITY.md reports it); no case asserts on speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

mod failover;
mod outage;
mod races;
mod scale;
mod startup;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use db::Backend;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use testkit::{run_suite, Plan, Prepared};

/// A blocking HTTP client with a bound on every request.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A unique user name.
pub fn name() -> String {
    testkit::random_name("f")
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// Registers `user` and logs in; returns the token response.
pub fn register_login(c: &Client, base: &str, user: &str) -> Value {
    let r = c
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"username": user, "email": format!("{user}@example.com"), "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "register {user}: {:?}", r.text());
    login(c, base, user).expect("login")
}

/// Logs in; `Err(response)` unless 200.
pub fn login(c: &Client, base: &str, user: &str) -> Result<Value, Response> {
    let r = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .unwrap();
    if r.status() == 200 {
        Ok(r.json().unwrap())
    } else {
        Err(r)
    }
}

/// The string field `key` of a JSON object.
pub fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// Checks an answer is the fail-closed 503: problem+json, `Retry-After`, code.
pub fn assert_unavailable(r: Response, what: &str) {
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").is_some();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = r.json().unwrap_or_default();
    assert_eq!(status, 503, "{what}: {body}");
    assert!(retry, "{what}: Retry-After missing");
    assert_eq!(ct, "application/problem+json", "{what}");
    assert_eq!(body["code"], "service_unavailable", "{what}");
}

/// Polls `f` until it returns `Some` or `bound` passes; returns the value and the time taken.
pub fn within<T>(bound: Duration, mut f: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let start = Instant::now();
    while start.elapsed() < bound {
        if let Some(v) = f() {
            return Some((v, start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn plan(label: &str, backend: Backend, cases: fn(Backend) -> Vec<libtest_mimic::Trial>) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || {
            // Reachability of the shared server: create (and drop) one database.
            drop(testkit::TestDatabase::create(backend)?);
            let binary = strata_e2e::process::api_binary();
            if !binary.exists() {
                return Err(testkit::SetupError::Failed(format!(
                    "{} is missing: run `cargo build -p api` (make test does)",
                    binary.display()
                )));
            }
            Ok(Prepared {
                trials: cases(backend),
                guard: Box::new(()),
            })
        }),
    }
}

fn sqlite_cases(backend: Backend) -> Vec<libtest_mimic::Trial> {
    let mut v = testkit::trials![
        outage::outage_answers_503_then_recovers_without_restart,
        outage::sigterm_finishes_in_flight_requests_and_exits_zero,
    ];
    v.extend(startup::cases());
    v.extend(races::cases(races::On {
        backend,
        cluster: false,
    }));
    v
}

fn server_cases(backend: Backend) -> Vec<libtest_mimic::Trial> {
    let mut v =
        testkit::trials![backend => outage::outage_answers_503_then_recovers_and_loses_no_write];
    v.extend(races::cases(races::On {
        backend,
        cluster: false,
    }));
    v
}

/// A private Redis Cluster per case: a primary killed under traffic, and the races.
fn cluster_cases(backend: Backend) -> Vec<libtest_mimic::Trial> {
    let mut v = testkit::trials![
        failover::a_killed_primary_costs_only_its_own_sessions_503s_until_its_replica_takes_over
    ];
    v.extend(races::cases(races::On {
        backend,
        cluster: true,
    }));
    v
}

/// PostgreSQL at scale: each case a private primary, its replica and a PgBouncer.
fn scale_cases(backend: Backend) -> Vec<libtest_mimic::Trial> {
    testkit::trials![backend =>
        scale::through_pgbouncer_the_statement_cache_fails_and_the_pooler_mode_does_not,
        scale::reads_that_may_lag_land_on_the_replica_and_writes_on_the_primary,
        scale::a_users_own_writes_show_at_once_on_either_instance,
        scale::a_replica_held_behind_loses_its_reads_and_gets_them_back,
        scale::a_replica_stopped_and_started_under_traffic_costs_no_error,
        scale::a_frozen_replica_costs_a_read_a_wait_at_most_and_no_error,
        scale::the_primary_down_is_a_503_and_recovers_by_itself,
        scale::a_pgbouncer_restart_costs_503s_at_most_and_heals,
    ]
}

fn main() -> ExitCode {
    strata_e2e::install_tls();
    run_suite(
        "faults",
        vec![
            plan("sqlite + private redis", Backend::Sqlite, sqlite_cases),
            plan(
                "postgres (proxied) + redis",
                Backend::Postgres,
                server_cases,
            ),
            plan("mysql (proxied) + redis", Backend::Mysql, server_cases),
            plan(
                "postgres via pgbouncer + replica + redis",
                Backend::Postgres,
                scale_cases,
            ),
            plan(
                "sqlite + private redis cluster",
                Backend::Sqlite,
                cluster_cases,
            ),
        ],
    )
}
