//! Every migration runs up, down and up again on each backend, and the schema it leaves
//! behind is the one `models::schema` describes (checked by the repos suite).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use db::Backend;
use testkit::{run_suite, trial, Plan, Prepared, TestDatabase};

fn plan(backend: Backend, label: &str) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || {
            let database = TestDatabase::create(backend)?;
            let url = database.url();
            let mut trials = Vec::new();
            if backend == Backend::Sqlite {
                trials.push(trial(
                    "an_in_memory_database_keeps_its_tables_for_the_pool",
                    || {
                        use diesel::connection::SimpleConnection;
                        let url = db::DatabaseUrl::parse("sqlite::memory:").expect("url");
                        let pool = db::init_db(&url, db::PoolOptions::default()).expect("init");
                        let rt = tokio::runtime::Runtime::new().expect("runtime");
                        rt.block_on(pool.run(|c| {
                            c.batch_execute("SELECT COUNT(*) FROM users")
                                .map_err(Into::into)
                        }))
                        .expect("the migrated tables are still there");
                    },
                ));
            }
            trials.push(trial(
                "embedded_migrations_are_exactly_the_folders_on_disk",
                move || embedded_migrations_are_exactly_the_folders_on_disk(backend),
            ));
            trials.push(trial("run_up_down_up_cleanly", move || {
                run_up_down_up_cleanly(&url, backend)
            }));
            Ok(Prepared {
                trials,
                guard: Box::new(database),
            })
        }),
    }
}

/// The migration folders of `backend` in the source tree, oldest first.
fn folders_on_disk(backend: Backend) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(match backend {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        });
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("up.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The binary embeds what is on disk: a migration added to a built tree is not left out
/// (the db crate's build script makes Cargo rebuild it), and every backend has the same set.
fn embedded_migrations_are_exactly_the_folders_on_disk(backend: Backend) {
    let embedded = db::embedded_migrations(backend).expect("embedded migrations");
    assert_eq!(embedded, folders_on_disk(backend), "{backend}");
    assert_eq!(
        embedded,
        folders_on_disk(Backend::Sqlite),
        "{backend} has the same migrations as sqlite"
    );
}

fn run_up_down_up_cleanly(url: &db::DatabaseUrl, backend: Backend) {
    let n = db::embedded_migrations(backend).expect("embedded").len();
    assert!(n > 0);
    assert_eq!(
        db::migrate(url, db::Pooler::Direct).expect("first up"),
        n,
        "all apply on an empty database"
    );
    assert_eq!(
        db::migrate(url, db::Pooler::Direct).expect("second up"),
        0,
        "up is idempotent"
    );
    assert_eq!(
        db::revert_all(url).expect("down"),
        n,
        "every migration reverts"
    );
    assert_eq!(
        db::migrate(url, db::Pooler::Direct).expect("up again"),
        n,
        "up works after down"
    );
}

fn main() -> ExitCode {
    run_suite(
        "migrations",
        vec![
            plan(Backend::Sqlite, "sqlite"),
            plan(Backend::Postgres, "postgres"),
            plan(Backend::Mysql, "mysql"),
        ],
    )
}
