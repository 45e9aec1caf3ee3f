//! A dependency goes away while the service runs: answers are 503 (never 200, never 500,
//! never a panic) and the service recovers by itself when the dependency returns.

use std::time::Duration;

use db::Backend;
use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;
use strata_e2e::proxy::Proxy;
use strata_e2e::redis_server::RedisServer;
use strata_e2e::{Backing, Env};
use testkit::TestDatabase;

use crate::{assert_unavailable, client, login, name, register_login, s, within};

const START: Duration = Duration::from_secs(60);

fn assert_no_panic(app: &ApiProcess) {
    let log = app.log_text();
    assert!(!log.contains("panicked"), "the log shows a panic:\n{log}");
}

pub fn outage_answers_503_then_recovers_without_restart() {
    let mut redis = RedisServer::start().unwrap();
    let database = TestDatabase::create(Backend::Sqlite).unwrap();
    let env = Env::new(database.url_string(), Some((redis.url(), "faults:".into())))
        .with("REDIS_TIMEOUT", "500ms");
    let app = ApiProcess::start(&env, START).unwrap();
    let c = client();
    let base = app.address.clone();
    let user = name();
    let tokens = register_login(&c, &base, &user);
    let access = s(&tokens, "access_token");
    let me = |token: &str| {
        c.get(format!("{base}/api/users/me"))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    assert_eq!(me(&access).status(), 200);

    redis.kill();
    for i in 0..5 {
        assert_unavailable(me(&access), &format!("users/me #{i} with Redis down"));
    }
    let r = c
        .post(format!("{base}/api/auth/refresh"))
        .json(&json!({"refresh_token": s(&tokens, "refresh_token")}))
        .send()
        .unwrap();
    assert_unavailable(r, "refresh with Redis down");
    assert_unavailable(
        login(&c, &base, &user).unwrap_err(),
        "login with Redis down",
    );
    let ready = c.get(format!("{base}/ready")).send().unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().unwrap();
    assert_eq!(body["checks"]["token_store"], "unavailable", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(
        c.get(format!("{base}/health")).send().unwrap().status(),
        200
    );

    redis.restart().unwrap();
    let (fresh, took) = within(Duration::from_secs(10), || login(&c, &base, &user).ok())
        .expect("a login succeeds again once Redis is back");
    println!("    recovery after Redis restart: first successful login {took:?} after the restart");
    assert_eq!(me(&s(&fresh, "access_token")).status(), 200);
    // This Redis keeps nothing on disk: the old session is gone, and says so.
    let old = me(&access);
    assert_eq!(old.status(), 401);
    assert_eq!(c.get(format!("{base}/ready")).send().unwrap().status(), 200);
    assert_no_panic(&app);
}

/// `host:port` of a server URL.
pub(crate) fn authority(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

pub fn outage_answers_503_then_recovers_and_loses_no_write(backend: Backend) {
    let backing = Backing::create(backend, true).unwrap();
    let real = backing.database.url_string().to_owned();
    let upstream = authority(&real);
    let proxy = Proxy::start(&upstream).unwrap();
    let proxied = real.replacen(&upstream, &format!("127.0.0.1:{}", proxy.port), 1);
    let env = backing
        .env
        .with("DATABASE_URL", &proxied)
        .with("DB_TIMEOUT", "1s");
    let app = ApiProcess::start(&env, START).unwrap();
    let c = client();
    let base = app.address.clone();
    let tokens = register_login(&c, &base, &name());
    let access = s(&tokens, "access_token");
    let create = |title: &str| {
        c.post(format!("{base}/api/tasks"))
            .bearer_auth(&access)
            .json(&json!({"title": title}))
            .send()
            .unwrap()
    };
    let mut attempted = Vec::new();
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let title = format!("before {i}");
        assert_eq!(create(&title).status(), 201);
        attempted.push(title.clone());
        acknowledged.push(title);
    }

    proxy.cut();
    for i in 0..5 {
        let title = format!("during {i}");
        attempted.push(title.clone());
        let r = create(&title);
        match r.status().as_u16() {
            201 => acknowledged.push(title),
            _ => assert_unavailable(r, &format!("create #{i} with the database cut off")),
        }
    }
    let list = c
        .get(format!("{base}/api/tasks"))
        .bearer_auth(&access)
        .send()
        .unwrap();
    assert_unavailable(list, "list with the database cut off");
    let ready = c.get(format!("{base}/ready")).send().unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().unwrap();
    assert_eq!(body["checks"]["database"], "unavailable", "{body}");
    assert_eq!(
        c.get(format!("{base}/health")).send().unwrap().status(),
        200
    );

    proxy.restore();
    let (page, took) = within(Duration::from_secs(15), || {
        let r = c
            .get(format!("{base}/api/tasks?limit=100"))
            .bearer_auth(&access)
            .send()
            .ok()?;
        (r.status() == 200)
            .then(|| r.json::<Value>().ok())
            .flatten()
    })
    .expect("the task list answers again once the database is back");
    println!("    recovery after the database came back: {took:?}");
    let titles: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(t, "title"))
        .collect();
    for t in &acknowledged {
        assert!(
            titles.contains(t),
            "acknowledged task {t:?} is missing: {titles:?}"
        );
    }
    for t in &titles {
        assert!(attempted.contains(t), "a task nobody created: {t:?}");
    }
    for item in page["items"].as_array().unwrap() {
        assert!(
            item["id"].is_string() && item["created_at"].is_string() && item["done"].is_boolean(),
            "{item}"
        );
    }
    assert_eq!(create("after").status(), 201);
    assert_no_panic(&app);
}

pub fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let database = TestDatabase::create(Backend::Sqlite).unwrap();
    // A real bcrypt cost makes each registration take a while, so they are in flight.
    let env = Env::new(database.url_string(), None)
        .with("BCRYPT_COST", "12")
        .with("SHUTDOWN_TIMEOUT", "20s");
    let mut app = ApiProcess::start(&env, START).unwrap();
    let base = app.address.clone();
    let users: Vec<String> = (0..4).map(|_| name()).collect();
    let in_flight: Vec<_> = users
        .iter()
        .map(|u| {
            let (base, u) = (base.clone(), u.clone());
            std::thread::spawn(move || {
                client()
                    .post(format!("{base}/api/auth/register"))
                    .json(&json!({"username": u, "email": format!("{u}@example.com"), "password": crate::PASSWORD}))
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    // Let the requests reach the server before the signal.
    std::thread::sleep(Duration::from_millis(150));
    app.terminate();
    for (u, t) in users.iter().zip(in_flight) {
        let status = t.join().unwrap();
        assert_eq!(status.ok(), Some(201), "register {u} while shutting down");
    }
    let status = app
        .wait_exit(Duration::from_secs(30))
        .expect("the process exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    drop(app);

    // Nothing half-written: every acknowledged account logs in after a restart.
    let app = ApiProcess::start(&env.with("BCRYPT_COST", "12"), START).unwrap();
    let c = client();
    for u in &users {
        assert!(
            login(&c, &app.address, u).is_ok(),
            "{u} cannot log in after the restart"
        );
    }
}
