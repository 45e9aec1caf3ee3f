//! Support for the end-to-end tests: start the real application (the same `Application`
//! the binary runs) on 127.0.0.1:0 against a fresh database, and talk to it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Makes rustls on ring the test process's TLS provider, as the binary does: every reqwest
/// client needs one before it is built. Each suite's `main` calls it first.
pub fn install_tls() {
    services::install_tls_provider();
}

pub mod jwt_verifier;
pub mod mail_files;
pub mod oidc_provider;
pub mod pgbouncer;
pub mod postgres_pair;
pub mod process;
pub mod proxy;
pub mod redis_cluster;
pub mod redis_server;
pub mod smtp_server;
pub mod totp;

use api::{Application, Config};
use db::Backend;
use deadpool_redis::redis;
use testkit::{SetupError, TestDatabase};

/// The signing secret of every test app.
pub const SECRET: &str = "5ce7e5f0c2b34a1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d";

/// Where the Redis server for tests is.
pub fn redis_url() -> String {
    std::env::var("STRATA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Environment of one test app: `DATABASE_URL`, `REDIS_URL` and friends.
#[derive(Debug, Clone)]
pub struct Env(pub HashMap<String, String>);

impl Env {
    /// Defaults for tests: port 0, bcrypt cost 4, the test secret.
    pub fn new(database_url: &str, redis: Option<(String, String)>) -> Self {
        let mut m = HashMap::new();
        m.insert("DATABASE_URL".into(), database_url.into());
        m.insert("JWT_API_SECRET".into(), SECRET.into());
        m.insert("BIND_ADDR".into(), "127.0.0.1:0".into());
        m.insert("BCRYPT_COST".into(), "4".into());
        m.insert("HTTP_WORKERS".into(), "2".into());
        m.insert("APP_ENV".into(), "test".into());
        // The suites register many accounts from 127.0.0.1; the limit has tests of its own.
        m.insert("REGISTER_MAX_PER_IP".into(), "1000000".into());
        // Mails go to files under the temp directory unless a test gives an SMTP server.
        let mail_dir = std::env::temp_dir().join("strata-test-mail");
        m.insert("MAIL_DIR".into(), mail_dir.to_string_lossy().into_owned());
        m.insert("MAIL_POLL_INTERVAL".into(), "200ms".into());
        // Passkeys are bound to `localhost` (an IP address cannot be a relying party);
        // an origin without a port allows the apps' random ones.
        m.insert("WEBAUTHN_RP_ID".into(), "localhost".into());
        m.insert("WEBAUTHN_ORIGINS".into(), "http://localhost".into());
        if let Some((url, prefix)) = redis {
            m.insert("REDIS_URL".into(), url);
            m.insert("REDIS_KEY_PREFIX".into(), prefix);
        }
        Self(m)
    }

    /// The same environment with one variable changed.
    pub fn with(&self, key: &str, value: &str) -> Self {
        let mut e = self.clone();
        e.0.insert(key.into(), value.into());
        e
    }

    /// The configuration this environment gives.
    pub fn config(&self) -> Result<Config, Vec<String>> {
        let map = self.0.clone();
        Config::from_lookup(&move |k| map.get(k).cloned())
    }
}

/// A running app. Dropping it stops the server gracefully and waits for its thread.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Starts an app on its own thread (with its own actix system) and waits until it is
    /// bound. No sleep: the listener is bound before this returns.
    pub fn spawn(env: &Env) -> Result<TestApp, String> {
        let config = env.config().map_err(|e| e.join("; "))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Application::build(config).await {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.port(), app.handle())));
                        if let Err(e) = app.run_until_stopped().await {
                            eprintln!("test app stopped with an error: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
        });
        let (port, handle) = rx.recv().map_err(|e| e.to_string())??;
        Ok(TestApp {
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .build()
                .map_err(|e| e.to_string())?,
            handle,
            thread: Some(thread),
        })
    }

    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let stop = self.handle.stop(true);
        // The server's own system is on another thread; drive the stop future here.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            rt.block_on(stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A backend to run the suite on: a fresh database and, except for SQLite, Redis with a
/// key prefix of its own.
pub struct Backing {
    pub database: TestDatabase,
    pub env: Env,
    redis_prefix: Option<String>,
    /// The private cluster the apps use instead of the shared Redis, if any.
    pub cluster: Option<redis_cluster::PrivateCluster>,
    /// PostgreSQL at scale, if this backing is: the pooler first (dropped first), then
    /// the primary and its replica.
    pub scale: Option<(pgbouncer::PgBouncer, postgres_pair::PostgresPair)>,
}

/// The database the scaled backings make on their private primary.
pub const SCALED_DB: &str = "strata";

impl Backing {
    /// Creates the database (and checks Redis answers) for `backend`.
    pub fn create(backend: Backend, with_redis: bool) -> Result<Backing, SetupError> {
        let database = TestDatabase::create(backend)?;
        let prefix = with_redis.then(|| format!("{}:", testkit::random_name("strata_e2e")));
        if with_redis {
            redis_ping(&redis_url())?;
        }
        let env = Env::new(
            database.url_string(),
            prefix.clone().map(|p| (redis_url(), p)),
        )
        .with("MAIL_DIR", &own_mail_dir());
        Ok(Backing {
            database,
            env,
            redis_prefix: prefix,
            cluster: None,
            scale: None,
        })
    }

    /// PostgreSQL as it runs at scale: a private primary with a streaming replica, which
    /// the apps reach through PgBouncer in transaction mode (the primary) and directly
    /// (the replica, for the reads that may lag), with the shared Redis. `database` is
    /// the primary itself, for the cases' direct checks.
    pub fn scaled(replica_max_lag: &str) -> Result<Backing, SetupError> {
        if !pgbouncer::available() {
            return Err(SetupError::Unreachable(
                "pgbouncer is not installed (apt-get install pgbouncer)".into(),
            ));
        }
        redis_ping(&redis_url())?;
        let pair = postgres_pair::PostgresPair::start(SCALED_DB).map_err(SetupError::Failed)?;
        let bouncer =
            pgbouncer::PgBouncer::start(pair.primary.port, 20).map_err(SetupError::Failed)?;
        let database =
            TestDatabase::on_private_server(Backend::Postgres, &pair.primary.url(SCALED_DB));
        let prefix = format!("{}:", testkit::random_name("strata_e2e"));
        let env = Env::new(&bouncer.url(SCALED_DB), Some((redis_url(), prefix.clone())))
            .with("MAIL_DIR", &own_mail_dir())
            .with("DATABASE_POOLER", "pgbouncer")
            .with("DATABASE_REPLICA_URLS", &pair.replica.url(SCALED_DB))
            .with("REPLICA_MAX_LAG", replica_max_lag);
        Ok(Backing {
            database,
            env,
            redis_prefix: Some(prefix),
            cluster: None,
            scale: Some((bouncer, pair)),
        })
    }

    /// Creates the database for `backend` and a private Redis Cluster of 3 primaries with a
    /// replica each, which the apps reach through `REDIS_CLUSTER_URLS`.
    pub fn on_cluster(backend: Backend) -> Result<Backing, SetupError> {
        let database = TestDatabase::create(backend)?;
        let cluster = redis_cluster::PrivateCluster::start().map_err(SetupError::Unreachable)?;
        let prefix = format!("{}:", testkit::random_name("strata_e2e"));
        let mut env = Env::new(database.url_string(), None)
            .with("MAIL_DIR", &own_mail_dir())
            .with("REDIS_CLUSTER_URLS", &cluster.urls().join(","))
            .with("REDIS_KEY_PREFIX", &prefix);
        // A node's loss is noticed within this; the cluster's own failover takes ~2-4 s.
        env = env.with("REDIS_TIMEOUT", "1s");
        Ok(Backing {
            database,
            env,
            redis_prefix: Some(prefix),
            cluster: Some(cluster),
            scale: None,
        })
    }

    /// The Redis primaries the apps' keys live on, as `redis://` URLs (none without Redis).
    pub fn redis_nodes(&self) -> Vec<String> {
        match (&self.cluster, &self.redis_prefix) {
            (Some(cluster), _) => cluster
                .primaries()
                .into_iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect(),
            (None, Some(_)) => vec![redis_url()],
            (None, None) => Vec::new(),
        }
    }
}

/// A connection to the Redis at `url`, within a few seconds.
fn redis_connection(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(std::time::Duration::from_secs(5))
}

/// A PING, so that an unreachable Redis is a skip.
fn redis_ping(url: &str) -> Result<(), SetupError> {
    let unreachable =
        |e: redis::RedisError| SetupError::Unreachable(format!("Redis at {url}: {e}"));
    let mut c = redis_connection(url).map_err(unreachable)?;
    redis::cmd("PING")
        .query::<String>(&mut c)
        .map_err(unreachable)?;
    Ok(())
}

/// A mail directory of a backing's own, so its cases can find their mails among few.
fn own_mail_dir() -> String {
    let dir = std::env::temp_dir().join(testkit::random_name("strata-test-mail"));
    dir.to_string_lossy().into_owned()
}

impl Backing {
    /// Where the apps of this backing write their mails (without SMTP).
    pub fn mail_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(self.env.0.get("MAIL_DIR").cloned().unwrap_or_default())
    }

    /// The Redis key prefix of this backing (`None` without Redis).
    pub fn redis_prefix(&self) -> Option<&str> {
        self.redis_prefix.as_deref()
    }
}

/// How many keys match `pattern` on the Redis primaries `nodes`, and the bytes they take
/// (`MEMORY USAGE`).
pub fn redis_footprint(nodes: &[String], pattern: &str) -> Result<(u64, u64), String> {
    let (mut keys, mut bytes) = (0, 0);
    for node in nodes {
        let mut c = redis_connection(node).map_err(|e| e.to_string())?;
        let found: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut c)
            .map_err(|e| e.to_string())?;
        for key in found {
            let used: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .query(&mut c)
                .map_err(|e| e.to_string())?;
            keys += 1;
            bytes += used.unwrap_or(0);
        }
    }
    Ok((keys, bytes))
}

impl Drop for Backing {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.mail_dir());
        // Keys under the prefix expire on their own (sessions, counters); delete them now
        // so a run leaves nothing behind.
        // A private cluster's keys go with its processes.
        if let (Some(prefix), None) = (&self.redis_prefix, &self.cluster) {
            if let Err(e) = redis_delete_prefix(&redis_url(), prefix) {
                eprintln!("could not clean Redis keys {prefix}*: {e}");
            }
        }
    }
}

/// Deletes every key under `prefix` (a test run makes a few hundred: `KEYS` will do).
fn redis_delete_prefix(url: &str, prefix: &str) -> Result<(), String> {
    let mut c = redis_connection(url).map_err(|e| e.to_string())?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut c)
        .map_err(|e| e.to_string())?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query::<u64>(&mut c)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
