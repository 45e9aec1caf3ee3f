//! PostgreSQL at scale: PgBouncer in transaction mode in front of a private primary, and a
//! streaming replica of it (`pg_basebackup -R`) taking the reads that may lag. Which server
//! served a read is read off the replica's own statistics, never off a flag in strata.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db::{Backend, DatabaseConfig, DatabaseUrl, PoolOptions, Pooler};
use serde_json::{json, Value};
use strata_e2e::pgbouncer::PgBouncer;
use strata_e2e::postgres_pair::{psql, PostgresPair};
use strata_e2e::process::ApiProcess;
use strata_e2e::{Backing, SCALED_DB};
use testkit::TestDatabase;

use crate::{assert_unavailable, client, name, register_login, s, within};

const START: Duration = Duration::from_secs(60);
/// Generous: a replica's statistics reach its views within about ten seconds.
const BOUND: Duration = Duration::from_secs(60);

/// The pair, the pooler and one app (two with `second`) on them.
struct Scaled {
    backing: Backing,
    apps: Vec<ApiProcess>,
}

impl Scaled {
    fn start(max_lag: &str, instances: usize) -> Scaled {
        let backing = Backing::scaled(max_lag).unwrap();
        let env = backing.env.with("DB_TIMEOUT", "2s");
        let apps = (0..instances)
            .map(|_| ApiProcess::start(&env, START).unwrap())
            .collect();
        Scaled { backing, apps }
    }

    fn pair(&self) -> &PostgresPair {
        &self.backing.scale.as_ref().unwrap().1
    }

    fn bouncer(&mut self) -> &mut PgBouncer {
        &mut self.backing.scale.as_mut().unwrap().0
    }

    fn base(&self, i: usize) -> String {
        self.apps[i].address.clone()
    }

    /// Scans of `tasks` the replica has counted: they grow only when it serves a list.
    fn replica_task_scans(&self) -> i64 {
        let sql = "SELECT coalesce(sum(seq_scan), 0) + coalesce(sum(idx_scan), 0) \
                   FROM pg_stat_user_tables WHERE relname = 'tasks'";
        psql(self.pair().replica.port, SCALED_DB, sql)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The replica's state in `/ready` of app `i` (`serving`, `lagging`, `down`); `None`
    /// when `/ready` itself did not answer 200 (a busy primary under traffic).
    fn replica_state(&self, i: usize) -> Option<String> {
        let r = client()
            .get(format!("{}/ready", self.base(i)))
            .send()
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let body: Value = r.json().ok()?;
        body["replicas"][0]["state"].as_str().map(str::to_owned)
    }

    /// Waits until the replica's statistics show it serving task lists.
    fn replica_in_use(&self) {
        let before = self.replica_task_scans();
        within(BOUND, || (self.replica_task_scans() > before).then_some(()))
            .expect("the replica served no task list");
    }

    fn wait_replica(&self, state: &str) {
        within(BOUND, || (self.replica_state(0)? == state).then_some(()))
            .unwrap_or_else(|| panic!("the replica never became {state}"));
    }
}

fn tasks(base: &str, access: &str) -> Vec<String> {
    let r = client()
        .get(format!("{base}/api/tasks?limit=100"))
        .bearer_auth(access)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(t, "title"))
        .collect()
}

fn create(base: &str, access: &str, title: &str) -> u16 {
    client()
        .post(format!("{base}/api/tasks"))
        .bearer_auth(access)
        .json(&json!({ "title": title }))
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// A task of user `user_id` written straight into the primary: nothing in strata knows.
fn insert_behind_strata(pair: &PostgresPair, user_id: &str, title: &str) {
    let id = uuid::Uuid::now_v7();
    let sql = format!(
        "INSERT INTO tasks (id, user_id, title, done, created_at, updated_at) \
         VALUES ('{id}', '{user_id}', '{title}', false, now(), now())"
    );
    psql(pair.primary.port, SCALED_DB, &sql).unwrap();
}

fn user_id(base: &str, access: &str) -> String {
    let me: Value = client()
        .get(format!("{base}/api/users/me"))
        .bearer_auth(access)
        .send()
        .unwrap()
        .json()
        .unwrap();
    s(&me, "id")
}

/// Through PgBouncer (one server connection, so every client shares it) Diesel's statement
/// cache collides with itself: the failure strata's pooler mode exists for. With the
/// mode on, the same traffic runs clean.
pub fn through_pgbouncer_the_statement_cache_fails_and_the_pooler_mode_does_not(_backend: Backend) {
    let database = TestDatabase::create(Backend::Postgres).unwrap();
    let real = database.url_string().to_owned();
    let upstream = crate::outage::authority(&real);
    let port: u16 = upstream.rsplit(':').next().unwrap().parse().unwrap();
    let bouncer = PgBouncer::start(port, 1).unwrap();
    let through = real.replacen(&upstream, &format!("127.0.0.1:{}", bouncer.port), 1);
    let url = DatabaseUrl::parse(&through).unwrap();
    let pool = PoolOptions {
        max_size: 4,
        checkout_timeout: Duration::from_secs(5),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let traffic = |pooler: Pooler| -> (usize, Vec<String>) {
        let mut config = DatabaseConfig::direct(url.clone(), pool);
        config.pooler = pooler;
        let db = match db::connect(&config) {
            Ok(db) => db,
            Err(e) => return (1, vec![e.to_string()]),
        };
        let users = repos::UserRepo::new(db);
        rt.block_on(async {
            let mut errors = Vec::new();
            for round in 0..50 {
                let mut tries = tokio::task::JoinSet::new();
                for i in 0..4 {
                    let users = users.clone();
                    tries.spawn(async move { users.find_by_id(&format!("u{round}_{i}")).await });
                }
                while let Some(r) = tries.join_next().await {
                    if let Ok(Err(e)) = r {
                        errors.push(e.to_string());
                    }
                }
            }
            (errors.len(), errors)
        })
    };
    let (cached, why) = traffic(Pooler::Direct);
    assert!(cached > 0, "the statement cache should have collided");
    assert!(
        why.iter().any(|e| e.contains("prepared statement")),
        "{why:?}"
    );
    let (uncached, why) = traffic(Pooler::PgBouncer);
    assert_eq!(uncached, 0, "{why:?}");
}

/// Task lists go to the replica once the user's own write is replayed and its mark has
/// lapsed; every write lands on the primary (the replica is read-only: one there would
/// have been a 500).
pub fn reads_that_may_lag_land_on_the_replica_and_writes_on_the_primary(_backend: Backend) {
    let scaled = Scaled::start("1s", 1);
    let base = scaled.base(0);
    let tokens = register_login(&client(), &base, &name());
    let access = s(&tokens, "access_token");
    for i in 0..5 {
        assert_eq!(create(&base, &access, &format!("t{i}")), 201);
    }
    let id = user_id(&base, &access);
    let on_primary = psql(
        scaled.pair().primary.port,
        SCALED_DB,
        &format!("SELECT count(*) FROM tasks WHERE user_id = '{id}'"),
    )
    .unwrap();
    assert_eq!(on_primary, "5");
    scaled.wait_replica("serving");
    let before = scaled.replica_task_scans();
    within(BOUND, || {
        assert_eq!(tasks(&base, &access).len(), 5);
        (scaled.replica_task_scans() > before).then_some(())
    })
    .expect("the replica never served a task list");
    within(BOUND, || {
        let metrics = client()
            .get(format!("{base}/metrics"))
            .send()
            .ok()?
            .text()
            .ok()?;
        metrics
            .contains("strata_db_replica_serving{replica=\"0\"} 1")
            .then_some(())
    })
    .expect("the metrics never showed the replica serving");
}

/// With the replica's replay paused (and a lag limit it stays within), a stranger's
/// write it has not replayed stays unseen: reads do go to it. Yet each user's own writes
/// show at once, on either instance: their reads skip the replica until it has them.
pub fn a_users_own_writes_show_at_once_on_either_instance(_backend: Backend) {
    let scaled = Scaled::start("20s", 2);
    let (a, b) = (scaled.base(0), scaled.base(1));
    let writer = s(&register_login(&client(), &a, &name()), "access_token");
    let reader = s(&register_login(&client(), &b, &name()), "access_token");
    let reader_id = user_id(&b, &reader);
    scaled.wait_replica("serving");
    // The reader's registration mark lapses (20 s + a margin), then its reads use the replica.
    let before = scaled.replica_task_scans();
    within(BOUND, || {
        tasks(&b, &reader);
        (scaled.replica_task_scans() > before).then_some(())
    })
    .expect("the reader's lists never reached the replica");

    scaled.pair().pause_replay().unwrap();
    insert_behind_strata(scaled.pair(), &reader_id, "unseen");
    let before = scaled.replica_task_scans();
    assert!(
        !tasks(&b, &reader).contains(&"unseen".to_owned()),
        "a read that may lag went to the primary: the replica is not in use"
    );
    within(BOUND, || {
        (scaled.replica_task_scans() > before).then_some(())
    })
    .expect("the list that missed the row was not the replica's");
    for i in 0..10 {
        let title = format!("mine {i}");
        let (on, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        assert_eq!(create(on, &writer, &title), 201);
        assert!(
            tasks(other, &writer).contains(&title),
            "{title} missing on the other instance"
        );
    }
    scaled.pair().resume_replay().unwrap();
}

/// A replica held further behind than the lag limit gets no reads (the user sees the
/// primary's rows) and `/ready` says so without failing; replaying again, it serves again.
pub fn a_replica_held_behind_loses_its_reads_and_gets_them_back(_backend: Backend) {
    let scaled = Scaled::start("1s", 1);
    let base = scaled.base(0);
    let access = s(&register_login(&client(), &base, &name()), "access_token");
    let id = user_id(&base, &access);
    scaled.wait_replica("serving");
    scaled.pair().pause_replay().unwrap();
    insert_behind_strata(scaled.pair(), &id, "fresh");
    scaled.wait_replica("lagging");
    let body: Value = client()
        .get(format!("{base}/ready"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        tasks(&base, &access).contains(&"fresh".to_owned()),
        "a lagging replica served a read"
    );
    scaled.pair().resume_replay().unwrap();
    scaled.wait_replica("serving");
    let before = scaled.replica_task_scans();
    within(BOUND, || {
        assert!(tasks(&base, &access).contains(&"fresh".to_owned()));
        (scaled.replica_task_scans() > before).then_some(())
    })
    .expect("the replica never got its reads back");
}

/// Traffic from a few users in a loop, every other one only reading (so that its reads
/// are the replica's: a writer's next read waits for its write); every answer that is
/// not 2xx, or that takes more than 10 s (a read stuck on a server that hangs), is kept.
fn traffic(base: String, users: Vec<String>, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<String>>> {
    let bad = Arc::new(Mutex::new(Vec::new()));
    for (n, access) in users.into_iter().enumerate() {
        let writes = n % 2 == 0;
        let (base, stop, bad) = (base.clone(), stop.clone(), bad.clone());
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let mut answers = Vec::new();
                if writes {
                    answers.push(
                        c.post(format!("{base}/api/tasks"))
                            .bearer_auth(&access)
                            .json(&json!({ "title": format!("t{i}") }))
                            .send(),
                    );
                }
                answers.extend([
                    c.get(format!("{base}/api/tasks"))
                        .bearer_auth(&access)
                        .send(),
                    c.get(format!("{base}/api/users/me"))
                        .bearer_auth(&access)
                        .send(),
                ]);
                for r in answers {
                    match r {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => bad.lock().unwrap().push(format!(
                            "{} {}",
                            r.status(),
                            r.text().unwrap_or_default()
                        )),
                        Err(e) => bad.lock().unwrap().push(e.to_string()),
                    }
                }
            }
        });
    }
    bad
}

/// Takes the replica out under traffic from readers and writers (`fault`), waits until the
/// watch sees it down, leaves it out for `out_for`, brings it back (`heal`), and asserts
/// that no client saw an error or waited past its deadline.
fn replica_fault_under_traffic(
    fault: impl Fn(&PostgresPair),
    out_for: Duration,
    heal: impl Fn(&PostgresPair),
) {
    let scaled = Scaled::start("1s", 1);
    let base = scaled.base(0);
    let users = (0..4)
        .map(|_| s(&register_login(&client(), &base, &name()), "access_token"))
        .collect();
    scaled.wait_replica("serving");
    let stop = Arc::new(AtomicBool::new(false));
    let bad = traffic(base.clone(), users, stop.clone());
    scaled.replica_in_use();
    fault(scaled.pair());
    scaled.wait_replica("down");
    std::thread::sleep(out_for);
    heal(scaled.pair());
    scaled.wait_replica("serving");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let bad = bad.lock().unwrap();
    assert!(
        bad.is_empty(),
        "{} errors: {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
}

/// A replica stopped and started again under traffic costs no client an error: its reads
/// go to the primary while it is down, and come back when it answers.
pub fn a_replica_stopped_and_started_under_traffic_costs_no_error(_backend: Backend) {
    replica_fault_under_traffic(
        |pair| pair.replica.stop().unwrap(),
        Duration::from_secs(1),
        |pair| pair.replica.start().unwrap(),
    );
}

/// The primary's outage: writes and `/ready` are 503s while the replica goes on serving
/// the reads that may lag, and the service recovers by itself once the primary is back
/// (through the pooler, which reconnects on its own).
pub fn the_primary_down_is_a_503_and_recovers_by_itself(_backend: Backend) {
    // Without the primary's positions the watch counts its silence as lag: a wide limit
    // keeps the replica serving for the length of the check.
    let scaled = Scaled::start("30s", 1);
    let base = scaled.base(0);
    let access = s(&register_login(&client(), &base, &name()), "access_token");
    assert_eq!(create(&base, &access, "before"), 201);
    scaled.pair().wait_caught_up().unwrap();
    scaled.pair().primary.stop().unwrap();
    // Reads that may lag are the replica's: they go on being served.
    within(BOUND, || {
        let r = client()
            .get(format!("{base}/api/tasks"))
            .bearer_auth(&access)
            .send()
            .unwrap();
        (r.status() == 200).then_some(())
    })
    .expect("the replica did not serve the task list while the primary was down");
    let r = client()
        .post(format!("{base}/api/tasks"))
        .bearer_auth(&access)
        .json(&json!({ "title": "during" }))
        .send()
        .unwrap();
    assert_unavailable(r, "a write with the primary down");
    let ready = client().get(format!("{base}/ready")).send().unwrap();
    assert_eq!(ready.status(), 503);
    scaled.pair().primary.start().unwrap();
    let (_, took) = within(BOUND, || {
        (create(&base, &access, "after") == 201).then_some(())
    })
    .expect("the service did not recover");
    println!("recovered {took:?} after the primary came back");
}

/// PgBouncer killed and started again under traffic: answers are 2xx or 503, never a 500,
/// and writes succeed again without restarting strata.
pub fn a_pgbouncer_restart_costs_503s_at_most_and_heals(_backend: Backend) {
    let mut scaled = Scaled::start("1s", 1);
    let base = scaled.base(0);
    let users: Vec<String> = (0..3)
        .map(|_| s(&register_login(&client(), &base, &name()), "access_token"))
        .collect();
    let probe = users[0].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let bad = traffic(base.clone(), users, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    scaled.bouncer().kill();
    std::thread::sleep(Duration::from_secs(1));
    scaled.bouncer().restart().unwrap();
    let (_, took) = within(BOUND, || {
        (create(&base, &probe, "after") == 201).then_some(())
    })
    .expect("writes never came back after the pooler restarted");
    println!("writes back {took:?} after PgBouncer restarted");
    stop.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    let bad = bad.lock().unwrap();
    let not_503: Vec<&String> = bad.iter().filter(|e| !e.starts_with("503")).collect();
    assert!(not_503.is_empty(), "{not_503:?}");
}

/// A replica that hangs (every process stopped, connections open, nothing answered) costs
/// a read at most the replica wait, never an error: the read goes to the primary, the
/// watch takes the replica out, and it serves again once it runs.
pub fn a_frozen_replica_costs_a_read_a_wait_at_most_and_no_error(_backend: Backend) {
    // Longer than the traffic's 10 s deadline: a read left waiting on it would fail.
    replica_fault_under_traffic(
        |pair| pair.replica.freeze().unwrap(),
        Duration::from_secs(12),
        |pair| pair.replica.thaw().unwrap(),
    );
}
