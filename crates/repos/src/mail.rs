//! What the services hand down to be stored with a mail: the mail itself, and the one-time
//! token it carries (its hash only). Both are written in the caller's transaction.

use chrono::NaiveDateTime;
use db::{on_backend, AnyConnection, DbError};
use diesel::prelude::*;
use models::schema::{mail_outbox, one_time_tokens};
use models::{OneTimeToken, OutboxMail};

use crate::now_utc;

/// A mail to queue. `params` are the template's values as JSON; `sealed_token` is the
/// mailed token encrypted by the services, cleared once the mail is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMail {
    pub kind: String,
    pub recipient: String,
    pub params: String,
    pub sealed_token: Option<String>,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail")
            .field("kind", &self.kind)
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

/// A mailed token to store: the SHA-256 (hex) of the value mailed, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailedToken {
    pub hash: String,
    pub kind: &'static str,
    /// The address it is mailed to.
    pub email: String,
    pub expires_at: NaiveDateTime,
}

/// Inserts `mail` as a row due now.
pub(crate) fn queue(conn: &mut AnyConnection, mail: &NewMail) -> Result<(), DbError> {
    let now = now_utc();
    let row = OutboxMail {
        id: uuid::Uuid::now_v7().to_string(),
        kind: mail.kind.clone(),
        recipient: mail.recipient.clone(),
        params: mail.params.clone(),
        sealed_token: mail.sealed_token.clone(),
        attempts: 0,
        next_attempt_at: now,
        lease_owner: None,
        lease_until: None,
        sent_at: None,
        failed_at: None,
        last_error: None,
        created_at: now,
    };
    let insert = diesel::insert_into(mail_outbox::table).values(row);
    on_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}

/// Inserts `token` for `user_id`.
pub(crate) fn store_token(
    conn: &mut AnyConnection,
    user_id: &str,
    token: &NewMailedToken,
) -> Result<(), DbError> {
    let row = OneTimeToken {
        token_hash: token.hash.clone(),
        kind: token.kind.to_owned(),
        user_id: user_id.to_owned(),
        email: token.email.clone(),
        expires_at: token.expires_at,
        used_at: None,
        created_at: now_utc(),
    };
    let insert = diesel::insert_into(one_time_tokens::table).values(row);
    on_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}
