//! The database side of the floor: concrete Diesel connections of the backend that
//! `DATABASE_URL` names (no MultiConnection dispatch), one statement per request.
//!
//! Two ways to run a query, picked by `FLOOR_DB_MODE`:
//! - `pool`: an r2d2 pool (no test-on-checkout) on tokio's blocking threads, as strata does;
//! - `inline`: one connection per actix worker, used on the worker thread itself (no thread
//!   hop; the worker waits for the database meanwhile).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool};

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    tasks (id) {
        id -> Text,
        user_id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        done -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

/// A user row, without the hash.
#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A task row.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A connection of the named backend.
pub enum Conn {
    Pg(PgConnection),
    My(MysqlConnection),
    Lite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection (monomorphised per backend).
macro_rules! each {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Pg($c) => $body,
            Conn::My($c) => $body,
            Conn::Lite($c) => $body,
        }
    };
}

/// The URL the driver wants: strata's `sqlite://PATH` becomes `PATH`.
#[derive(Clone, Debug)]
pub struct Target(String);

impl Target {
    /// Parses strata's `DATABASE_URL` forms.
    pub fn parse(url: &str) -> Result<Self, String> {
        let ok = ["postgres://", "postgresql://", "mysql://", "sqlite://"]
            .iter()
            .any(|p| url.starts_with(p));
        if ok {
            Ok(Self(url.to_owned()))
        } else {
            Err("DATABASE_URL must be postgres://, mysql:// or sqlite://PATH".into())
        }
    }

    fn connect(&self) -> Result<Conn, String> {
        let u = self.0.as_str();
        let e = |e: ConnectionError| e.to_string();
        let (conn, setup) = if u.starts_with("postgres") {
            (
                Conn::Pg(PgConnection::establish(u).map_err(e)?),
                "SET TIME ZONE 'UTC';",
            )
        } else if u.starts_with("mysql") {
            (
                Conn::My(MysqlConnection::establish(u).map_err(e)?),
                "SET time_zone = '+00:00';",
            )
        } else {
            let path = u.trim_start_matches("sqlite://");
            (
                Conn::Lite(SqliteConnection::establish(path).map_err(e)?),
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
            )
        };
        let mut conn = conn;
        each!(&mut conn, |c| c.batch_execute(setup)).map_err(|e| e.to_string())?;
        Ok(conn)
    }
}

/// Opens connections for r2d2.
pub struct Manager(Target);

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Conn, r2d2::Error> {
        self.0
            .connect()
            .map_err(|e| r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(e)))
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), r2d2::Error> {
        each!(conn, |c| c.batch_execute("SELECT 1")).map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _: &mut Conn) -> bool {
        false
    }
}

thread_local! {
    static WORKER: RefCell<Option<Conn>> = const { RefCell::new(None) };
}

/// How queries run.
#[derive(Clone)]
pub enum Mode {
    Pool(Pool<Manager>),
    Inline,
}

/// The floor's database access. Reads run as `FLOOR_DB_MODE` says; writes always run on the
/// blocking threads, since a commit waits for the disk and must not stall a worker: on
/// PostgreSQL and MySQL through an r2d2 pool, on SQLite through one shared connection behind
/// a mutex, so two writers never meet SQLite's lock, whose busy handler sleeps (1, 2, 5, ...
/// 100 ms) instead of waiting for the other writer's commit.
#[derive(Clone)]
pub struct Db {
    mode: Mode,
    target: Target,
    writer: Writer,
}

#[derive(Clone)]
enum Writer {
    Pool(Pool<Manager>),
    Single(Arc<Mutex<Option<Conn>>>),
}

fn with_slot<T>(
    slot: &mut Option<Conn>,
    target: &Target,
    f: impl FnOnce(&mut Conn) -> QueryResult<T>,
) -> Result<T, String> {
    if slot.is_none() {
        *slot = Some(target.connect()?);
    }
    match slot.as_mut() {
        Some(conn) => f(conn).map_err(|e| e.to_string()),
        None => Err("no connection".into()),
    }
}

fn pool(target: &Target, size: u32) -> Result<Pool<Manager>, String> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(size))
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(5))
        .build(Manager(target.clone()))
        .map_err(|e| e.to_string())
}

async fn pooled<T, F>(pool: &Pool<Manager>, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        f(&mut conn).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

impl Db {
    /// `mode` is `pool` or `inline`.
    pub fn new(target: Target, mode: &str, size: u32) -> Result<Self, String> {
        let mode = match mode {
            "pool" => Mode::Pool(pool(&target, size)?),
            "inline" => Mode::Inline,
            other => return Err(format!("FLOOR_DB_MODE {other:?} must be pool or inline")),
        };
        let writer = match (&mode, target.0.starts_with("sqlite")) {
            (_, true) => Writer::Single(Arc::new(Mutex::new(None))),
            (Mode::Pool(p), false) => Writer::Pool(p.clone()),
            (Mode::Inline, false) => Writer::Pool(pool(&target, size)?),
        };
        Ok(Self {
            mode,
            target,
            writer,
        })
    }

    /// Runs a read with a connection.
    pub async fn run<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        match &self.mode {
            Mode::Pool(pool) => pooled(pool, f).await,
            Mode::Inline => WORKER.with(|slot| with_slot(&mut slot.borrow_mut(), &self.target, f)),
        }
    }

    /// Runs a write.
    pub async fn write<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> QueryResult<T> + Send + 'static,
    {
        match &self.writer {
            Writer::Pool(pool) => pooled(pool, f).await,
            Writer::Single(single) => {
                let (single, target) = (single.clone(), self.target.clone());
                tokio::task::spawn_blocking(move || {
                    let mut slot = single.lock().map_err(|e| e.to_string())?;
                    with_slot(&mut slot, &target, f)
                })
                .await
                .map_err(|e| e.to_string())?
            }
        }
    }
}

/// The user by primary key.
pub fn user_by_id(conn: &mut Conn, id: &str) -> QueryResult<Option<UserRow>> {
    each!(conn, |c| users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

/// Id and bcrypt hash by (unique) username.
pub fn credentials(conn: &mut Conn, username: &str) -> QueryResult<Option<(String, String)>> {
    each!(conn, |c| users::table
        .filter(users::username.eq(username))
        .select((users::id, users::password_hash))
        .first(c)
        .optional())
}

/// One page of the user's tasks by keyset on `(user_id, id)`; `limit` rows at most.
pub fn tasks_page(conn: &mut Conn, user_id: &str, limit: i64) -> QueryResult<Vec<TaskRow>> {
    each!(conn, |c| tasks::table
        .filter(tasks::user_id.eq(user_id))
        .order(tasks::id.asc())
        .limit(limit)
        .select(TaskRow::as_select())
        .load(c))
}

/// Inserts one task.
pub fn insert_task(conn: &mut Conn, task: &TaskRow) -> QueryResult<usize> {
    each!(conn, |c| diesel::insert_into(tasks::table)
        .values(task)
        .execute(c))
}
