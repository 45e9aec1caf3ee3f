//! The second factor: an account's TOTP columns in `users` and its backup codes (the table
//! `recovery_codes`, its first name). Every
//! use of a code is one conditional UPDATE, so of two racing uses of one code only one
//! wins, on every backend.

use db::{on_backend, AnyConnection, Database, DbError};
use diesel::prelude::*;
use models::schema::{backup_codes, users};

use crate::audit;
use crate::lock::lock_user;
use crate::mail::{queue, NewMail};
use crate::{now_utc, RepoError};

/// Reads and writes the second factor.
#[derive(Debug, Clone)]
pub struct MfaRepo {
    db: Database,
}

/// Replaces the user's backup codes with `hashes` (SHA-256, hex). The old rows are
/// deleted by primary key: a DELETE by `user_id` takes InnoDB gap locks, and two accounts
/// enrolling at once then deadlocked on MariaDB.
fn store_codes(conn: &mut AnyConnection, user_id: &str, hashes: &[String]) -> Result<(), DbError> {
    let mine = backup_codes::table
        .filter(backup_codes::user_id.eq(user_id))
        .select(backup_codes::code_hash);
    let old: Vec<String> = on_backend!(conn, |c| mine.load::<String>(c))?;
    if !old.is_empty() {
        let rows = backup_codes::table.filter(backup_codes::code_hash.eq_any(old));
        on_backend!(conn, |c| diesel::delete(rows).execute(c))?;
    }
    let now = now_utc();
    for hash in hashes {
        let insert = diesel::insert_into(backup_codes::table).values((
            backup_codes::code_hash.eq(hash),
            backup_codes::user_id.eq(user_id),
            backup_codes::created_at.eq(now),
        ));
        on_backend!(conn, |c| insert.execute(c))?;
    }
    Ok(())
}

/// Turns the user's second factor off: the secret, any enrolment waiting for its first
/// code, and the backup codes go. Whether a factor was on.
pub(crate) fn remove_factor(conn: &mut AnyConnection, user_id: &str) -> Result<bool, DbError> {
    let user = users::table.filter(users::id.eq(user_id)).filter(
        users::totp_secret
            .is_not_null()
            .or(users::totp_pending.is_not_null()),
    );
    let update = diesel::update(user).set((
        users::totp_secret.eq(None::<String>),
        users::totp_pending.eq(None::<String>),
        users::updated_at.eq(now_utc()),
    ));
    if on_backend!(conn, |c| update.execute(c))? == 0 {
        return Ok(false);
    }
    store_codes(conn, user_id, &[])?;
    Ok(true)
}

impl MfaRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Keeps `pending` (a sealed secret) as the enrolment waiting for its first code, in
    /// place of any earlier one. `false` when the second factor is already on.
    pub async fn start(&self, user_id: &str, pending: &str) -> Result<bool, RepoError> {
        let (id, pending) = (user_id.to_owned(), pending.to_owned());
        self.db
            .write(move |conn| {
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::totp_secret.is_null());
                let update = diesel::update(user).set(users::totp_pending.eq(Some(&pending)));
                Ok(on_backend!(conn, |c| update.execute(c))? == 1)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Turns the second factor on: the enrolment `pending` (the one its first code was
    /// checked against) becomes the secret with `step` as the last accepted, `hashes`
    /// become the backup codes, and `notice` is queued, in one transaction. `false` when
    /// the enrolment changed meanwhile, the factor is already on, or `step` was used.
    pub async fn enable(
        &self,
        user_id: &str,
        pending: &str,
        step: i64,
        hashes: Vec<String>,
        notice: Option<NewMail>,
    ) -> Result<bool, RepoError> {
        let (id, pending) = (user_id.to_owned(), pending.to_owned());
        self.db
            .transaction(move |conn| {
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::totp_secret.is_null())
                    .filter(users::totp_pending.eq(&pending))
                    .filter(users::totp_last_step.lt(step));
                let update = diesel::update(user).set((
                    users::totp_secret.eq(Some(&pending)),
                    users::totp_pending.eq(None::<String>),
                    users::totp_last_step.eq(step),
                    users::updated_at.eq(now_utc()),
                ));
                if on_backend!(conn, |c| update.execute(c))? == 0 {
                    return Ok(false);
                }
                store_codes(conn, &id, &hashes)?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                audit::own(conn, audit::kinds::MFA_ENABLED, &id)?;
                Ok(true)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Accepts a TOTP code of time step `step` under the secret `secret` (as read): `true`
    /// for the one caller that moved the last accepted step forward to it. `reseal`, the
    /// same secret sealed under the current key, replaces the stored one.
    pub async fn accept_step(
        &self,
        user_id: &str,
        secret: &str,
        step: i64,
        reseal: Option<String>,
    ) -> Result<bool, RepoError> {
        let (id, secret) = (user_id.to_owned(), secret.to_owned());
        self.db
            .write(move |conn| {
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::totp_secret.eq(&secret))
                    .filter(users::totp_last_step.lt(step));
                let stored = reseal.unwrap_or(secret.clone());
                let update = diesel::update(user).set((
                    users::totp_last_step.eq(step),
                    users::totp_secret.eq(Some(stored)),
                ));
                Ok(on_backend!(conn, |c| update.execute(c))? == 1)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Uses the backup code whose SHA-256 is `hash`: `true` for the one caller that
    /// marked it used.
    pub async fn use_backup_code(&self, user_id: &str, hash: &str) -> Result<bool, RepoError> {
        let (id, hash) = (user_id.to_owned(), hash.to_owned());
        self.db
            .write(move |conn| {
                let code = backup_codes::table
                    .filter(backup_codes::code_hash.eq(&hash))
                    .filter(backup_codes::user_id.eq(&id))
                    .filter(backup_codes::used_at.is_null());
                let update = diesel::update(code).set(backup_codes::used_at.eq(Some(now_utc())));
                Ok(on_backend!(conn, |c| update.execute(c))? == 1)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Replaces the backup codes while the second factor is on; `false` when it is off.
    pub async fn replace_codes(
        &self,
        user_id: &str,
        hashes: Vec<String>,
    ) -> Result<bool, RepoError> {
        let id = user_id.to_owned();
        self.db
            .transaction(move |conn| {
                // Touching the row takes its lock, so a concurrent turn-off waits or wins.
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::totp_secret.is_not_null());
                let touch = diesel::update(user).set(users::updated_at.eq(now_utc()));
                if on_backend!(conn, |c| touch.execute(c))? == 0 {
                    return Ok(false);
                }
                store_codes(conn, &id, &hashes)?;
                audit::own(conn, audit::kinds::BACKUP_CODES_REPLACED, &id)?;
                Ok(true)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Turns the second factor off, forgetting the secret and the backup codes, queues
    /// `notice` and records `event`. `false` when it was already off.
    pub async fn disable(
        &self,
        user_id: &str,
        notice: Option<NewMail>,
        event: Option<models::AuditEvent>,
    ) -> Result<bool, RepoError> {
        let id = user_id.to_owned();
        self.db
            .transaction(move |conn| {
                lock_user(conn, &id)?;
                let on = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::totp_secret.is_not_null())
                    .select(users::id);
                if on_backend!(conn, |c| on.first::<String>(c))
                    .optional()?
                    .is_none()
                {
                    return Ok(false);
                }
                remove_factor(conn, &id)?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                event.iter().try_for_each(|e| audit::write(conn, e))?;
                Ok(true)
            })
            .await
            .map_err(RepoError::from)
    }

    /// How many unused backup codes the user has.
    pub async fn codes_left(&self, user_id: &str) -> Result<i64, RepoError> {
        let id = user_id.to_owned();
        self.db
            .run(move |conn| {
                let query = backup_codes::table
                    .filter(backup_codes::user_id.eq(&id))
                    .filter(backup_codes::used_at.is_null())
                    .count();
                Ok(on_backend!(conn, |c| query.get_result::<i64>(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
