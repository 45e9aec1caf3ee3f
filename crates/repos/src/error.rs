use db::DbError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What a repository call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No row matched (or the row belongs to someone else, which callers must not tell apart).
    #[error("not found")]
    NotFound,

    /// A unique column already holds this value.
    #[error("{field} is already taken")]
    Conflict {
        /// The column that clashed: `username`, `email` or `id`.
        field: &'static str,
    },

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
/// owner was deleted meanwhile, and is `NotFound` (the service refuses the session).
pub(crate) fn owned_insert_error(e: DbError) -> RepoError {
    match e {
        DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            RepoError::NotFound
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
            )) => RepoError::Conflict {
                field: conflicting_field(info.constraint_name().unwrap_or(""), info.message()),
            },
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
/// SQLite `UNIQUE constraint failed: users.email`.
fn conflicting_field(constraint: &str, message: &str) -> &'static str {
    let text = format!("{constraint} {message}");
    if text.contains("username") {
        "username"
    } else if text.contains("email") {
        "email"
    } else {
        "id"
    }
}

#[cfg(test)]
mod tests {
    use super::conflicting_field;

    #[test]
    fn each_backend_message_names_the_field() {
        assert_eq!(conflicting_field("users_username_key", ""), "username");
        assert_eq!(
            conflicting_field("", "Duplicate entry 'a@b.c' for key 'users_email_key'"),
            "email"
        );
        assert_eq!(
            conflicting_field("", "UNIQUE constraint failed: users.username"),
            "username"
        );
        assert_eq!(
            conflicting_field("", "UNIQUE constraint failed: users.id"),
            "id"
        );
    }
}
