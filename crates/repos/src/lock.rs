//! The one lock order for writes to an account: a transaction that changes more than one
//! row of an account (its `users` row, its mailed tokens, its backup codes, its mails)
//! takes the `users` row first. Two such transactions then queue on that row instead of
//! each holding a row the other waits for (a deadlock the database breaks with a 500).
//! A transaction whose first write is an `UPDATE users` already starts in this order.

use db::{AnyConnection, DbError};
use diesel::prelude::*;
use models::schema::users;

/// The account as it stands once locked: what the transaction decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locked {
    pub email: String,
    pub email_verified: bool,
}

/// Locks the user's row until the transaction ends (PostgreSQL `FOR NO KEY UPDATE`, which
/// lets inserts of the account's tasks go on; MySQL `FOR UPDATE`; SQLite writes one
/// transaction at a time already) and reads it as it is now. `None`: no such user.
pub(crate) fn lock_user(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Option<Locked>, DbError> {
    let row = users::table
        .filter(users::id.eq(user_id))
        .select((users::email, users::email_verified));
    let found: Option<(String, bool)> = match conn {
        AnyConnection::Postgresql(c) => row.for_no_key_update().first(c).optional()?,
        AnyConnection::Mysql(c) => row.for_update().first(c).optional()?,
        AnyConnection::Sqlite(c) => row.first(c).optional()?,
    };
    Ok(found.map(|(email, email_verified)| Locked {
        email,
        email_verified,
    }))
}
