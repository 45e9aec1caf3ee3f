//! `make soak`: a bounded load run (about 60 s, 127.0.0.1 only) against the real binary.
//!
//! Many clients register, log in, refresh, and create, list, update and delete tasks at
//! once, each keeping its own record of what the server acknowledged. At the end every
//! acknowledged write must read back exactly, no answer may be a 5xx, and the server's
//! memory must have stopped growing.
//!
//! Settings: `SOAK_DB=sqlite|postgres|mysql` (SQLite uses the in-memory token store, the
//! servers Redis), `SOAK_SECONDS` (60), `SOAK_CLIENTS` (32), `STRATA_API_BIN`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use db::Backend;
use rand::Rng;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;
use strata_e2e::Backing;

const PASSWORD: &str = "soak password 1";

#[derive(Default)]
struct Stats {
    by_status: Mutex<BTreeMap<u16, u64>>,
    by_op: Mutex<BTreeMap<&'static str, u64>>,
    failures: Mutex<Vec<String>>,
    requests: AtomicU64,
}

impl Stats {
    fn record(&self, op: &'static str, status: StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .by_status
            .lock()
            .unwrap()
            .entry(status.as_u16())
            .or_default() += 1;
        *self.by_op.lock().unwrap().entry(op).or_default() += 1;
    }

    fn fail(&self, what: String) {
        let mut f = self.failures.lock().unwrap();
        if f.len() < 50 {
            f.push(what);
        }
    }
}

/// What one client believes the server holds for its user.
struct Client_ {
    http: Client,
    base: String,
    user: String,
    access: String,
    refresh: String,
    tasks: HashMap<String, (String, bool)>,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn send(
    stats: &Stats,
    op: &'static str,
    req: reqwest::RequestBuilder,
) -> Option<(StatusCode, Value)> {
    match req.send().await {
        Ok(r) => {
            let status = r.status();
            stats.record(op, status);
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            if status.is_server_error() {
                stats.fail(format!("{op}: {status} {body}"));
            }
            Some((status, body))
        }
        Err(e) => {
            stats.fail(format!("{op}: transport error {e}"));
            None
        }
    }
}

fn expect(stats: &Stats, op: &str, got: Option<&(StatusCode, Value)>, want: u16) -> bool {
    match got {
        Some((s, _)) if s.as_u16() == want => true,
        Some((s, b)) => {
            stats.fail(format!("{op}: expected {want}, got {s} {b}"));
            false
        }
        None => false,
    }
}

impl Client_ {
    async fn start(http: Client, base: String, stats: &Stats) -> Option<Client_> {
        let user = testkit::random_name("soak");
        let r = send(
            stats,
            "register",
            http.post(format!("{base}/api/auth/register"))
                .json(&json!({"username": user, "email": format!("{user}@example.com"), "password": PASSWORD})),
        )
        .await;
        if !expect(stats, "register", r.as_ref(), 201) {
            return None;
        }
        let mut c = Client_ {
            http,
            base,
            user,
            access: String::new(),
            refresh: String::new(),
            tasks: HashMap::new(),
        };
        c.login(stats).await.then_some(c)
    }

    async fn login(&mut self, stats: &Stats) -> bool {
        let r = send(
            stats,
            "login",
            self.http
                .post(format!("{}/api/auth/login", self.base))
                .json(&json!({"username": self.user, "password": PASSWORD})),
        )
        .await;
        if !expect(stats, "login", r.as_ref(), 200) {
            return false;
        }
        let body = &r.as_ref().unwrap().1;
        self.access = body["access_token"].as_str().unwrap_or_default().to_owned();
        self.refresh = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        true
    }

    async fn step(&mut self, stats: &Stats, rng: &mut rand::rngs::StdRng) {
        let roll: u32 = rng.random_range(0..100);
        let ids: Vec<String> = self.tasks.keys().cloned().collect();
        match roll {
            0..=34 => {
                let title = format!("task {}", rng.random::<u32>());
                let r = send(
                    stats,
                    "create",
                    self.http
                        .post(format!("{}/api/tasks", self.base))
                        .bearer_auth(&self.access)
                        .json(&json!({"title": title})),
                )
                .await;
                if expect(stats, "create", r.as_ref(), 201) {
                    let id = r.unwrap().1["id"].as_str().unwrap_or_default().to_owned();
                    self.tasks.insert(id, (title, false));
                }
            }
            35..=59 => {
                let r = send(
                    stats,
                    "list",
                    self.http
                        .get(format!("{}/api/tasks?limit=20", self.base))
                        .bearer_auth(&self.access),
                )
                .await;
                expect(stats, "list", r.as_ref(), 200);
            }
            60..=74 if !ids.is_empty() => {
                let id = &ids[rng.random_range(0..ids.len())];
                let done = rng.random::<bool>();
                let r = send(
                    stats,
                    "update",
                    self.http
                        .patch(format!("{}/api/tasks/{id}", self.base))
                        .bearer_auth(&self.access)
                        .json(&json!({"done": done})),
                )
                .await;
                if expect(stats, "update", r.as_ref(), 200) {
                    if let Some(t) = self.tasks.get_mut(id) {
                        t.1 = done;
                    }
                }
            }
            75..=84 if !ids.is_empty() => {
                let id = ids[rng.random_range(0..ids.len())].clone();
                let r = send(
                    stats,
                    "delete",
                    self.http
                        .delete(format!("{}/api/tasks/{id}", self.base))
                        .bearer_auth(&self.access),
                )
                .await;
                if expect(stats, "delete", r.as_ref(), 204) {
                    self.tasks.remove(&id);
                }
            }
            85..=94 => {
                let r = send(
                    stats,
                    "refresh",
                    self.http
                        .post(format!("{}/api/auth/refresh", self.base))
                        .json(&json!({"refresh_token": self.refresh})),
                )
                .await;
                if expect(stats, "refresh", r.as_ref(), 200) {
                    let body = r.unwrap().1;
                    self.access = body["access_token"].as_str().unwrap_or_default().to_owned();
                    self.refresh = body["refresh_token"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                }
            }
            95..=96 => {
                let r = send(
                    stats,
                    "logout",
                    self.http
                        .post(format!("{}/api/auth/logout", self.base))
                        .bearer_auth(&self.access),
                )
                .await;
                if expect(stats, "logout", r.as_ref(), 204) {
                    // The old token must be dead at once.
                    let r = send(
                        stats,
                        "me-after-logout",
                        self.http
                            .get(format!("{}/api/users/me", self.base))
                            .bearer_auth(&self.access),
                    )
                    .await;
                    expect(stats, "me-after-logout", r.as_ref(), 401);
                    self.login(stats).await;
                }
            }
            _ => {
                let r = send(
                    stats,
                    "me",
                    self.http
                        .get(format!("{}/api/users/me", self.base))
                        .bearer_auth(&self.access),
                )
                .await;
                expect(stats, "me", r.as_ref(), 200);
            }
        }
    }

    /// Pages through the server's tasks and compares them with what was acknowledged.
    async fn verify(&self, stats: &Stats) -> usize {
        let mut seen = HashMap::new();
        let mut cursor = String::new();
        loop {
            let url = format!("{}/api/tasks?limit=100&cursor={cursor}", self.base);
            let r = send(
                stats,
                "verify",
                self.http.get(url).bearer_auth(&self.access),
            )
            .await;
            if !expect(stats, "verify", r.as_ref(), 200) {
                return 0;
            }
            let page = r.unwrap().1;
            for t in page["items"].as_array().cloned().unwrap_or_default() {
                let id = t["id"].as_str().unwrap_or_default().to_owned();
                seen.insert(
                    id,
                    (
                        t["title"].as_str().unwrap_or_default().to_owned(),
                        t["done"].as_bool().unwrap_or(false),
                    ),
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        if seen != self.tasks {
            stats.fail(format!(
                "{}: server holds {} tasks, the client was acknowledged {}; first difference: {:?}",
                self.user,
                seen.len(),
                self.tasks.len(),
                self.tasks
                    .iter()
                    .find(|(k, v)| seen.get(*k) != Some(v))
                    .or_else(|| seen.iter().find(|(k, v)| self.tasks.get(*k) != Some(v)))
            ));
        }
        seen.len()
    }
}

fn main() -> ExitCode {
    strata_e2e::install_tls();
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let clients: usize = std::env::var("SOAK_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let backend = match std::env::var("SOAK_DB").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("mysql") => Backend::Mysql,
        _ => Backend::Sqlite,
    };
    let backing =
        Backing::create(backend, backend != Backend::Sqlite).expect("database for the soak");
    let env = backing
        .env
        .with("BCRYPT_COST", "4")
        .with("RUST_LOG", "warn,api=info");
    let app = ApiProcess::start(&env, Duration::from_secs(60)).expect("start api");
    let pid = app.pid();
    println!(
        "soak: {clients} clients for {seconds} s against {} ({backend}), pid {pid}",
        app.address
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stats = Arc::new(Stats::default());
    let http = Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (users, tasks_held) = rt.block_on(async {
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    samples.lock().unwrap().push(rss_kib(pid));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        let mut handles = Vec::new();
        for i in 0..clients {
            let (http, base, stats) = (http.clone(), app.address.clone(), stats.clone());
            handles.push(tokio::spawn(async move {
                let mut rng: rand::rngs::StdRng = rand::SeedableRng::seed_from_u64(i as u64);
                let mut c = Client_::start(http, base, &stats).await?;
                while Instant::now() < deadline {
                    c.step(&stats, &mut rng).await;
                }
                Some(c)
            }));
        }
        let mut finished = Vec::new();
        for h in handles {
            if let Ok(Some(c)) = h.await {
                finished.push(c);
            }
        }
        let _ = sampler.await;
        let mut held = 0;
        for c in &finished {
            held += c.verify(&stats).await;
        }
        (finished.len(), held)
    });

    let samples = samples.lock().unwrap().clone();
    let at = |frac: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * frac) as usize)
            .copied()
            .unwrap_or(0)
    };
    let (quarter, half, end, peak) = (
        at(0.25),
        at(0.5),
        at(1.0),
        samples.iter().copied().max().unwrap_or(0),
    );
    let requests = stats.requests.load(Ordering::Relaxed);
    println!(
        "soak: {requests} requests ({:.0}/s), {users} users, {tasks_held} tasks verified",
        requests as f64 / seconds as f64
    );
    println!("soak: by status {:?}", stats.by_status.lock().unwrap());
    println!("soak: by operation {:?}", stats.by_op.lock().unwrap());
    println!("soak: RSS KiB at 25% {quarter}, 50% {half}, end {end}, peak {peak}");
    let mut failures = stats.failures.lock().unwrap().clone();
    if users < clients {
        failures.push(format!("only {users} of {clients} clients got going"));
    }
    // Flat: no more than 16 MiB (or 25%) growth over the second half of the run.
    let allowed = (half / 4).max(16 * 1024);
    if end > half + allowed {
        failures.push(format!(
            "memory still growing: {half} KiB at half time, {end} KiB at the end"
        ));
    }
    let log = app.log_text();
    if log.contains("panicked") {
        failures.push("the server log shows a panic".into());
    }
    drop(app);
    drop(backing);
    if failures.is_empty() {
        println!("soak: PASS — zero 5xx, every acknowledged write read back, memory flat");
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            println!("soak: FAIL {f}");
        }
        ExitCode::FAILURE
    }
}
