//! The `passkeys` table: each user's WebAuthn credentials, found by credential id at
//! sign-in, listed, renamed and deleted only by their owner.

use chrono::NaiveDateTime;
use db::{on_backend, Database};
use diesel::prelude::*;
use models::schema::passkeys;
use models::Passkey;

use crate::error::{one_row, owned_insert_error};
use crate::lock::lock_user;
use crate::mail::{queue, NewMail};
use crate::RepoError;

/// A passkey row. The credential is public material (webauthn-rs's serialised `Passkey`).
pub type PasskeyRecord = Passkey;

/// What adding a passkey did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Stored,
    /// The account holds its cap of passkeys already: nothing was stored.
    Full,
}

/// After a sign-in: the credential as webauthn-rs updated it, and its flags.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    pub credential: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub at: NaiveDateTime,
}

/// Reads and writes `passkeys`.
#[derive(Debug, Clone)]
pub struct PasskeyRepo {
    db: Database,
}

impl PasskeyRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores `passkey` unless its owner holds `cap` already. The owner's row is locked
    /// first (the one lock order), so two registrations racing for the last place cannot
    /// both take it. `OwnerGone` if the owner was deleted; `Conflict(Credential)` if the
    /// credential is registered already. `notice` is queued in the same transaction.
    pub async fn add(
        &self,
        passkey: PasskeyRecord,
        cap: u32,
        notice: Option<NewMail>,
    ) -> Result<Added, RepoError> {
        self.db
            .transaction(move |conn| {
                if lock_user(conn, &passkey.user_id)?.is_none() {
                    return Err(db::DbError::Query(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        Box::new("the owner is gone".to_owned()),
                    )));
                }
                let held = passkeys::table
                    .filter(passkeys::user_id.eq(&passkey.user_id))
                    .count();
                let held: i64 = on_backend!(conn, |c| held.get_result(c))?;
                if held >= i64::from(cap) {
                    return Ok(Added::Full);
                }
                let insert = diesel::insert_into(passkeys::table).values(&passkey);
                on_backend!(conn, |c| insert.execute(c))?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                Ok(Added::Stored)
            })
            .await
            .map_err(owned_insert_error)
    }

    /// The user's passkeys, oldest first.
    pub async fn for_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .run(move |conn| {
                let mine = passkeys::table
                    .filter(passkeys::user_id.eq(&user_id))
                    .order(passkeys::id.asc());
                Ok(on_backend!(conn, |c| mine
                    .select(Passkey::as_select())
                    .load(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The passkey with this credential id (base64url), whoever owns it.
    pub async fn by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>, RepoError> {
        let credential_id = credential_id.to_owned();
        self.db
            .run(move |conn| {
                let found = passkeys::table.filter(passkeys::credential_id.eq(&credential_id));
                Ok(on_backend!(conn, |c| found
                    .select(Passkey::as_select())
                    .first(c)
                    .optional())?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Stores what a sign-in with passkey `id` changed (counter, backup flag) and when.
    /// `NotFound` if it was deleted meanwhile.
    pub async fn used(&self, id: &str, change: PasskeyUse) -> Result<(), RepoError> {
        let id = id.to_owned();
        self.db
            .write(move |conn| {
                let update = diesel::update(passkeys::table.find(&id)).set((
                    passkeys::credential.eq(&change.credential),
                    passkeys::backup_eligible.eq(change.backup_eligible),
                    passkeys::backed_up.eq(change.backed_up),
                    passkeys::last_used_at.eq(Some(change.at)),
                ));
                one_row(on_backend!(conn, |c| update.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Renames the owner's passkey and returns it; `NotFound` for another user's.
    pub async fn rename(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<PasskeyRecord, RepoError> {
        let (user_id, id, name) = (user_id.to_owned(), id.to_owned(), name.to_owned());
        self.db
            .transaction(move |conn| {
                let owned = passkeys::table
                    .filter(passkeys::id.eq(&id))
                    .filter(passkeys::user_id.eq(&user_id));
                let update = diesel::update(owned).set(passkeys::name.eq(&name));
                one_row(on_backend!(conn, |c| update.execute(c))?)?;
                Ok(on_backend!(conn, |c| owned
                    .select(Passkey::as_select())
                    .first(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes every passkey of the user (an admin's reset of the second factor); how many.
    pub async fn delete_all(&self, user_id: &str) -> Result<usize, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .write(move |conn| {
                let mine = passkeys::table.filter(passkeys::user_id.eq(&user_id));
                Ok(on_backend!(conn, |c| diesel::delete(mine).execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes the owner's passkey, queueing `notice` in the same transaction; `NotFound`
    /// for another user's.
    pub async fn delete(
        &self,
        user_id: &str,
        id: &str,
        notice: Option<NewMail>,
    ) -> Result<(), RepoError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .transaction(move |conn| {
                let owned = passkeys::table
                    .filter(passkeys::id.eq(&id))
                    .filter(passkeys::user_id.eq(&user_id));
                one_row(on_backend!(conn, |c| diesel::delete(owned).execute(c))?)?;
                notice.iter().try_for_each(|m| queue(conn, m))
            })
            .await
            .map_err(RepoError::from)
    }
}
