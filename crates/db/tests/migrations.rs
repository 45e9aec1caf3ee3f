//! Every migration runs up, down and up again on each backend, and the schema it leaves
//! behind is the one `models::schema` describes (checked by the repos suite).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use db::testing::{run_suite, trial, Plan, Prepared, TestDatabase};
use db::Backend;

fn plan(backend: Backend, label: &str) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || {
            let database = TestDatabase::create(backend)?;
            let url = database.url();
            let mut trials = Vec::new();
            if backend == Backend::Sqlite {
                trials.push(trial(
                    "memory::an_in_memory_database_keeps_its_tables_for_the_pool",
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
            trials.push(trial("migrations::run_up_down_up_cleanly", move || {
                let applied = db::migrate(&url).expect("first up");
                assert_eq!(applied, 2, "both migrations apply on an empty database");
                assert_eq!(db::migrate(&url).expect("second up"), 0, "up is idempotent");
                let reverted = db::revert_all(&url).expect("down");
                assert_eq!(reverted, 2, "every migration reverts");
                assert_eq!(
                    db::migrate(&url).expect("up again"),
                    2,
                    "up works after down"
                );
            }));
            Ok(Prepared {
                trials,
                guard: Box::new(database),
            })
        }),
    }
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
