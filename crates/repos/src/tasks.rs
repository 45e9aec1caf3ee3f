//! The `tasks` table. Every call is scoped to an owner: another user's task is not found.

use db::{on_backend, Database, Freshness};
use diesel::prelude::*;
use domain::{TaskDescription, TaskPatch, TaskTitle};
use models::schema::tasks;
use models::Task;

use crate::error::{one_row, owned_insert_error};
use crate::{now_utc, RepoError};

/// A task row. Tasks hold nothing secret, so the row is what the layers above see.
pub type TaskRecord = Task;

/// One page request: the owner's tasks with ids after `after`, oldest first.
#[derive(Debug, Clone)]
pub struct TaskQuery {
    pub user_id: String,
    /// The id of the last task of the previous page.
    pub after: Option<String>,
    /// Only tasks with this `done` value.
    pub done: Option<bool>,
    /// Page size (the caller bounds it).
    pub limit: u32,
}

/// A page of tasks.
pub type TaskPage = crate::paging::Page<TaskRecord>;

/// Reads and writes `tasks`.
#[derive(Debug, Clone)]
pub struct TaskRepo {
    db: Database,
}

impl TaskRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts a task for `user_id` with a fresh UUID v7 id. `NotFound` if there is no such
    /// user (an account deleted while a request of one of its sessions was running).
    pub async fn create(
        &self,
        user_id: &str,
        title: &TaskTitle,
        description: Option<&TaskDescription>,
        done: bool,
    ) -> Result<TaskRecord, RepoError> {
        let now = now_utc();
        let task = Task {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.to_owned(),
            title: title.as_str().to_owned(),
            description: description.map(|d| d.as_str().to_owned()),
            done,
            created_at: now,
            updated_at: now,
        };
        self.db
            .write(move |conn| {
                let insert = diesel::insert_into(tasks::table).values(&task);
                on_backend!(conn, |c| insert.execute(c))?;
                Ok(task)
            })
            .await
            .map_err(owned_insert_error)
    }

    /// The task `id` if `user_id` owns it.
    pub async fn get(&self, user_id: &str, id: &str) -> Result<TaskRecord, RepoError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .run(move |conn| {
                let query = tasks::table
                    .filter(tasks::id.eq(&id))
                    .filter(tasks::user_id.eq(&user_id));
                Ok(on_backend!(conn, |c| query
                    .select(Task::as_select())
                    .first(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// One page of the owner's tasks in id (creation) order, read by keyset on the
    /// `(user_id, id)` index so the cost does not grow with the number of tasks. A replica
    /// may serve it, as `freshness` allows.
    pub async fn list(
        &self,
        query: TaskQuery,
        freshness: Freshness,
    ) -> Result<TaskPage, RepoError> {
        self.db
            .read(freshness, move |conn| {
                let limit = i64::from(query.limit);
                let q = tasks::table
                    .filter(tasks::user_id.eq(&query.user_id))
                    .order((tasks::user_id.asc(), tasks::id.asc()))
                    .limit(limit + 1);
                // Sorting by (user_id, id) — the same order, since user_id is fixed — is the
                // order of tasks_user_id_id_idx. (On PostgreSQL that alone did not keep the
                // planner on the index; generic plans do, see db's per-connection set-up.)
                // Four static shapes rather than one boxed query: Diesel caches the prepared
                // statement of a static query, and prepares a boxed one anew every time
                // (on MySQL that is a prepare, an execute and a close per request).
                let rows: Vec<Task> = on_backend!(conn, |c| {
                    let q = q.select(Task::as_select());
                    match (&query.after, query.done) {
                        (None, None) => q.load(c),
                        (Some(after), None) => q.filter(tasks::id.gt(after)).load(c),
                        (None, Some(done)) => q.filter(tasks::done.eq(done)).load(c),
                        (Some(after), Some(done)) => q
                            .filter(tasks::id.gt(after))
                            .filter(tasks::done.eq(done))
                            .load(c),
                    }
                })?;
                Ok(TaskPage::from_rows(rows, query.limit, |t| &t.id))
            })
            .await
            .map_err(RepoError::from)
    }

    /// Applies `patch` to the owner's task and returns it as stored; fields the patch leaves
    /// out are left alone. Update first, then read, in one transaction: a write-first
    /// transaction never dead-locks SQLite's lock upgrade.
    pub async fn update(
        &self,
        user_id: &str,
        id: &str,
        patch: TaskPatch,
    ) -> Result<TaskRecord, RepoError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        // Diesel skips a `None` of this tuple, so only the patched columns are set.
        let changes = (
            patch.title.map(|t| tasks::title.eq(t.as_str().to_owned())),
            patch
                .description
                .map(|d| tasks::description.eq(d.map(|d| d.as_str().to_owned()))),
            patch.done.map(|d| tasks::done.eq(d)),
            tasks::updated_at.eq(now_utc()),
        );
        self.db
            .transaction(move |conn| {
                let owned = tasks::table
                    .filter(tasks::id.eq(&id))
                    .filter(tasks::user_id.eq(&user_id));
                let update = diesel::update(owned).set(changes.clone());
                one_row(on_backend!(conn, |c| update.execute(c))?)?;
                Ok(on_backend!(conn, |c| owned
                    .select(Task::as_select())
                    .first(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes the owner's task; `NotFound` if there is no such task of theirs.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<(), RepoError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .write(move |conn| {
                let delete = diesel::delete(
                    tasks::table
                        .filter(tasks::id.eq(&id))
                        .filter(tasks::user_id.eq(&user_id)),
                );
                one_row(on_backend!(conn, |c| delete.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// How many tasks the user has (tests and the soak check use it).
    pub async fn count(&self, user_id: &str) -> Result<i64, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .run(move |conn| {
                let count = tasks::table.filter(tasks::user_id.eq(&user_id)).count();
                Ok(on_backend!(conn, |c| count.get_result(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
