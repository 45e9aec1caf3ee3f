use db::DbError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// A column whose values are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    Username,
    Email,
    /// A passkey's credential id (registered already, to this account or another).
    Credential,
    /// A provider's account (provider and subject), linked already.
    Identity,
    /// A primary key (a made id that clashed: a bug, never the caller's fault).
    Id,
}

impl std::fmt::Display for Unique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unique::Username => "username",
            Unique::Email => "email",
            Unique::Credential => "credential",
            Unique::Identity => "identity",
            Unique::Id => "id",
        })
    }
}

/// What a repository call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No row matched (or the row belongs to someone else, which callers must not tell apart).
    #[error("not found")]
    NotFound,

    /// A write conditional on what the caller read (a password's version) found the row
    /// changed meanwhile: nothing was written.
    #[error("changed meanwhile")]
    Stale,

    /// The user a new row belongs to was deleted meanwhile: nothing was written.
    #[error("the owner is gone")]
    OwnerGone,

    /// The act would leave no admin who is not banned: nothing was written.
    #[error("the last admin")]
    LastAdmin,

    /// A unique column already holds this value.
    #[error("{0} is already taken")]
    Conflict(Unique),

    /// The database or the token store cannot be reached right now; worth retrying.
    #[error("{what} unavailable: {detail}")]
    Unavailable {
        /// `database` or `token store`.
        what: &'static str,
        /// The driver's message, for the log.
        detail: String,
    },

    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] DbError),

    /// Any other token-store failure (an unexpected reply, a script error).
    #[error("token store error: {0}")]
    TokenStore(String),
}

/// Turns "rows affected" into `NotFound` when nothing matched: an owner-scoped `UPDATE` or
/// `DELETE` of another user's row changes nothing, and answers like a missing one.
pub(crate) fn one_row(n: usize) -> Result<(), DbError> {
    if n == 0 {
        Err(DbError::Query(DieselError::NotFound))
    } else {
        Ok(())
    }
}

/// The error of an insert of a row owned by a user: a foreign-key violation means the
/// owner was deleted meanwhile (`OwnerGone`).
pub(crate) fn owned_insert_error(e: DbError) -> RepoError {
    match e {
        DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            RepoError::OwnerGone
        }
        e => RepoError::from(e),
    }
}

impl From<DbError> for RepoError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(DieselError::NotFound) => RepoError::NotFound,
            DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                info,
            )) => RepoError::Conflict(conflicting_field(
                info.constraint_name().unwrap_or(""),
                info.message(),
            )),
            e if e.is_unavailable() => RepoError::Unavailable {
                what: "database",
                detail: e.to_string(),
            },
            e => RepoError::Database(e),
        }
    }
}

impl From<DieselError> for RepoError {
    fn from(e: DieselError) -> Self {
        RepoError::from(DbError::Query(e))
    }
}

/// Names the column behind a unique violation from what each backend reports: PostgreSQL
/// the constraint (`users_email_key`), MySQL `Duplicate entry .. for key 'users_email_key'`,
/// SQLite `UNIQUE constraint failed: users.email`. MySQL's message quotes the clashing
/// value too, so only the key's name after `for key` is read.
fn conflicting_field(constraint: &str, message: &str) -> Unique {
    let text = match message.split_once("for key '") {
        _ if !constraint.is_empty() => constraint,
        Some((_, key)) => key,
        None => message,
    };
    if text.contains("identities") {
        Unique::Identity
    } else if text.contains("username") {
        Unique::Username
    } else if text.contains("email") {
        Unique::Email
    } else if text.contains("credential_id") {
        Unique::Credential
    } else {
        Unique::Id
    }
}

#[cfg(test)]
mod tests {
    use super::{conflicting_field, Unique};

    #[test]
    fn each_backend_message_names_the_field() {
        assert_eq!(
            conflicting_field("users_username_key", ""),
            Unique::Username
        );
        assert_eq!(
            conflicting_field("", "Duplicate entry 'a@b.c' for key 'users_email_key'"),
            Unique::Email
        );
        assert_eq!(
            conflicting_field("", "UNIQUE constraint failed: users.username"),
            Unique::Username
        );
        assert_eq!(
            conflicting_field("", "UNIQUE constraint failed: users.id"),
            Unique::Id
        );
        // The clashing value is not read for a name.
        assert_eq!(
            conflicting_field("", "Duplicate entry 'username@x' for key 'users_email_key'"),
            Unique::Email
        );
        assert_eq!(
            conflicting_field(
                "",
                "Duplicate entry 'google-email' for key 'identities_provider_subject'"
            ),
            Unique::Identity
        );
        assert_eq!(
            conflicting_field(
                "",
                "UNIQUE constraint failed: identities.provider, identities.subject"
            ),
            Unique::Identity
        );
    }
}
