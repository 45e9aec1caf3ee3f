//! The `signing_keys` table: access-token signing keys and their life cycle. Every change of
//! state is one conditional UPDATE (`WHERE state = <the state it leaves>`), so of N
//! instances doing the same step at once exactly one does it.

use chrono::NaiveDateTime;
use db::{on_backend, AnyConnection, Database, DbError};
use diesel::prelude::*;
use models::schema::signing_keys;
use models::SigningKey;

use crate::RepoError;

/// A key row. The private half is sealed: only the services can open it.
pub type SigningKeyRecord = SigningKey;

/// Reads and writes `signing_keys`.
#[derive(Debug, Clone)]
pub struct SigningKeyRepo {
    db: Database,
}

/// Moves `kid` from `from` to `to`, stamping the column the move names with `at`; whether
/// it moved.
fn step(
    conn: &mut AnyConnection,
    kid: &str,
    from: &str,
    to: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let now = Some(at);
    let key = signing_keys::table
        .filter(signing_keys::kid.eq(kid))
        .filter(signing_keys::state.eq(from));
    let n = match to {
        "current" => {
            let u = diesel::update(key).set((
                signing_keys::state.eq(to),
                signing_keys::activated_at.eq(now),
            ));
            on_backend!(conn, |c| u.execute(c))?
        }
        "previous" => {
            let u = diesel::update(key).set((
                signing_keys::state.eq(to),
                signing_keys::deactivated_at.eq(now),
            ));
            on_backend!(conn, |c| u.execute(c))?
        }
        _ => {
            let u = diesel::update(key)
                .set((signing_keys::state.eq(to), signing_keys::retired_at.eq(now)));
            on_backend!(conn, |c| u.execute(c))?
        }
    };
    Ok(n == 1)
}

impl SigningKeyRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores a new key.
    pub async fn insert(&self, key: SigningKeyRecord) -> Result<(), RepoError> {
        self.db
            .write(move |conn| {
                let insert = diesel::insert_into(signing_keys::table).values(&key);
                on_backend!(conn, |c| insert.execute(c))?;
                Ok(())
            })
            .await
            .map_err(RepoError::from)
    }

    /// Every key, oldest first.
    pub async fn all(&self) -> Result<Vec<SigningKeyRecord>, RepoError> {
        self.db
            .run(move |conn| {
                let q = signing_keys::table
                    .order((signing_keys::created_at.asc(), signing_keys::kid.asc()));
                Ok(on_backend!(conn, |c| q
                    .select(SigningKey::as_select())
                    .load(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The published keys' ids and states, oldest first: a cheap read that tells an
    /// instance whether its keys are still the stored ones.
    pub async fn published_states(&self) -> Result<Vec<(String, String)>, RepoError> {
        self.db
            .run(move |conn| {
                let q = signing_keys::table
                    .filter(signing_keys::state.eq_any(["next", "current", "previous"]))
                    .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
                    .select((signing_keys::kid, signing_keys::state));
                Ok(on_backend!(conn, |c| q.load(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The key `kid`, if there is one.
    pub async fn find(&self, kid: &str) -> Result<Option<SigningKeyRecord>, RepoError> {
        let kid = kid.to_owned();
        self.db
            .run(move |conn| {
                let q = signing_keys::table.filter(signing_keys::kid.eq(&kid));
                Ok(on_backend!(conn, |c| q
                    .select(SigningKey::as_select())
                    .first(c)
                    .optional())?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Makes `next` the current key and `current` (if any) the previous one at `at`, in one
    /// transaction; false (nothing changed) if either had already moved.
    pub async fn promote(
        &self,
        next: &str,
        current: Option<&str>,
        at: NaiveDateTime,
    ) -> Result<bool, RepoError> {
        let (next, current) = (next.to_owned(), current.map(str::to_owned));
        self.db
            .transaction(move |conn| {
                if let Some(current) = &current {
                    if !step(conn, current, "current", "previous", at)? {
                        return Ok(false);
                    }
                }
                if !step(conn, &next, "next", "current", at)? {
                    // Undo the first step: the transaction rolls back on an error only.
                    return Err(DbError::Query(diesel::result::Error::RollbackTransaction));
                }
                Ok(true)
            })
            .await
            .or_else(|e| match e {
                DbError::Query(diesel::result::Error::RollbackTransaction) => Ok(false),
                e => Err(e),
            })
            .map_err(RepoError::from)
    }

    /// Makes a current key previous at `at` (of two current keys, the older); whether this
    /// call did it.
    pub async fn demote(&self, kid: &str, at: NaiveDateTime) -> Result<bool, RepoError> {
        let kid = kid.to_owned();
        self.db
            .write(move |conn| step(conn, &kid, "current", "previous", at))
            .await
            .map_err(RepoError::from)
    }

    /// Retires a previous key at `at` (unpublished: every token it signed has expired);
    /// whether this call did it.
    pub async fn retire(&self, kid: &str, at: NaiveDateTime) -> Result<bool, RepoError> {
        let kid = kid.to_owned();
        self.db
            .write(move |conn| step(conn, &kid, "previous", "retired", at))
            .await
            .map_err(RepoError::from)
    }

    /// Revokes a key in any published state at `at` (after a leak: every token it signed
    /// fails); whether it was published.
    pub async fn revoke(&self, kid: &str, at: NaiveDateTime) -> Result<bool, RepoError> {
        let kid = kid.to_owned();
        self.db
            .write(move |conn| {
                for from in ["next", "current", "previous"] {
                    if step(conn, &kid, from, "revoked", at)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The time the first key of all started to sign (asymmetric signing began); `None`
    /// before any key signed.
    pub async fn first_activation(&self) -> Result<Option<NaiveDateTime>, RepoError> {
        self.db
            .run(move |conn| {
                let q = signing_keys::table.select(diesel::dsl::min(signing_keys::activated_at));
                Ok(on_backend!(conn, |c| q.first::<Option<NaiveDateTime>>(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
