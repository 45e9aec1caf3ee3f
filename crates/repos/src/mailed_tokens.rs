//! The `one_time_tokens` table: single-use tokens, stored by hash, each consumed by a
//! conditional UPDATE so that of two racing uses only one wins. Every write here also
//! queues its mails in the same transaction.

use db::{on_backend, AnyConnection, Database, DbError};
use diesel::prelude::*;
use models::schema::{identities, one_time_tokens, users};
use models::OneTimeToken;

use crate::audit;
use crate::error::one_row;
use crate::lock::{lock_user, Locked};
use crate::mail::{queue, store_token, NewMail, NewMailedToken};
use crate::mfa::remove_factor;
use crate::users::PasswordHash;
use crate::{now_utc, RepoError};

/// The kinds of token.
pub mod kind {
    /// Proves the user reads the account's address.
    pub const VERIFY_EMAIL: &str = "verify_email";
    /// Proves the user reads a new address, which then becomes the account's.
    pub const CHANGE_EMAIL: &str = "change_email";
    /// Lets the user set a new password.
    pub const PASSWORD_RESET: &str = "password_reset";
}

/// What a consumed verification did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub user_id: String,
    /// The address now verified (the new one after a change).
    pub email: String,
    /// The address before, when this was a change.
    pub previous: Option<String>,
}

/// What a consumed reset token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub user_id: String,
    /// The account's address was unproven until this link was used; it is verified now.
    pub proved_address: bool,
    /// A second factor enrolled while the address was unproven was removed.
    pub factors_removed: bool,
    /// How many linked OpenID providers' accounts were unlinked.
    pub identities_removed: usize,
}

/// Reads and writes `one_time_tokens`.
#[derive(Debug, Clone)]
pub struct MailedTokenRepo {
    db: Database,
}

/// The user a live token of one of `kinds` belongs to, unlocked: whose row to lock first.
fn holder_of(
    conn: &mut AnyConnection,
    hash: &str,
    kinds: &[&str],
) -> Result<Option<String>, DbError> {
    let query = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash))
        .filter(one_time_tokens::kind.eq_any(kinds.to_vec()))
        .filter(one_time_tokens::used_at.is_null())
        .filter(one_time_tokens::expires_at.gt(now_utc()))
        .select(one_time_tokens::user_id);
    Ok(on_backend!(conn, |c| query.first::<String>(c)).optional()?)
}

/// Marks the token used if it is of one of `kinds`, unused and unexpired, and returns it.
/// Called with its user's row locked (`lock_user`), so that what the token does next is
/// decided on the account as it stands.
fn consume(
    conn: &mut AnyConnection,
    hash: &str,
    kinds: &[&str],
) -> Result<Option<OneTimeToken>, DbError> {
    let now = now_utc();
    let live = one_time_tokens::table
        .filter(one_time_tokens::token_hash.eq(hash))
        .filter(one_time_tokens::kind.eq_any(kinds.to_vec()))
        .filter(one_time_tokens::used_at.is_null())
        .filter(one_time_tokens::expires_at.gt(now));
    let update = diesel::update(live).set(one_time_tokens::used_at.eq(Some(now)));
    if on_backend!(conn, |c| update.execute(c))? == 0 {
        return Ok(None);
    }
    let query = one_time_tokens::table.filter(one_time_tokens::token_hash.eq(hash));
    Ok(Some(on_backend!(conn, |c| query
        .select(OneTimeToken::as_select())
        .first(c))?))
}

/// Locks the account a live token belongs to, then consumes the token: `None` if it is
/// bad, used or expired (also when a write that held the lock first used it up). The
/// account's row comes first, as in every write to an account (see `lock`).
fn lock_and_consume(
    conn: &mut AnyConnection,
    hash: &str,
    kinds: &[&str],
) -> Result<Option<(OneTimeToken, Locked)>, DbError> {
    let Some(user_id) = holder_of(conn, hash, kinds)? else {
        return Ok(None);
    };
    let Some(account) = lock_user(conn, &user_id)? else {
        return Ok(None);
    };
    Ok(consume(conn, hash, kinds)?.map(|token| (token, account)))
}

/// Marks every unused token of `kind` of the user used.
pub(crate) fn revoke_all(
    conn: &mut AnyConnection,
    user_id: &str,
    kind: &str,
) -> Result<(), DbError> {
    let live = one_time_tokens::table
        .filter(one_time_tokens::user_id.eq(user_id))
        .filter(one_time_tokens::kind.eq(kind))
        .filter(one_time_tokens::used_at.is_null());
    let update = diesel::update(live).set(one_time_tokens::used_at.eq(Some(now_utc())));
    on_backend!(conn, |c| update.execute(c))?;
    Ok(())
}

/// Marks every unused token that could take the account over (resets and changes of
/// address) used: after a password change, a reset, or a change of address.
pub(crate) fn revoke_takeovers(conn: &mut AnyConnection, user_id: &str) -> Result<(), DbError> {
    revoke_all(conn, user_id, kind::PASSWORD_RESET)?;
    revoke_all(conn, user_id, kind::CHANGE_EMAIL)
}

/// Rolls the transaction back with "no such token".
fn invalid() -> DbError {
    DbError::Query(diesel::result::Error::NotFound)
}

impl MailedTokenRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores `token` for the user and queues `mails`, in one transaction that locks the
    /// account first. `OwnerGone` if the user is gone.
    pub async fn issue(
        &self,
        user_id: &str,
        token: NewMailedToken,
        mails: Vec<NewMail>,
    ) -> Result<(), RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .transaction(move |conn| {
                if lock_user(conn, &user_id)?.is_none() {
                    return Ok(Err(RepoError::OwnerGone));
                }
                store_token(conn, &user_id, &token)?;
                mails.iter().try_for_each(|m| queue(conn, m))?;
                Ok(Ok(()))
            })
            .await
            .map_err(crate::error::owned_insert_error)?
    }

    /// Consumes a verification or change-of-address token and applies it: the account's
    /// address is verified, or replaced by the new one (verified). A token for an address
    /// the account no longer has verifies nothing. `NotFound` for a bad, used or expired
    /// token (then nothing changes); `Conflict { email }` if the new address was taken
    /// meanwhile (the token stays unused).
    pub async fn verify_email(&self, hash: &str) -> Result<Verified, RepoError> {
        let hash = hash.to_owned();
        self.db
            .transaction(move |conn| {
                let kinds = [kind::VERIFY_EMAIL, kind::CHANGE_EMAIL];
                let (token, account) =
                    lock_and_consume(conn, &hash, &kinds)?.ok_or_else(invalid)?;
                let user = users::table.filter(users::id.eq(&token.user_id));
                let now = now_utc();
                let previous = if token.kind == kind::CHANGE_EMAIL {
                    let update = diesel::update(user).set((
                        users::email.eq(&token.email),
                        users::email_verified.eq(true),
                        users::updated_at.eq(now),
                    ));
                    one_row(on_backend!(conn, |c| update.execute(c))?)?;
                    // Links mailed to the old address, and other pending changes, die.
                    revoke_takeovers(conn, &token.user_id)?;
                    audit::own(conn, audit::kinds::EMAIL_CHANGED, &token.user_id)?;
                    Some(account.email)
                } else if account.email == token.email {
                    let update = diesel::update(user)
                        .set((users::email_verified.eq(true), users::updated_at.eq(now)));
                    one_row(on_backend!(conn, |c| update.execute(c))?)?;
                    audit::own(conn, audit::kinds::EMAIL_VERIFIED, &token.user_id)?;
                    None
                } else {
                    return Err(invalid());
                };
                Ok(Verified {
                    user_id: token.user_id,
                    email: token.email,
                    previous,
                })
            })
            .await
            .map_err(RepoError::from)
    }

    /// Consumes a reset token and sets the password, if the token was mailed to the
    /// account's current address. The link proves the address: an unproven one becomes
    /// verified, and a second factor enrolled before that proof is removed (whoever held
    /// the account then may not have been the owner). Every linked provider's account is
    /// unlinked: whoever reads the mailbox owns the account now, and a provider that
    /// vouched for the address to someone else must not keep a way in. Every other reset
    /// and change of address dies, and `notice(address, what was done)` is queued, all in
    /// one transaction. `NotFound` for a bad, used or expired token.
    pub async fn reset_password<F>(
        &self,
        hash: &str,
        new: &PasswordHash,
        notice: F,
    ) -> Result<PasswordReset, RepoError>
    where
        F: Fn(&str, &PasswordReset) -> Option<NewMail> + Send + 'static,
    {
        let (hash, new) = (hash.to_owned(), new.expose().to_owned());
        self.db
            .transaction(move |conn| {
                let (token, account) =
                    lock_and_consume(conn, &hash, &[kind::PASSWORD_RESET])?.ok_or_else(invalid)?;
                // A link mailed to an address the account no longer has resets nothing.
                if account.email != token.email {
                    return Err(invalid());
                }
                let user = users::table.filter(users::id.eq(&token.user_id));
                let update = diesel::update(user).set((
                    users::password_hash.eq(&new),
                    users::password_version.eq(users::password_version + 1),
                    users::email_verified.eq(true),
                    users::updated_at.eq(now_utc()),
                ));
                one_row(on_backend!(conn, |c| update.execute(c))?)?;
                let proved_address = !account.email_verified;
                let factors_removed = proved_address && remove_factor(conn, &token.user_id)?;
                let linked = identities::table.filter(identities::user_id.eq(&token.user_id));
                let identities_removed = on_backend!(conn, |c| diesel::delete(linked).execute(c))?;
                revoke_takeovers(conn, &token.user_id)?;
                audit::own(conn, audit::kinds::PASSWORD_RESET, &token.user_id)?;
                let done = PasswordReset {
                    user_id: token.user_id,
                    proved_address,
                    factors_removed,
                    identities_removed,
                };
                notice(&account.email, &done)
                    .iter()
                    .try_for_each(|m| queue(conn, m))?;
                Ok(done)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The user a live token of `kind`, mailed to the account's current address, belongs
    /// to, without consuming it (so that work
    /// before the use, a password's hash, is spent only on a token that may still work).
    pub async fn holder(
        &self,
        hash: &str,
        kind: &'static str,
    ) -> Result<Option<String>, RepoError> {
        let hash = hash.to_owned();
        self.db
            .run(move |conn| {
                // Only for the address it was mailed to, if that is still the account's.
                let query = one_time_tokens::table
                    .inner_join(users::table)
                    .filter(one_time_tokens::token_hash.eq(&hash))
                    .filter(one_time_tokens::kind.eq(kind))
                    .filter(one_time_tokens::used_at.is_null())
                    .filter(one_time_tokens::expires_at.gt(now_utc()))
                    .filter(users::email.eq(one_time_tokens::email))
                    .select(one_time_tokens::user_id);
                Ok(on_backend!(conn, |c| query.first::<String>(c)).optional()?)
            })
            .await
            .map_err(RepoError::from)
    }
}
