//! End-to-end tests over HTTP: the real `api::Application` bound to 127.0.0.1:0, one fresh
//! database per backend, the same cases on each.
//!
//! BeforeSuite creates the database (and a Redis key prefix), starts the apps and a tokio
//! runtime for the HTTP client; the cases run in parallel (each with users of its own);
//! AfterSuite (dropping the guard) stops the apps first, then drops the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod attacks;
mod auth;
mod docs;
mod errors;
mod forge;
mod http;
mod introspect;
mod keys;
mod mfa;
mod oidc;
mod passkeys;
mod passwords;
mod sessions;
mod tasks;
mod tokens;
mod users;

// The generated resources' cases (the list is the workspace's resources.rs), a module each.
include!("../../resources.rs");
macro_rules! resource_cases {
    ($($name:ident: $service:ident),* $(,)?) => {
        $(mod $name;)*

        /// The generated resources' case groups.
        const RESOURCE_CASES: &[&[Case]] = &[$($name::CASES),*];
    };
}
with_resources!(resource_cases);

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use db::{Backend, PoolOptions};
use strata_e2e::{Backing, Env, TestApp};
use testkit::{run_suite, trial, Plan, Prepared, SetupError};

pub use http::{Ctx, Resp, Tokens, User};

/// One case: its name (`group::behaviour`) and its body, which panics on failure.
pub type Case = (&'static str, fn(&Ctx));

fn main() -> ExitCode {
    strata_e2e::install_tls();
    run_suite(
        "e2e",
        vec![
            plan(Backend::Sqlite, "sqlite + memory store", false),
            plan(Backend::Postgres, "postgres + redis", true),
            plan(Backend::Mysql, "mysql + redis", true),
            Plan {
                label: "postgres + redis cluster".to_owned(),
                before_suite: Box::new(|| start(Backing::on_cluster(Backend::Postgres)?)),
            },
            // The whole contract through a transaction pooler, with a replica taking the
            // reads that may lag: every case's own writes must show at once.
            Plan {
                label: "postgres via pgbouncer + replica + redis".to_owned(),
                before_suite: Box::new(|| start(Backing::scaled("2s")?)),
            },
        ],
    )
}

fn plan(backend: Backend, label: &str, redis: bool) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || start(Backing::create(backend, redis)?)),
    }
}

/// Everything AfterSuite drops, in field order: the client side first (so no keep-alive
/// connection holds a server open), then the apps, the runtime, and last the database.
struct Guard {
    _ctx: Arc<Ctx>,
    _apps: Vec<TestApp>,
    _runtime: Arc<tokio::runtime::Runtime>,
    _backing: Backing,
}

fn spawn(env: &Env) -> Result<TestApp, SetupError> {
    TestApp::spawn(env).map_err(|e| SetupError::Failed(format!("starting a test app: {e}")))
}

fn start(backing: Backing) -> Result<Prepared, SetupError> {
    let redis = backing.redis_prefix().is_some();
    // A short graceful stop: AfterSuite should not wait for idle keep-alive connections.
    let env = backing
        .env
        .with("SHUTDOWN_TIMEOUT", "1")
        .with("DB_POOL_SIZE", "5")
        .with("INTROSPECTION_CLIENTS", introspect::CLIENTS)
        // Every case signs in from 127.0.0.1, so one address's failures are the whole
        // suite's: the per-address limit is tested on the guarded app, with its own.
        .with("LOGIN_MAX_FAILURES_PER_IP", "1000000")
        // The HS256 apps verify the eddsa apps' tokens too: they read the published keys
        // when their watch sees a change, long before this hourly refresh.
        .with("JWT_KEYS_REFRESH", "1h");
    let main = spawn(&env)?;
    // A second instance on the same database and Redis: sessions must be shared.
    let second = if redis { Some(spawn(&env)?) } else { None };
    // Special settings, each on an app of its own (sharing the database, and on the Redis
    // plans the token store too).
    let limited = spawn(
        &env.with("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")
            .with("INTROSPECTION_MAX_PER_MINUTE", "3")
            .with(
                "WEBAUTHN_TIMEOUT",
                &format!("{}s", passkeys::SHORT_TIMEOUT.as_secs()),
            ),
    )?;
    let no_grace = spawn(&env.with("REFRESH_REUSE_GRACE", "0"))?;
    let rotated = spawn(
        &env.with("JWT_API_SECRET", forge::NEW_SECRET)
            .with("JWT_API_SECRET_PREVIOUS", strata_e2e::SECRET),
    )?;
    // The attacks' app: low limits, trusted proxy, short body deadline, and on the Redis
    // plans a key prefix of its own, so its counters can be counted.
    let guarded_prefix = backing.redis_prefix().map(|p| format!("{p}guarded:"));
    let mut guarded_env = attacks::GUARDED
        .iter()
        .fold(env.clone(), |e, (k, v)| e.with(k, v));
    if let Some(prefix) = &guarded_prefix {
        guarded_env = guarded_env.with("REDIS_KEY_PREFIX", prefix);
    }
    let guarded = spawn(&guarded_env)?;
    let argon2 = spawn(
        &passwords::ARGON2
            .iter()
            .fold(env.clone(), |e, (k, v)| e.with(k, v)),
    )?;
    let bcrypt5 = spawn(&env.with("BCRYPT_COST", "5"))?;
    let eddsa_env = keys::EDDSA
        .iter()
        .fold(env.clone(), |e, (k, v)| e.with(k, v));
    let oidc_app = start_oidc(&env)?;
    let mut eddsa = vec![spawn(&eddsa_env)?];
    if redis {
        eddsa.push(spawn(&eddsa_env)?);
    }

    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| SetupError::Failed(format!("tokio runtime: {e}")))?,
    );
    // Direct database access, only to check what HTTP cannot show (a deleted user's tasks).
    let database = db::init_db(
        &backing.database.url(),
        PoolOptions {
            max_size: 2,
            checkout_timeout: Duration::from_secs(5),
        },
    )
    .map_err(|e| SetupError::Failed(format!("opening the test database: {e}")))?;
    // Redirects are answers to look at (an OpenID callback's), not to follow.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| SetupError::Failed(format!("HTTP client: {e}")))?;
    let ctx = Arc::new(Ctx {
        rt: runtime.clone(),
        client,
        main: main.address.clone(),
        second: second.as_ref().map(|a| a.address.clone()),
        limited: limited.address.clone(),
        no_grace: no_grace.address.clone(),
        rotated: rotated.address.clone(),
        guarded: guarded.address.clone(),
        guarded_prefix,
        redis_nodes: backing.redis_nodes(),
        argon2: argon2.address.clone(),
        bcrypt5: bcrypt5.address.clone(),
        tasks: repos::TaskRepo::new(database.clone()),
        users: repos::UserRepo::new(database.clone()),
        database,
        eddsa: eddsa.iter().map(|a| a.address.clone()).collect(),
        database_config: env
            .config()
            .map_err(|e| SetupError::Failed(e.join("; ")))?
            .infra
            .database,
        mail_dir: backing.mail_dir(),
        oidc: oidc_app.as_ref().map(|(_, o)| o.clone_ctx()),
    });

    let mut cases: Vec<Case> = Vec::new();
    for group in [
        docs::CASES,
        auth::CASES,
        sessions::CASES,
        tokens::CASES,
        users::CASES,
        tasks::CASES,
        errors::CASES,
        attacks::CASES,
        mfa::CASES,
        passwords::CASES,
        keys::CASES,
        introspect::CASES,
        admin::CASES,
        passkeys::CASES,
        if ctx.oidc.is_some() { oidc::CASES } else { &[] },
    ]
    .into_iter()
    .chain(RESOURCE_CASES.iter().copied())
    {
        cases.extend_from_slice(group);
    }
    if redis {
        cases.extend_from_slice(sessions::TWO_INSTANCE_CASES);
        cases.extend_from_slice(attacks::REDIS_CASES);
    }
    let trials = cases
        .into_iter()
        .map(|(name, body)| {
            let ctx = ctx.clone();
            trial(name, move || body(&ctx))
        })
        .collect();

    let mut apps = vec![main, limited, no_grace, rotated, guarded, argon2, bcrypt5];
    apps.extend(eddsa);
    apps.extend(oidc_app.into_iter().flat_map(|(servers, _)| servers));
    apps.extend(second);
    Ok(Prepared {
        trials,
        guard: Box::new(Guard {
            _ctx: ctx,
            _apps: apps,
            _runtime: runtime,
            _backing: backing,
        }),
    })
}

/// Where a port was free a moment ago (for an app whose own address must be known before
/// it starts: a provider's redirect URI names it).
fn free_port() -> Result<u16, SetupError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| SetupError::Failed(format!("a free port: {e}")))
}

/// The app that signs in with a real OpenID provider, started with it; `None` where the
/// provider cannot run here (a failure when every backend is required).
fn start_oidc(env: &Env) -> Result<Option<(Vec<TestApp>, oidc::OidcCtx)>, SetupError> {
    if !strata_e2e::oidc_provider::available() {
        if testkit::require_all_backends() {
            return Err(SetupError::Failed(
                "the OpenID provider cannot run: Node and `npm ci` in tests/oidc are needed".into(),
            ));
        }
        eprintln!("skipping the OpenID cases: Node or tests/oidc/node_modules is missing");
        return Ok(None);
    }
    let (port, quick_port, dead) = (free_port()?, free_port()?, free_port()?);
    let (app, quick) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{quick_port}"),
    );
    let callbacks =
        [&app, &quick].map(|a| format!("{a}/api/auth/oidc/{}/callback", oidc::PROVIDER));
    let provider =
        strata_e2e::oidc_provider::OidcProvider::start(&callbacks).map_err(SetupError::Failed)?;
    let app_env = |url: &str, port: u16| {
        oidc::env(url, &provider, dead).iter().fold(
            env.with("BIND_ADDR", &format!("127.0.0.1:{port}")),
            |e, (k, v)| e.with(k, v),
        )
    };
    let server = spawn(&app_env(&app, port))?;
    // The same with flows that lapse in seconds: a state answered too late.
    let timeout = format!("{}s", oidc::QUICK_FLOW.as_secs());
    let quick_server = spawn(&app_env(&quick, quick_port).with("OIDC_FLOW_TIMEOUT", &timeout))?;
    let ctx = oidc::OidcCtx {
        app,
        quick,
        provider: std::sync::Arc::new(provider),
    };
    Ok(Some((vec![server, quick_server], ctx)))
}
