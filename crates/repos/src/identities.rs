//! The `identities` table: users' accounts at OpenID Connect providers, found by
//! (provider, subject) at sign-in. An account made by a provider's sign-in is created here
//! together with its first identity, in one transaction.

use chrono::NaiveDateTime;
use db::{on_backend, Database};
use diesel::prelude::*;
use domain::{Email, Username};
use models::schema::identities;
use models::Identity;

use crate::error::{one_row, owned_insert_error};
use crate::lock::lock_user;
use crate::mail::{queue, NewMail};
use crate::users::{insert_new, new_row, split_account, NO_PASSWORD};
use crate::{RepoError, UserRecord};
use models::schema::{passkeys, users};

/// An identity row.
pub type IdentityRecord = Identity;

/// Who a provider says signed in: its name, its issuer and `sub`, and the address it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
}

/// What linking a provider's account to a user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// Stored: the new identity.
    Stored(IdentityRecord),
    /// It was this user's already: nothing changed.
    Already(IdentityRecord),
}

/// What unlinking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    Removed,
    /// It is the account's last way to sign in (no password, no other identity, no
    /// passkey): nothing was removed.
    LastMethod,
}

/// Reads and writes `identities`.
#[derive(Debug, Clone)]
pub struct IdentityRepo {
    db: Database,
}

impl IdentityRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The identity of the issuer's account `subject`, if any.
    pub async fn find(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<IdentityRecord>, RepoError> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.db
            .run(move |conn| {
                let found = identities::table
                    .filter(identities::issuer.eq(&issuer))
                    .filter(identities::subject.eq(&subject));
                Ok(on_backend!(conn, |c| found
                    .select(Identity::as_select())
                    .first(c)
                    .optional())?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The user's identities, oldest first.
    pub async fn for_user(&self, user_id: &str) -> Result<Vec<IdentityRecord>, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .run(move |conn| {
                let mine = identities::table
                    .filter(identities::user_id.eq(&user_id))
                    .order(identities::id.asc());
                Ok(on_backend!(conn, |c| mine
                    .select(Identity::as_select())
                    .load(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Creates an account without a password, its address proven by the provider, and
    /// links `account` to it, queueing `notice` with them, in one transaction. A taken username or address, or an
    /// identity linked meanwhile, is `Conflict` naming it, and nothing is stored.
    pub async fn create_account(
        &self,
        username: &Username,
        email: &Email,
        account: ProviderAccount,
        notice: Option<NewMail>,
    ) -> Result<UserRecord, RepoError> {
        let row = new_row(username, email, None, true);
        self.db
            .transaction(move |conn| {
                insert_new(conn, &row)?;
                let identity = Identity {
                    id: uuid::Uuid::now_v7().to_string(),
                    provider: account.provider.clone(),
                    issuer: account.issuer.clone(),
                    subject: account.subject.clone(),
                    user_id: row.id.clone(),
                    email: account.email.clone(),
                    created_at: row.created_at,
                    last_used_at: Some(row.created_at),
                };
                let insert = diesel::insert_into(identities::table).values(&identity);
                on_backend!(conn, |c| insert.execute(c))?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                Ok(split_account(row.clone()))
            })
            .await
            .map_err(RepoError::from)
    }

    /// Records a sign-in with identity `id`: when, and the address the provider gave.
    pub async fn used(
        &self,
        id: &str,
        email: Option<String>,
        at: NaiveDateTime,
    ) -> Result<(), RepoError> {
        let id = id.to_owned();
        self.db
            .write(move |conn| {
                let update = diesel::update(identities::table.find(&id)).set((
                    identities::email.eq(&email),
                    identities::last_used_at.eq(Some(at)),
                ));
                one_row(on_backend!(conn, |c| update.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Links `account` to the user, under the user's row lock, queueing `notice` with it.
    /// `Conflict(Identity)` if another user holds it, `OwnerGone` if the user is gone.
    pub async fn link(
        &self,
        user_id: &str,
        account: ProviderAccount,
        notice: Option<NewMail>,
    ) -> Result<Linked, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .transaction(move |conn| {
                if lock_user(conn, &user_id)?.is_none() {
                    return Err(db::DbError::Query(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        Box::new("the owner is gone".to_owned()),
                    )));
                }
                let held = identities::table
                    .filter(identities::issuer.eq(&account.issuer))
                    .filter(identities::subject.eq(&account.subject));
                let held: Option<Identity> = on_backend!(conn, |c| held
                    .select(Identity::as_select())
                    .first(c)
                    .optional())?;
                if let Some(identity) = held {
                    return if identity.user_id == user_id {
                        Ok(Linked::Already(identity))
                    } else {
                        Err(db::DbError::Query(diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            Box::new("identities_issuer_subject".to_owned()),
                        )))
                    };
                }
                let now = crate::now_utc();
                let identity = Identity {
                    id: uuid::Uuid::now_v7().to_string(),
                    provider: account.provider.clone(),
                    issuer: account.issuer.clone(),
                    subject: account.subject.clone(),
                    user_id: user_id.clone(),
                    email: account.email.clone(),
                    created_at: now,
                    last_used_at: None,
                };
                let insert = diesel::insert_into(identities::table).values(&identity);
                on_backend!(conn, |c| insert.execute(c))?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                Ok(Linked::Stored(identity))
            })
            .await
            .map_err(owned_insert_error)
    }

    /// Unlinks the user's identity `id` unless it is the account's last way to sign in,
    /// deciding under the user's row lock; `NotFound` for another user's. `notice` is
    /// queued with the removal.
    pub async fn unlink(
        &self,
        user_id: &str,
        id: &str,
        notice: Option<NewMail>,
    ) -> Result<(IdentityRecord, Unlinked), RepoError> {
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .transaction(move |conn| {
                if lock_user(conn, &user_id)?.is_none() {
                    return Err(db::DbError::Query(diesel::result::Error::NotFound));
                }
                let mine = identities::table.filter(identities::user_id.eq(&user_id));
                let all: Vec<Identity> =
                    on_backend!(conn, |c| mine.select(Identity::as_select()).load(c))?;
                let Some(target) = all.iter().find(|i| i.id == id).cloned() else {
                    return Err(db::DbError::Query(diesel::result::Error::NotFound));
                };
                let hash = users::table
                    .filter(users::id.eq(&user_id))
                    .select(users::password_hash);
                let hash: String = on_backend!(conn, |c| hash.first(c))?;
                let keys = passkeys::table
                    .filter(passkeys::user_id.eq(&user_id))
                    .count();
                let keys: i64 = on_backend!(conn, |c| keys.get_result(c))?;
                if hash == NO_PASSWORD && all.len() == 1 && keys == 0 {
                    return Ok((target, Unlinked::LastMethod));
                }
                let gone = identities::table.find(&target.id);
                one_row(on_backend!(conn, |c| diesel::delete(gone).execute(c))?)?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                Ok((target, Unlinked::Removed))
            })
            .await
            .map_err(RepoError::from)
    }
}
