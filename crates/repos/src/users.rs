//! The `users` table.

use chrono::NaiveDateTime;
use db::{on_backend, AnyConnection, Database, DbError, Freshness};
use diesel::prelude::*;
use domain::{Email, Username};
use models::schema::users;
use models::{Account, NewUser, User};

use crate::audit;
use crate::error::Unique;
use crate::mail::{queue, store_token, NewMail, NewMailedToken};
use crate::mailed_tokens::revoke_takeovers;
use crate::{now_utc, RepoError};

/// A user as the layers above see it: no password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub email: String,
    /// The address was proven by a mailed token.
    pub email_verified: bool,
    /// Sign-in needs a second factor (a TOTP code or a backup code).
    pub mfa_enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// `user` or `admin`.
    pub role: String,
    /// The account's ban, if it has one (it may have lifted itself: see [`Ban::active`]).
    pub ban: Option<Ban>,
}

/// A ban: from `since`, until `until` (`None`: until an admin lifts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub since: NaiveDateTime,
    pub until: Option<NaiveDateTime>,
    pub reason: Option<String>,
}

impl Ban {
    /// Whether the ban still holds at `now`.
    pub fn active(&self, now: NaiveDateTime) -> bool {
        is_banned(Some(self.since), self.until, now)
    }
}

/// The one rule of a ban, on its columns: set (`since`) and not yet ended (`until`
/// empty, or ahead of `now`). The search's SQL filter is its twin.
pub(crate) fn is_banned(
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> bool {
    since.is_some() && until.is_none_or(|until| until > now)
}

impl UserRecord {
    /// The ban that holds at `now`, if any.
    pub fn banned(&self, now: NaiveDateTime) -> Option<&Ban> {
        self.ban.as_ref().filter(|b| b.active(now))
    }

    /// Whether the account is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == ADMIN
    }
}

/// The role of an admin.
pub const ADMIN: &str = "admin";
/// The role of everyone else.
pub const USER: &str = "user";

/// What `users.password_hash` holds for an account without a password (one made by a
/// sign-in with an OpenID provider): no hash is empty, so none matches it. The column stays
/// `NOT NULL` because SQLite cannot relax that without rebuilding `users` and every table
/// that refers to it; [`Credentials`] turns it into `None`.
pub(crate) const NO_PASSWORD: &str = "";

/// A password hash (bcrypt or argon2id, naming its own parameters). `Debug` does not
/// print it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash made by the services layer.
    pub fn new(hash: String) -> Self {
        Self(hash)
    }

    /// The hash text, to verify against.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// An account's TOTP state as stored: the secrets sealed by the services layer. `Debug`
/// does not print them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TotpState {
    /// The secret in force while the second factor is on.
    pub secret: Option<String>,
    /// The secret of an enrolment waiting for its first code.
    pub pending: Option<String>,
    /// The last time step accepted; a code is accepted only for a later one.
    pub last_step: i64,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpState")
            .field("enabled", &self.secret.is_some())
            .field("pending", &self.pending.is_some())
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A user together with the password hash and the second factor, for the few calls that
/// must verify them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: UserRecord,
    /// `None` for an account without a password (made by a sign-in with a provider).
    pub password_hash: Option<PasswordHash>,
    /// Moves on with every change of password, not with a rehash of the same one: what
    /// tells "the password proven a moment ago is still the account's".
    pub password_version: i64,
    pub totp: TotpState,
}

fn split(row: User) -> Credentials {
    Credentials {
        password_hash: Some(row.password_hash)
            .filter(|h| h != NO_PASSWORD)
            .map(PasswordHash),
        password_version: row.password_version,
        user: UserRecord {
            id: row.id,
            username: row.username,
            email: row.email,
            email_verified: row.email_verified,
            mfa_enabled: row.totp_secret.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            role: row.role,
            ban: row.banned_at.map(|since| Ban {
                since,
                until: row.banned_until,
                reason: row.ban_reason,
            }),
        },
        totp: TotpState {
            secret: row.totp_secret,
            pending: row.totp_pending,
            last_step: row.totp_last_step,
        },
    }
}

/// The account of a whole row, as the layers above see it.
pub(crate) fn split_account(row: User) -> UserRecord {
    split(row).user
}

/// The account as the layers above see it, from a row read without secrets.
pub(crate) fn record(row: Account) -> UserRecord {
    UserRecord {
        id: row.id,
        username: row.username,
        email: row.email,
        email_verified: row.email_verified,
        mfa_enabled: row.mfa_enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
        role: row.role,
        ban: row.banned_at.map(|since| Ban {
            since,
            until: row.banned_until,
            reason: row.ban_reason,
        }),
    }
}

/// A new account's row: a fresh UUID v7 id, the `user` role, no second factor. Without a
/// hash it holds [`NO_PASSWORD`].
pub(crate) fn new_row(
    username: &Username,
    email: &Email,
    password_hash: Option<&PasswordHash>,
    email_verified: bool,
) -> User {
    let now = now_utc();
    User {
        id: uuid::Uuid::now_v7().to_string(),
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password_hash: password_hash.map_or(NO_PASSWORD, |h| h.expose()).to_owned(),
        email_verified,
        created_at: now,
        updated_at: now,
        totp_secret: None,
        totp_pending: None,
        totp_last_step: 0,
        password_version: 0,
        role: USER.to_owned(),
        banned_at: None,
        banned_until: None,
        ban_reason: None,
    }
}

/// Inserts a new account's row and its `registered` event (in the caller's transaction).
pub(crate) fn insert_new(conn: &mut AnyConnection, row: &User) -> Result<(), DbError> {
    let new = NewUser {
        id: &row.id,
        username: &row.username,
        email: &row.email,
        password_hash: &row.password_hash,
        email_verified: row.email_verified,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    let insert = diesel::insert_into(users::table).values(new);
    on_backend!(conn, |c| insert.execute(c))?;
    audit::own(conn, audit::kinds::REGISTERED, &row.id)
}

/// Why a write conditional on the password's version matched no row: the user is gone
/// (`NotFound`), or its password changed meanwhile (`Stale`).
fn missed(conn: &mut AnyConnection, id: &str) -> Result<RepoError, DbError> {
    let query = users::table.filter(users::id.eq(id)).select(users::id);
    let found = on_backend!(conn, |c| query.first::<String>(c)).optional()?;
    Ok(match found {
        Some(_) => RepoError::Stale,
        None => RepoError::NotFound,
    })
}

/// Which unique column to look a user up by.
#[derive(Debug, Clone, Copy)]
enum Key {
    Id,
    Username,
    Email,
}

/// Reads and writes `users`.
#[derive(Debug, Clone)]
pub struct UserRepo {
    db: Database,
}

impl UserRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Inserts a user with a fresh UUID v7 id, and with it, in one transaction, the
    /// address's verification token and its mail. A taken username or email is
    /// `RepoError::Conflict` naming the column.
    pub async fn create(
        &self,
        username: &Username,
        email: &Email,
        password_hash: &PasswordHash,
        verification: Option<(NewMailedToken, NewMail)>,
    ) -> Result<UserRecord, RepoError> {
        let row = new_row(username, email, Some(password_hash), false);
        self.db
            .transaction(move |conn| {
                insert_new(conn, &row)?;
                if let Some((token, mail)) = &verification {
                    store_token(conn, &row.id, token)?;
                    queue(conn, mail)?;
                }
                Ok(split_account(row.clone()))
            })
            .await
            .map_err(RepoError::from)
    }

    /// The account by `key`, read without its hash and secrets.
    async fn find_record(&self, key: Key, value: &str) -> Result<Option<UserRecord>, RepoError> {
        self.find_record_on(key, value, Freshness::Primary).await
    }

    async fn find_record_on(
        &self,
        key: Key,
        value: &str,
        freshness: Freshness,
    ) -> Result<Option<UserRecord>, RepoError> {
        let value = value.to_owned();
        self.db
            .read(freshness, move |conn| {
                let row = on_backend!(conn, |c| {
                    let query = users::table.select(Account::as_select());
                    match key {
                        Key::Id => query.filter(users::id.eq(&value)).first(c),
                        Key::Username => query.filter(users::username.eq(&value)).first(c),
                        Key::Email => query.filter(users::email.eq(&value)).first(c),
                    }
                })
                .optional()?;
                Ok(row.map(record))
            })
            .await
            .map_err(RepoError::from)
    }

    async fn find(&self, key: Key, value: &str) -> Result<Option<Credentials>, RepoError> {
        let value = value.to_owned();
        self.db
            .run(move |conn| {
                let row = on_backend!(conn, |c| {
                    let query = users::table.select(User::as_select());
                    match key {
                        Key::Id => query.filter(users::id.eq(&value)).first(c),
                        Key::Username => query.filter(users::username.eq(&value)).first(c),
                        Key::Email => query.filter(users::email.eq(&value)).first(c),
                    }
                })
                .optional()?;
                Ok(row.map(split))
            })
            .await
            .map_err(RepoError::from)
    }

    /// Whether `username` and `email` are free, in one indexed read:
    /// `Conflict` naming the field that is taken (the username first when both are).
    pub async fn check_free(&self, username: &Username, email: &Email) -> Result<(), RepoError> {
        let (name, mail) = (username.as_str().to_owned(), email.as_str().to_owned());
        let holders: Vec<String> = self
            .db
            .run(move |conn| {
                let query = users::table
                    .filter(users::username.eq(&name).or(users::email.eq(&mail)))
                    .select(users::username)
                    .limit(2);
                Ok(on_backend!(conn, |c| query.load::<String>(c))?)
            })
            .await
            .map_err(RepoError::from)?;
        if holders.iter().any(|u| u == username.as_str()) {
            Err(RepoError::Conflict(Unique::Username))
        } else if holders.is_empty() {
            Ok(())
        } else {
            Err(RepoError::Conflict(Unique::Email))
        }
    }

    /// The user with this id, if any.
    pub async fn find_by_id(&self, id: &str) -> Result<Option<UserRecord>, RepoError> {
        self.find_record(Key::Id, id).await
    }

    /// The user with this id, read where `freshness` allows (a profile to show). An id a
    /// replica does not know is asked of the primary: the account may be newer than the
    /// replica's copy.
    pub async fn profile(
        &self,
        id: &str,
        freshness: Freshness,
    ) -> Result<Option<UserRecord>, RepoError> {
        match self.find_record_on(Key::Id, id, freshness).await? {
            None if freshness != Freshness::Primary => self.find_by_id(id).await,
            found => Ok(found),
        }
    }

    /// The user with this username, if any.
    pub async fn find_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<UserRecord>, RepoError> {
        self.find_record(Key::Username, username.as_str()).await
    }

    /// The user with this email, if any.
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<UserRecord>, RepoError> {
        self.find_record(Key::Email, email.as_str()).await
    }

    /// The user and password hash by id, for password checks.
    pub async fn credentials_by_id(&self, id: &str) -> Result<Option<Credentials>, RepoError> {
        self.find(Key::Id, id).await
    }

    /// The user and password hash by username, for login.
    pub async fn credentials_by_username(
        &self,
        username: &Username,
    ) -> Result<Option<Credentials>, RepoError> {
        self.find(Key::Username, username.as_str()).await
    }

    /// The user and password hash by email, for login.
    pub async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<Credentials>, RepoError> {
        self.find(Key::Email, email.as_str()).await
    }

    /// Sets a new password if the account's password is still version `current` (the one
    /// the caller verified): `NotFound` if the user is gone, `Stale` if its password has
    /// changed meanwhile, so that a change checked against an old password can never overwrite a
    /// newer one (a rehash of the same password does not stand in its way). In the same
    /// transaction every outstanding reset and change-of-address token dies and `notice`
    /// is queued.
    pub async fn update_password_hash(
        &self,
        id: &str,
        current: i64,
        new: &PasswordHash,
        notice: Option<NewMail>,
    ) -> Result<(), RepoError> {
        let (id, new) = (id.to_owned(), new.0.clone());
        let now = now_utc();
        self.db
            .transaction(move |conn| {
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::password_version.eq(current));
                let update = diesel::update(user).set((
                    users::password_hash.eq(&new),
                    users::password_version.eq(current + 1),
                    users::updated_at.eq(now),
                ));
                if on_backend!(conn, |c| update.execute(c))? == 0 {
                    return Ok(Err(missed(conn, &id)?));
                }
                revoke_takeovers(conn, &id)?;
                notice.iter().try_for_each(|m| queue(conn, m))?;
                audit::own(conn, audit::kinds::PASSWORD_CHANGED, &id)?;
                Ok(Ok(()))
            })
            .await?
    }

    /// Replaces an out-of-date hash of the same password (a login just proved it) with
    /// `new`, if the stored hash is still `old`: a password change or another login's
    /// rehash that came first wins. The password's version stays. Says whether it did.
    pub async fn rehash(
        &self,
        id: &str,
        old: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, RepoError> {
        let (id, old, new) = (id.to_owned(), old.0.clone(), new.0.clone());
        self.db
            .write(move |conn| {
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::password_hash.eq(&old));
                let update = diesel::update(user).set(users::password_hash.eq(&new));
                Ok(on_backend!(conn, |c| update.execute(c))? == 1)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Whether `id` is the only admin not banned (its own deletion would leave none).
    pub async fn is_last_admin(&self, id: &str) -> Result<bool, RepoError> {
        let id = id.to_owned();
        self.db
            .run(move |conn| {
                let admins = crate::admin::active_admins(conn, now_utc(), false)?;
                Ok(crate::admin::is_last(&admins, &id))
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes the user if its password is still version `current` (the one the caller
    /// verified); `NotFound` if the user is gone, `Stale` if its password has changed
    /// meanwhile, `LastAdmin` if it is the only admin (the admins' rows are locked first,
    /// as every act that could remove an admin does).
    /// The database deletes their tasks with them (ON DELETE CASCADE).
    pub async fn delete(&self, id: &str, current: i64) -> Result<(), RepoError> {
        let id = id.to_owned();
        self.db
            .transaction(move |conn| {
                let admins = crate::admin::active_admins(conn, now_utc(), true)?;
                if crate::admin::is_last(&admins, &id) {
                    return Ok(Err(RepoError::LastAdmin));
                }
                let user = users::table
                    .filter(users::id.eq(&id))
                    .filter(users::password_version.eq(current));
                let delete = diesel::delete(user);
                if on_backend!(conn, |c| delete.execute(c))? == 0 {
                    return Ok(Err(missed(conn, &id)?));
                }
                audit::own(conn, audit::kinds::ACCOUNT_DELETED, &id)?;
                Ok(Ok(()))
            })
            .await?
    }
}
