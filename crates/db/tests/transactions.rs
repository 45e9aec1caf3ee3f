//! `Database::transaction` runs a deadlock's victim again: two transactions that lock two
//! rows in opposite orders both commit. Only PostgreSQL and MySQL/MariaDB can deadlock;
//! SQLite runs one writing transaction at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use db::{on_backend, Backend, Database, DbError};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use testkit::{run_suite, trial, Plan, Prepared, TestDatabase};

fn plan(backend: Backend, label: &str) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || {
            let database = TestDatabase::create(backend)?;
            let url = database.url();
            let trials = vec![trial(
                "a_deadlock_victim_is_run_again_and_both_commit",
                move || a_deadlock_victim_is_run_again_and_both_commit(&url),
            )];
            Ok(Prepared {
                trials,
                guard: Box::new(database),
            })
        }),
    }
}

/// A transaction that adds one to row `first`, waits (on its first attempt only) until
/// the other transaction has locked the other row, then adds one to row `second`.
fn crossing(
    first: i32,
    second: i32,
    met: Arc<Barrier>,
    attempts: Arc<AtomicU32>,
) -> impl Fn(&mut db::AnyConnection) -> Result<(), DbError> + Send + 'static {
    move |conn| {
        let bump = |id: i32| format!("UPDATE deadlock_probe SET n = n + 1 WHERE id = {id}");
        let a = bump(first);
        on_backend!(conn, |c| diesel::sql_query(a.as_str()).execute(c))?;
        if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
            met.wait();
        }
        let b = bump(second);
        on_backend!(conn, |c| diesel::sql_query(b.as_str()).execute(c))?;
        Ok(())
    }
}

fn a_deadlock_victim_is_run_again_and_both_commit(url: &db::DatabaseUrl) {
    let pool: Database = db::init_db(url, db::PoolOptions::default()).expect("pool");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(pool.run(|c| {
        c.batch_execute(
            "CREATE TABLE deadlock_probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); \
             INSERT INTO deadlock_probe (id, n) VALUES (1, 0); \
             INSERT INTO deadlock_probe (id, n) VALUES (2, 0);",
        )
        .map_err(Into::into)
    }))
    .expect("the probe table");
    let met = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let (one, two) = rt.block_on(async {
        tokio::join!(
            pool.transaction(crossing(1, 2, met.clone(), attempts.clone())),
            pool.transaction(crossing(2, 1, met.clone(), attempts.clone())),
        )
    });
    one.expect("the first transaction commits");
    two.expect("the second transaction commits");
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "the database rolled one back and it ran once more"
    );
    const { assert!(db::TRANSACTION_ATTEMPTS >= 2) };
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    let ns: Vec<i32> = rt
        .block_on(pool.run(|conn| {
            let q = "SELECT n FROM deadlock_probe ORDER BY id";
            Ok(on_backend!(conn, |c| diesel::sql_query(q).load::<N>(c))?)
        }))
        .expect("read back")
        .into_iter()
        .map(|r| r.n)
        .collect();
    assert_eq!(ns, [2, 2], "each transaction's work counted once");
}

fn main() -> ExitCode {
    run_suite(
        "transactions",
        vec![
            plan(Backend::Postgres, "postgres"),
            plan(Backend::Mysql, "mysql"),
        ],
    )
}
