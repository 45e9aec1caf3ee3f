//! What admins do to accounts: search, roles, bans, deletion. Each act writes its audit
//! event in its own transaction. An act that could leave no admin (a demotion, a ban or a
//! deletion of an admin) first locks every admin's row in id order, so two such acts at
//! once queue instead of each seeing the other admin still there.

use chrono::NaiveDateTime;
use db::{on_backend, AnyConnection, Database, DbError, Freshness};
use diesel::prelude::*;
use models::schema::users;
use models::{Account, AuditEvent};

use crate::audit::write as write_event;
use crate::paging::Page;
use crate::users::{is_banned, record, Ban, UserRecord, ADMIN};
use crate::RepoError;

diesel::define_sql_function! {
    /// SQL `lower`, on all three backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Which accounts a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Not banned now (a ban whose time has passed counts as lifted).
    Active,
    Banned,
    /// The address is not proven.
    Unverified,
}

/// A search of the accounts, in id order (oldest first).
#[derive(Debug, Clone)]
pub struct UserSearch {
    /// A prefix of the username or the address, lower case; matched case-insensitively.
    pub prefix: Option<String>,
    pub status: Option<UserStatus>,
    /// The id of the last account of the page before.
    pub after: Option<String>,
    pub limit: u32,
    /// What "banned now" is measured against.
    pub now: NaiveDateTime,
}

/// `prefix` as a LIKE pattern: its own `%`, `_` and `\` match themselves.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The ids of the admins not banned at `now`, in id order. With `lock`, their rows stay
/// locked until the transaction ends (every act that could remove an admin takes them
/// first, so two such acts queue).
pub(crate) fn active_admins(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    lock: bool,
) -> Result<Vec<String>, DbError> {
    let q = users::table
        .filter(users::role.eq(ADMIN))
        .order(users::id.asc())
        .select((users::id, users::banned_at, users::banned_until));
    type Row = (String, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let rows: Vec<Row> = match conn {
        AnyConnection::Postgresql(c) if lock => q.for_no_key_update().load(c)?,
        AnyConnection::Mysql(c) if lock => q.for_update().load(c)?,
        c => on_backend!(c, |c| q.load(c))?,
    };
    Ok(rows
        .into_iter()
        .filter(|(_, since, until)| !is_banned(*since, *until, now))
        .map(|(id, _, _)| id)
        .collect())
}

/// The account `id` as it stands, inside the transaction.
fn read(conn: &mut AnyConnection, id: &str) -> Result<Option<UserRecord>, DbError> {
    let row = on_backend!(conn, |c| users::table
        .filter(users::id.eq(id))
        .select(Account::as_select())
        .first(c))
    .optional()?;
    Ok(row.map(record))
}

/// Whether `admins` (the ones not banned) are `id` alone: taking it away leaves none.
pub(crate) fn is_last(admins: &[String], id: &str) -> bool {
    matches!(admins, [only] if only == id)
}

/// Locks the admins, then reads the target: `NotFound`, or `LastAdmin` when the act
/// `removes` an admin and the target is the only admin not banned.
fn guarded(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
    removes: bool,
) -> Result<Result<UserRecord, RepoError>, DbError> {
    let admins = active_admins(conn, now, true)?;
    let Some(target) = read(conn, id)? else {
        return Ok(Err(RepoError::NotFound));
    };
    if removes && is_last(&admins, id) {
        return Ok(Err(RepoError::LastAdmin));
    }
    Ok(Ok(target))
}

/// Runs the admin acts.
#[derive(Debug, Clone)]
pub struct AdminRepo {
    db: Database,
}

impl AdminRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// One page of the accounts `search` selects, read where `freshness` allows.
    pub async fn search(
        &self,
        search: UserSearch,
        freshness: Freshness,
    ) -> Result<Page<UserRecord>, RepoError> {
        let limit = search.limit;
        let rows = self
            .db
            .read(freshness, move |conn| {
                let now = search.now;
                let pattern = search.prefix.as_deref().map(like_prefix);
                Ok(on_backend!(conn, |c| {
                    let mut q = users::table
                        .select(Account::as_select())
                        .order(users::id.asc())
                        .limit(i64::from(limit) + 1)
                        .into_boxed();
                    if let Some(pattern) = &pattern {
                        q = q.filter(
                            lower(users::username)
                                .like(pattern.clone())
                                .escape('\\')
                                .or(lower(users::email).like(pattern.clone()).escape('\\')),
                        );
                    }
                    q = match search.status {
                        None => q,
                        Some(UserStatus::Unverified) => q.filter(users::email_verified.eq(false)),
                        Some(UserStatus::Banned) => q.filter(
                            users::banned_at.is_not_null().and(
                                users::banned_until
                                    .is_null()
                                    .or(users::banned_until.gt(now)),
                            ),
                        ),
                        Some(UserStatus::Active) => {
                            q.filter(users::banned_at.is_null().or(users::banned_until.le(now)))
                        }
                    };
                    if let Some(after) = &search.after {
                        q = q.filter(users::id.gt(after.clone()));
                    }
                    q.load::<Account>(c)
                })?)
            })
            .await
            .map_err(RepoError::from)?;
        let rows: Vec<UserRecord> = rows.into_iter().map(record).collect();
        Ok(Page::from_rows(rows, limit, |u| &u.id))
    }

    /// Gives `id` the role `role` and records `event`; `LastAdmin` if it would demote the
    /// only admin, `NotFound` if there is no such account.
    pub async fn set_role(
        &self,
        id: &str,
        role: &str,
        now: NaiveDateTime,
        event: AuditEvent,
    ) -> Result<UserRecord, RepoError> {
        let (id, role) = (id.to_owned(), role.to_owned());
        self.db
            .transaction(move |conn| {
                if let Err(e) = guarded(conn, &id, now, role != ADMIN)? {
                    return Ok(Err(e));
                }
                let update = diesel::update(users::table.filter(users::id.eq(&id)))
                    .set(users::role.eq(&role));
                on_backend!(conn, |c| update.execute(c))?;
                write_event(conn, &event)?;
                Ok(read(conn, &id)?.ok_or(RepoError::NotFound))
            })
            .await?
    }

    /// Bans `id` with `ban` and records `event`; `LastAdmin` for the only admin.
    pub async fn ban(
        &self,
        id: &str,
        ban: Ban,
        event: AuditEvent,
    ) -> Result<UserRecord, RepoError> {
        let id = id.to_owned();
        self.db
            .transaction(move |conn| {
                if let Err(e) = guarded(conn, &id, ban.since, true)? {
                    return Ok(Err(e));
                }
                let update = diesel::update(users::table.filter(users::id.eq(&id))).set((
                    users::banned_at.eq(Some(ban.since)),
                    users::banned_until.eq(ban.until),
                    users::ban_reason.eq(ban.reason.clone()),
                ));
                on_backend!(conn, |c| update.execute(c))?;
                write_event(conn, &event)?;
                Ok(read(conn, &id)?.ok_or(RepoError::NotFound))
            })
            .await?
    }

    /// Lifts the ban of `id` (if any) and records `event`.
    pub async fn lift_ban(&self, id: &str, event: AuditEvent) -> Result<UserRecord, RepoError> {
        let id = id.to_owned();
        self.db
            .transaction(move |conn| {
                let update = diesel::update(users::table.filter(users::id.eq(&id))).set((
                    users::banned_at.eq(None::<NaiveDateTime>),
                    users::banned_until.eq(None::<NaiveDateTime>),
                    users::ban_reason.eq(None::<String>),
                ));
                if on_backend!(conn, |c| update.execute(c))? == 0 {
                    return Ok(Err(RepoError::NotFound));
                }
                write_event(conn, &event)?;
                Ok(read(conn, &id)?.ok_or(RepoError::NotFound))
            })
            .await?
    }

    /// Deletes `id` (its tasks and tokens go with it) and records `event`; `LastAdmin`
    /// for the only admin.
    pub async fn delete(
        &self,
        id: &str,
        now: NaiveDateTime,
        event: AuditEvent,
    ) -> Result<UserRecord, RepoError> {
        let id = id.to_owned();
        self.db
            .transaction(move |conn| {
                let target = match guarded(conn, &id, now, true)? {
                    Ok(t) => t,
                    Err(e) => return Ok(Err(e)),
                };
                let delete = diesel::delete(users::table.filter(users::id.eq(&id)));
                on_backend!(conn, |c| delete.execute(c))?;
                write_event(conn, &event)?;
                Ok(Ok(target))
            })
            .await?
    }
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn a_prefix_matches_its_wildcards_literally() {
        assert_eq!(like_prefix("ab"), "ab%");
        assert_eq!(like_prefix("a%_\\"), "a\\%\\_\\\\%");
    }
}
