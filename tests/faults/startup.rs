//! Start-ups that must fail: a clear line and a non-zero exit, never a hang.

use std::time::Duration;

use libtest_mimic::Trial;
use strata_e2e::process::{run_to_exit, run_to_exit_in};
use strata_e2e::{Env, SECRET};

fn fails(env: Env, expect_in_stderr: &[&str]) {
    fails_in(env, expect_in_stderr, None)
}

fn fails_in(env: Env, expect_in_stderr: &[&str], cwd: Option<&std::path::Path>) {
    let out = run_to_exit_in(&env, &["serve"], Duration::from_secs(60), cwd).unwrap();
    assert!(
        !out.status.success(),
        "exit {:?}, stderr:\n{}",
        out.status,
        out.stderr
    );
    for text in expect_in_stderr {
        assert!(
            out.stderr.contains(text),
            "{text:?} not in stderr:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains(SECRET),
        "the secret reached the output"
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    println!("    failed as expected in {:?}", out.elapsed);
}

fn env(database_url: &str) -> Env {
    Env::new(database_url, None)
}

pub fn cases() -> Vec<Trial> {
    testkit::trials![
        unreachable_postgres_exits_naming_it,
        unreachable_mysql_exits_naming_it,
        unreachable_redis_exits_naming_it,
        invalid_settings_exit_2_with_one_line_each,
        missing_or_short_secret_is_refused,
        mistyped_database_scheme_creates_no_file,
        replicas_and_a_pooler_off_postgresql_are_refused_in_one_line,
    ]
}

/// Read replicas and the pooler mode are PostgreSQL's: elsewhere, start-up says so.
fn replicas_and_a_pooler_off_postgresql_are_refused_in_one_line() {
    let mysql = env("mysql://root@127.0.0.1:1/x");
    fails(
        mysql.with("DATABASE_REPLICA_URLS", "mysql://root@127.0.0.1:2/x"),
        &["DATABASE_REPLICA_URLS: read replicas are supported on PostgreSQL only"],
    );
    fails(
        mysql.with("DATABASE_POOLER", "pgbouncer"),
        &["DATABASE_POOLER=pgbouncer needs a PostgreSQL DATABASE_URL"],
    );
    let postgres = env("postgres://postgres@127.0.0.1:1/x");
    fails(
        postgres.with("DATABASE_POOLER", "odyssey"),
        &["DATABASE_POOLER: must be none or pgbouncer"],
    );
    fails(
        postgres
            .with("DATABASE_REPLICA_URLS", "postgres://postgres@127.0.0.1:2/x")
            .with("REPLICA_MAX_LAG", "500ms"),
        &["REPLICA_MAX_LAG must be between 1s and 1h"],
    );
}

fn unreachable_postgres_exits_naming_it() {
    fails(
        env("postgres://postgres:pw-not-shown@127.0.0.1:1/x"),
        &["cannot connect to PostgreSQL", "***"],
    )
}

fn unreachable_mysql_exits_naming_it() {
    fails(
        env("mysql://root@127.0.0.1:1/x"),
        &["cannot connect to MySQL"],
    )
}

fn unreachable_redis_exits_naming_it() {
    let dir = std::env::temp_dir().join(testkit::random_name("strata_start"));
    let url = format!("sqlite://{}/x.db", dir.display());
    let e = Env::new(&url, Some(("redis://127.0.0.1:1".into(), "x:".into())))
        .with("REDIS_TIMEOUT", "1s");
    fails(e, &["Redis"]);
    let _ = std::fs::remove_dir_all(dir);
}

fn invalid_settings_exit_2_with_one_line_each() {
    let e = env("sqlite::memory:")
        .with("ACCESS_TOKEN_TTL", "soon")
        .with("BCRYPT_COST", "99");
    let out = run_to_exit(&e, &["serve"], Duration::from_secs(30)).unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.lines().any(|l| l.contains("ACCESS_TOKEN_TTL")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().any(|l| l.contains("BCRYPT_COST")),
        "{}",
        out.stderr
    );
}

fn missing_or_short_secret_is_refused() {
    let e = env("sqlite::memory:").with("JWT_API_SECRET", "abcd");
    fails(e, &["JWT_API_SECRET", "at least 32 bytes"]);
}

fn mistyped_database_scheme_creates_no_file() {
    let dir = std::env::temp_dir().join(testkit::random_name("strata_scheme"));
    std::fs::create_dir_all(&dir).unwrap();
    fails_in(
        env("postgre://127.0.0.1/x"),
        &["unsupported DATABASE_URL scheme"],
        Some(&dir),
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a file appeared"
    );
    let _ = std::fs::remove_dir_all(dir);
}
