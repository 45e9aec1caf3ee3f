//! Hostile input, end to end: a table of bad requests against the real app, on every
//! backend. Each bad request must be answered with a 4xx `application/problem+json` (never
//! a 5xx, never a 2xx) and must leave the data as it was; values that are valid but
//! hostile (`<script>` in any text of any collection) must be stored and returned verbatim;
//! and no log line of the real binary may hold a password, a token or the secret.
//!
//! The routes, bodies and parameters come from the app's served OpenAPI document, so a new
//! resource is attacked as soon as it is documented.
//!
//! BeforeSuite creates the database (and a Redis key prefix), starts the app on
//! 127.0.0.1:0 and reads its document; each case makes users of its own, snapshots what
//! they own through the API, sends its requests and compares. AfterSuite prints how
//! many bad requests were tried, by group and by documented operation (every operation,
//! so one that nothing attacked shows as 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bodies;
mod client;
mod known;
mod logs;
mod round_trip;
mod spec;
mod table;
mod targets;
mod valid;
mod world;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db::{Backend, PoolOptions};
use strata_e2e::{Backing, Env, TestApp};
use testkit::{run_suite, trial, Plan, Prepared, SetupError};

pub use client::{pct, Body, Req, Resp};
pub use world::{Account, Expect, World};

/// What every case gets.
pub struct Ctx {
    /// The app's `host:port`.
    pub addr: String,
    /// The app's served OpenAPI document: the routes, bodies and parameters to attack.
    pub api: Arc<spec::Api>,
    /// Runs the `repos` calls.
    pub rt: tokio::runtime::Runtime,
    /// Finds a user a bad register request may have made.
    pub users: repos::UserRepo,
    /// The plan's environment (the log check starts the real binary with it).
    pub env: Env,
    /// Bad requests sent so far.
    pub bad: Mutex<Tried>,
    /// Valid-but-hostile requests sent so far.
    pub hostile_ok: AtomicUsize,
}

/// The bad requests sent so far, by group and by the documented operation each attacks.
#[derive(Default)]
pub struct Tried {
    pub groups: Vec<(&'static str, usize)>,
    /// By `Op::name`; `None` for requests that attack no documented operation.
    pub ops: BTreeMap<Option<String>, usize>,
}

impl Ctx {
    /// Counts a group's bad requests, each under the operation it names with
    /// `Req::aimed_at`, or else the one its method and path reach.
    pub fn count_bad<'a>(&self, group: &'static str, reqs: impl Iterator<Item = &'a Req>) {
        let mut tried = self.bad.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        for req in reqs {
            let op = req.aimed_at.clone().or_else(|| {
                self.api
                    .route_of(req.method, &req.target)
                    .map(spec::Op::name)
            });
            *tried.ops.entry(op).or_default() += 1;
            n += 1;
        }
        tried.groups.push((group, n));
    }

    /// Sends a request; panics if no answer comes.
    pub fn send(&self, req: &Req) -> Resp {
        match client::send(&self.addr, req) {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}", req.what),
        }
    }
}

/// One case: its name (`group::behaviour`) and its body, which panics on failure.
pub type Case = (&'static str, fn(&Ctx));

fn main() -> ExitCode {
    strata_e2e::install_tls();
    run_suite(
        "hostile",
        vec![
            plan(Backend::Sqlite, "sqlite + memory store", false),
            plan(Backend::Postgres, "postgres + redis", true),
            plan(Backend::Mysql, "mysql + redis", true),
        ],
    )
}

fn plan(backend: Backend, label: &str, redis: bool) -> Plan {
    let label = label.to_owned();
    Plan {
        label: label.clone(),
        before_suite: Box::new(move || before_suite(backend, redis, label)),
    }
}

/// AfterSuite: prints the counts, then stops the app and drops the database.
struct Guard {
    label: String,
    ctx: Arc<Ctx>,
    _app: TestApp,
    _backing: Backing,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let tried = self.ctx.bad.lock().unwrap_or_else(|p| p.into_inner());
        let mut groups = tried.groups.clone();
        groups.sort();
        let total: usize = groups.iter().map(|(_, n)| n).sum();
        let per_group: Vec<String> = groups.iter().map(|(g, n)| format!("{g} {n}")).collect();
        // Every documented operation, in the document's order, 0 included.
        let mut per_op: Vec<String> = self
            .ctx
            .api
            .ops
            .iter()
            .map(|op| {
                let n = tried.ops.get(&Some(op.name())).copied().unwrap_or(0);
                format!("{} {n}", op.name())
            })
            .collect();
        for (op, n) in &tried.ops {
            match op {
                Some(op) if self.ctx.api.ops.iter().any(|o| o.name() == *op) => {}
                Some(op) => per_op.push(format!("{op} (not documented) {n}")),
                None => per_op.push(format!("no documented operation {n}")),
            }
        }
        println!(
            "hostile on {}: {total} bad requests tried (by group: {}; by operation: {}); {} valid-but-hostile requests round-tripped",
            self.label,
            per_group.join(", "),
            per_op.join(", "),
            self.ctx.hostile_ok.load(Ordering::Relaxed)
        );
    }
}

fn before_suite(backend: Backend, redis: bool, label: String) -> Result<Prepared, SetupError> {
    let backing = Backing::create(backend, redis)?;
    // Failed logins are part of the table: no rate limit may turn them into 429s, or a
    // later valid login of the same case would fail.
    let env = backing
        .env
        .with("SHUTDOWN_TIMEOUT", "1")
        .with("DB_POOL_SIZE", "5")
        .with("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000")
        .with("LOGIN_MAX_FAILURES_PER_IP", "1000000");
    let app = TestApp::spawn(&env)
        .map_err(|e| SetupError::Failed(format!("starting the test app: {e}")))?;
    let database = db::init_db(
        &backing.database.url(),
        PoolOptions {
            max_size: 2,
            checkout_timeout: Duration::from_secs(5),
        },
    )
    .map_err(|e| SetupError::Failed(format!("opening the test database: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Failed(format!("tokio runtime: {e}")))?;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let doc = client::send(&addr, &Req::new("GET", "/api/openapi.json"))
        .map_err(|e| SetupError::Failed(format!("reading the OpenAPI document: {e}")))?;
    let ctx = Arc::new(Ctx {
        api: Arc::new(spec::Api::parse(&doc.json())),
        addr,
        rt,
        users: repos::UserRepo::new(database),
        env: env.clone(),
        bad: Mutex::new(Tried::default()),
        hostile_ok: AtomicUsize::new(0),
    });
    let mut cases: Vec<Case> = Vec::new();
    cases.extend_from_slice(table::CASES);
    cases.extend_from_slice(valid::CASES);
    cases.extend_from_slice(logs::CASES);
    let trials = cases
        .into_iter()
        .map(|(name, body)| {
            let ctx = ctx.clone();
            trial(name, move || body(&ctx))
        })
        .collect();
    Ok(Prepared {
        trials,
        guard: Box::new(Guard {
            label,
            ctx,
            _app: app,
            _backing: backing,
        }),
    })
}
