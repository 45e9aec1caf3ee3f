//! The test harness, kept out of the production crates: throw-away databases on each
//! backend, a suite runner that makes BeforeSuite / AfterSuite explicit around
//! libtest-mimic trials, and [`cases!`], which registers a case by its function.

use std::any::Any;
use std::io::Write;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::{Connection, MysqlConnection, PgConnection};
use libtest_mimic::{Arguments, Trial};
use rand::Rng;

use db::{redact_url, Backend, DatabaseUrl};

/// Where the PostgreSQL server for tests is (a database on it that we may connect to).
pub fn postgres_admin_url() -> String {
    std::env::var("STRATA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

/// Where the MySQL/MariaDB server for tests is.
pub fn mysql_admin_url() -> String {
    std::env::var("STRATA_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// True when an unreachable backend must fail the run instead of being skipped (CI).
pub fn require_all_backends() -> bool {
    matches!(
        std::env::var("STRATA_REQUIRE_ALL_BACKENDS").as_deref(),
        Ok("1" | "true" | "yes")
    )
}

/// A random lower-case name with the given prefix, unique enough for parallel runs.
pub fn random_name(prefix: &str) -> String {
    let n: u64 = rand::rng().random();
    format!("{prefix}_{n:016x}")
}

/// Why a test database could not be made.
#[derive(Debug)]
pub enum SetupError {
    /// The server did not answer: skipped, unless every backend is required.
    Unreachable(String),
    /// The server answered but something went wrong: always a failure.
    Failed(String),
}

/// A database made for one suite run and dropped when this value is dropped, including
/// when a case failed.
pub struct TestDatabase {
    backend: Backend,
    url: String,
    name: String,
    admin_url: Option<String>,
}

impl TestDatabase {
    /// Creates an empty database with a random name on `backend` (a temp file for SQLite).
    pub fn create(backend: Backend) -> Result<Self, SetupError> {
        let name = random_name("strata_test");
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                Ok(Self {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    name,
                    admin_url: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = PgConnection::establish(&admin).map_err(|e| {
                    SetupError::Unreachable(format!("PostgreSQL at {}: {e}", redact_url(&admin)))
                })?;
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .map_err(|e| SetupError::Failed(format!("CREATE DATABASE {name}: {e}")))?;
                Ok(Self {
                    backend,
                    url: with_database(&admin, &name),
                    name,
                    admin_url: Some(admin),
                })
            }
            Backend::Mysql => {
                let admin = mysql_admin_url();
                let mut conn = MysqlConnection::establish(&admin).map_err(|e| {
                    SetupError::Unreachable(format!("MySQL at {}: {e}", redact_url(&admin)))
                })?;
                conn.batch_execute(&format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                ))
                .map_err(|e| SetupError::Failed(format!("CREATE DATABASE {name}: {e}")))?;
                Ok(Self {
                    backend,
                    url: with_database(&admin, &name),
                    name,
                    admin_url: Some(admin),
                })
            }
        }
    }

    /// A database on a server the caller owns and removes (a private one): nothing is
    /// dropped with this value.
    pub fn on_private_server(backend: Backend, url: &str) -> Self {
        Self {
            backend,
            url: url.to_owned(),
            name: String::new(),
            admin_url: None,
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url_string(&self) -> &str {
        &self.url
    }

    /// The parsed URL, ready for `init_db`.
    pub fn url(&self) -> DatabaseUrl {
        match DatabaseUrl::parse(&self.url) {
            Ok(u) => u,
            Err(e) => panic!("test database URL did not parse: {e}"),
        }
    }

    /// The backend it lives on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let result = match (self.backend, &self.admin_url) {
            (Backend::Postgres, Some(admin)) => PgConnection::establish(admin)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    c.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .map_err(|e| e.to_string())
                }),
            (Backend::Mysql, Some(admin)) => MysqlConnection::establish(admin)
                .map_err(|e| e.to_string())
                .and_then(|mut c| {
                    c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name))
                        .map_err(|e| e.to_string())
                }),
            _ => {
                let path = self.url.trim_start_matches("sqlite://").to_owned();
                for suffix in ["", "-wal", "-shm"] {
                    // A missing -wal or -shm file is normal.
                    if let Err(e) = std::fs::remove_file(format!("{path}{suffix}")) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            eprintln!("could not remove {path}{suffix}: {e}");
                        }
                    }
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// Replaces the database name (the URL path) of a server URL, keeping its query string.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| i + after_scheme)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// What BeforeSuite hands the runner: the cases to run and whatever must stay alive until
/// they are done (the database, a pool, a store). Dropping the guard is AfterSuite.
pub struct Prepared {
    /// The cases (Describe groups are name prefixes, such as `users::`).
    pub trials: Vec<Trial>,
    /// Dropped after the last case, failed or not.
    pub guard: Box<dyn Any>,
}

/// One backend's run: a label for the summary and its BeforeSuite.
pub struct Plan {
    /// Shown in the summary line, e.g. `postgres` or `redis`.
    pub label: String,
    /// Creates, migrates and seeds; returns the cases.
    pub before_suite: Box<dyn FnOnce() -> Result<Prepared, SetupError>>,
}

/// Runs each plan's suite in turn (BeforeSuite, the cases, AfterSuite) and prints one summary
/// line per plan. An unreachable backend is skipped, or fails the run when
/// `STRATA_REQUIRE_ALL_BACKENDS=1`. With `STRATA_TEST_SUMMARY` set, appends those lines to
/// that file, and after them one [`FAILED_PREFIX`] line per failed case.
pub fn run_suite(suite: &str, plans: Vec<Plan>) -> ExitCode {
    let args = Arguments::from_args();
    let mut failed = false;
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for plan in plans {
        if !selected(&plan.label) {
            println!(
                "{suite} on {}: not selected (STRATA_TEST_BACKENDS)",
                plan.label
            );
            continue;
        }
        let on = format!("{suite} on {}", plan.label);
        let line = match (plan.before_suite)() {
            Ok(prepared) => {
                let conclusion = libtest_mimic::run(&args, prepared.trials);
                drop(prepared.guard);
                if conclusion.has_failed() {
                    failed = true;
                }
                let names = take_failed_trials();
                let unnamed = conclusion.num_failed.saturating_sub(names.len() as u64);
                failures.extend(names.into_iter().map(|name| format!("{on}: {name}")));
                if unnamed > 0 {
                    failures.push(format!("{on}: {unnamed} more, not made by testkit::trial"));
                }
                format!(
                    "{on}: ran, {} passed, {} failed, {} filtered out",
                    conclusion.num_passed, conclusion.num_failed, conclusion.num_filtered_out
                )
            }
            Err(SetupError::Unreachable(why)) if !require_all_backends() => {
                format!("{on}: SKIPPED, server unreachable ({why})")
            }
            Err(SetupError::Unreachable(why)) => {
                failed = true;
                failures.push(format!("{on}: BeforeSuite (server unreachable)"));
                format!(
                    "{on}: FAILED, server unreachable and STRATA_REQUIRE_ALL_BACKENDS=1 ({why})"
                )
            }
            Err(SetupError::Failed(why)) => {
                failed = true;
                failures.push(format!("{on}: BeforeSuite"));
                format!("{on}: FAILED before the suite ({why})")
            }
        };
        println!("{line}");
        lines.push(line);
    }
    lines.extend(failures.iter().map(|f| format!("{FAILED_PREFIX}{f}")));
    if let Ok(path) = std::env::var("STRATA_TEST_SUMMARY") {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(mut f) => {
                for line in &lines {
                    if let Err(e) = writeln!(f, "{line}") {
                        eprintln!("could not write {path}: {e}");
                    }
                }
            }
            Err(e) => eprintln!("could not open {path}: {e}"),
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// How a failed case's line starts in the `STRATA_TEST_SUMMARY` file (`failed: hostile on
/// postgres + redis: duplicate_json_keys_are_422`), so `make test` can list them apart
/// from the per-backend lines.
pub const FAILED_PREFIX: &str = "failed: ";

/// The names of the cases that failed and have not been taken yet: [`trial`] notes each
/// failure here, [`run_suite`] takes them after each plan's cases.
static FAILED_TRIALS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Notes that the case `name` failed, for [`run_suite`]'s summary.
fn note_failed_trial(name: String) {
    FAILED_TRIALS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(name);
}

/// The failed cases noted since the last call, in the order they failed.
fn take_failed_trials() -> Vec<String> {
    std::mem::take(&mut *FAILED_TRIALS.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Whether `STRATA_TEST_BACKENDS` (a comma list of sqlite, postgres, mysql; unset means
/// all) selects a plan. SQLite runs with the in-memory token store, the servers with Redis.
fn selected(label: &str) -> bool {
    let list = std::env::var("STRATA_TEST_BACKENDS").unwrap_or_default();
    if list.trim().is_empty() {
        return true;
    }
    let words: Vec<&str> = label.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let chosen: Vec<&str> = list.split(',').map(str::trim).collect();
    let databases = ["sqlite", "postgres", "mysql"];
    if words.iter().any(|w| databases.contains(w)) {
        // A plan that names its database runs when that database is chosen.
        return words
            .iter()
            .any(|w| databases.contains(w) && chosen.contains(w));
    }
    // A token-store plan: memory goes with SQLite, Redis with the servers.
    chosen.iter().any(|c| match *c {
        "sqlite" => words.contains(&"memory"),
        "postgres" | "mysql" => words.contains(&"redis"),
        _ => false,
    })
}

/// A case whose body asserts (panics) on failure; libtest-mimic reports the panic, and
/// the case's name is noted for [`run_suite`]'s list of failures.
pub fn trial<F>(name: impl Into<String>, f: F) -> Trial
where
    F: FnOnce() + Send + 'static,
{
    let name = name.into();
    let noted = name.clone();
    Trial::test(name, move || {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            note_failed_trial(noted);
            // The panic goes on to libtest-mimic, which reports it as it always has.
            resume_unwind(panic);
        }
        Ok(())
    })
}

/// Cases named by their functions: `cases![a, b]` is `&[("a", a), ("b", b)]`, so a case is
/// registered once and prints under the name grep finds.
#[macro_export]
macro_rules! cases {
    ($($case:path),* $(,)?) => {
        &[$(($crate::case_name(stringify!($case)), $case)),*]
    };
}

/// The function name of a path given to [`cases!`] (`mfa::enrol` prints as `enrol`).
pub const fn case_name(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut start = bytes.len();
    while start > 0 && bytes[start - 1] != b':' && bytes[start - 1] != b' ' {
        start -= 1;
    }
    let (_, name) = bytes.split_at(start);
    match std::str::from_utf8(name) {
        Ok(name) => name,
        Err(_) => path,
    }
}

/// Trials named by their functions: `trials![a, b]` runs `a()` and `b()`;
/// `trials![x => a, b]` runs `a(x)` and `b(x)` (`x` is `Copy`).
#[macro_export]
macro_rules! trials {
    ($arg:expr => $($case:path),* $(,)?) => {{
        let arg = $arg;
        vec![$($crate::trial($crate::case_name(stringify!($case)), move || $case(arg))),*]
    }};
    ($($case:path),* $(,)?) => {
        vec![$($crate::trial($crate::case_name(stringify!($case)), $case)),*]
    };
}
