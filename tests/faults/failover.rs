//! A primary of a private Redis Cluster killed under traffic: the users whose sessions it
//! held get 503s and nothing else, everyone else is served throughout, and every session
//! works again once the primary's replica is promoted (its scripts loaded afresh there).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use db::Backend;
use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;
use strata_e2e::Backing;

use crate::{client, name, register_login, s, within};

/// Users enough that every primary holds some of their sessions.
const USERS: usize = 30;

/// One answer to `GET /api/users/me`: status, and for a 503 whether it was the documented
/// problem (`service_unavailable` with `Retry-After`).
#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Instant,
    status: u16,
    documented: bool,
}

fn me(c: &reqwest::blocking::Client, base: &str, access: &str) -> Seen {
    let r = c
        .get(format!("{base}/api/users/me"))
        .bearer_auth(access)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().contains_key("retry-after");
    let body: Value = r.json().unwrap_or_default();
    Seen {
        at: Instant::now(),
        status,
        documented: status != 503 || (retry && body["code"] == "service_unavailable"),
    }
}

/// The log's lines about the token store being unavailable, at most ten.
fn outages(app: &ApiProcess) -> String {
    let log = app.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("unavailable")).collect();
    lines[..lines.len().min(10)].join("\n")
}

pub fn a_killed_primary_costs_only_its_own_sessions_503s_until_its_replica_takes_over() {
    let mut backing = Backing::on_cluster(Backend::Sqlite).unwrap();
    let app = ApiProcess::start(&backing.env, Duration::from_secs(60)).unwrap();
    let base = app.address.clone();
    let c = client();
    // Each user's keys share the tag of its id, so one primary holds all of a user's session.
    let mut users = Vec::new();
    for _ in 0..USERS {
        let tokens = register_login(&c, &base, &name());
        let access = s(&tokens, "access_token");
        let id: Value = c
            .get(format!("{base}/api/users/me"))
            .bearer_auth(&access)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let key = format!("user:{{{}}}:sessions", s(&id, "id"));
        let cluster = backing.cluster.as_ref().unwrap();
        let owner = cluster.owner_of(&key).expect("the slot's primary");
        users.push((owner, tokens));
    }
    let cluster = backing.cluster.as_mut().unwrap();
    let mut per_primary: HashMap<u16, usize> = HashMap::new();
    for (owner, _) in &users {
        *per_primary.entry(*owner).or_default() += 1;
    }
    assert_eq!(
        per_primary.len(),
        3,
        "sessions spread over the primaries: {per_primary:?}"
    );
    let victim = users[0].0;
    // Replication is asynchronous: a write acknowledged a moment before the kill may not
    // have reached the replica. Let it catch up, so that any loss below is strata's.
    cluster.wait_replicated(victim).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Vec<Seen>>>> = Arc::new(Mutex::new(vec![Vec::new(); USERS]));
    let threads: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, (_, tokens))| {
            let (stop, seen, base) = (stop.clone(), seen.clone(), base.clone());
            let access = s(tokens, "access_token");
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    let answer = me(&c, &base, &access);
                    seen.lock().unwrap()[i].push(answer);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    cluster.kill(victim);

    // Recovered: every user's latest answer, given after the kill, is 200 again.
    let last_ok = |seen: &Vec<Vec<Seen>>| {
        seen.iter().all(|answers| {
            answers
                .last()
                .is_some_and(|a| a.at > killed + Duration::from_millis(500) && a.status == 200)
        })
    };
    // `/ready` is asked all along: asking every primary must not hold up other requests.
    let mut readies = Vec::new();
    let recovered = within(Duration::from_secs(60), || {
        readies.push(c.get(format!("{base}/ready")).send().unwrap().status());
        last_ok(&seen.lock().unwrap()).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let (_, took) = recovered.expect("every session answers 200 again after the promotion");
    cluster.wait_healed(Duration::from_secs(30)).unwrap();

    let seen = seen.lock().unwrap();
    let mut outage = Duration::ZERO;
    let mut unavailable = 0;
    for (i, answers) in seen.iter().enumerate() {
        let on_victim = users[i].0 == victim;
        for a in answers {
            if on_victim {
                assert!(
                    matches!(a.status, 200 | 503) && a.documented,
                    "a session on the killed primary answered {a:?}"
                );
            } else {
                assert_eq!(
                    a.status,
                    200,
                    "a session on a healthy primary answered {a:?} ({:?} after the kill); the log's outages:\n{}",
                    a.at.saturating_duration_since(killed),
                    outages(&app)
                );
            }
        }
        let failures: Vec<&Seen> = answers.iter().filter(|a| a.status == 503).collect();
        unavailable += failures.len();
        if let (Some(first), Some(last)) = (failures.first(), failures.last()) {
            outage = outage.max(last.at - first.at);
        }
    }
    assert!(unavailable > 0, "the kill was never noticed: no 503 at all");
    assert!(
        readies.contains(&reqwest::StatusCode::SERVICE_UNAVAILABLE),
        "/ready while a primary is down: {readies:?}"
    );
    println!(
        "    failover: {} sessions on the killed primary, 503s for {outage:?}, all 200 again {took:?} after the kill",
        per_primary[&victim]
    );

    // Every session survived, and the scripts run on the promoted replica (which had none
    // loaded): rotation, logout, and the ready check asking every primary.
    for (owner, tokens) in users.iter().filter(|(o, _)| *o == victim) {
        let r = c
            .post(format!("{base}/api/auth/refresh"))
            .json(&json!({"refresh_token": s(tokens, "refresh_token")}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "refresh of a session of primary {owner}");
        let pair: Value = r.json().unwrap();
        let r = c
            .post(format!("{base}/api/auth/logout"))
            .bearer_auth(s(&pair, "access_token"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "logout after the promotion");
        assert_eq!(me(&c, &base, &s(&pair, "access_token")).status, 401);
    }
    assert_eq!(c.get(format!("{base}/ready")).send().unwrap().status(), 200);
    let log = app.log_text();
    assert!(!log.contains("panicked"), "the log shows a panic:\n{log}");
}
