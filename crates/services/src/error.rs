use std::time::Duration;

pub use ::domain::FieldError;
use repos::{RepoError, Unique};

/// Every outcome of a service call that is not success.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input that does not parse; one entry per field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    /// Wrong password or unknown user: deliberately the same.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Not a token we signed, the wrong kind of token, or not yet valid.
    #[error("invalid token")]
    TokenInvalid,
    #[error("token expired")]
    TokenExpired,
    /// The session was logged out or revoked.
    #[error("token revoked")]
    TokenRevoked,
    /// An introspection call without the credentials of a configured client.
    #[error("unknown client or wrong secret")]
    InvalidClient,
    /// An old refresh token came back: the session has been revoked.
    #[error("refresh token reused; session revoked")]
    RefreshTokenReused,
    /// Too many failed logins, or registrations from one address.
    #[error("too many attempts")]
    RateLimited { retry_after: Duration },
    /// A mailed token that is unknown, used or expired.
    #[error("invalid or expired token")]
    InvalidOrExpiredToken,
    /// The right password, but the address is not verified and verification is required.
    #[error("email address not verified")]
    EmailUnverified,
    /// A wrong, old or already used second-factor code.
    #[error("invalid second-factor code")]
    InvalidMfaCode,
    /// A passkey ceremony that failed: an unknown, used or stale challenge, a wrong
    /// signature or origin, an unknown credential, a counter gone backwards.
    #[error("invalid passkey")]
    InvalidPasskey,
    /// The account holds its most passkeys already.
    #[error("at most {0} passkeys per account")]
    PasskeyLimit(u32),
    /// Passkeys are not configured (no relying-party id: `WEBAUTHN_RP_ID`).
    #[error("passkeys are not configured")]
    PasskeysOff,
    /// An unlink that would leave the account no way to sign in.
    #[error("the account's last way to sign in")]
    LastSignInMethod,
    /// An `mfa_token` that is unknown, used, expired, or spent by wrong codes.
    #[error("invalid or expired mfa_token")]
    InvalidMfaToken,
    /// Enrolment was asked for with the second factor already on.
    #[error("second factor already enabled")]
    MfaAlreadyEnabled,
    /// The second factor is off.
    #[error("second factor not enabled")]
    MfaNotEnabled,
    /// A confirm with no enrolment started.
    #[error("no second-factor enrolment started")]
    MfaNotPending,
    /// No such resource, or not the caller's.
    #[error("not found")]
    NotFound,
    /// The caller is not an admin (or its session was not opened with a second factor
    /// where admins need one).
    #[error("forbidden")]
    Forbidden,
    /// The right password of a banned account; `until` is `None` for a ban until lifted.
    #[error("account banned")]
    AccountBanned {
        until: Option<crate::views::Timestamp>,
    },
    /// The act would leave no admin.
    #[error("the last admin")]
    LastAdmin,
    /// An admin tried to ban its own account.
    #[error("an admin cannot ban itself")]
    CannotBanSelf,
    /// Too many password checks or hashes are already waiting; worth retrying shortly.
    #[error("too much password work waiting")]
    Overloaded,
    /// A dependency is down; worth retrying.
    #[error("{what} unavailable")]
    Unavailable { what: &'static str, detail: String },
    /// A bug or an unexpected failure: what was being done, and the cause (its whole chain
    /// is logged once, with the request id; a client sees none of it).
    #[error("internal error: {what}")]
    Internal {
        what: String,
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl ServiceError {
    /// A 422 with one field error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Validation(vec![FieldError::new(field, message)])
    }

    /// An internal error with no cause beyond `what`.
    pub fn internal(what: impl Into<String>) -> Self {
        ServiceError::Internal {
            what: what.into(),
            cause: None,
        }
    }

    /// An internal error: `what` failed because of `cause`.
    pub fn internal_from(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ServiceError::Internal {
            what: what.into(),
            cause: Some(Box::new(cause)),
        }
    }
}

/// A refused parse is a 422 naming its field.
impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::Validation(vec![e])
    }
}

impl From<RepoError> for ServiceError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound => ServiceError::NotFound,
            RepoError::LastAdmin => ServiceError::LastAdmin,
            // A session that outlived its user is refused like a revoked one.
            RepoError::OwnerGone => ServiceError::TokenRevoked,
            RepoError::Conflict(Unique::Username) => ServiceError::UsernameTaken,
            RepoError::Conflict(Unique::Email) => ServiceError::EmailTaken,
            RepoError::Unavailable { what, detail } => ServiceError::Unavailable { what, detail },
            // A lost conditional write is for its caller to read; one that reaches here was
            // not expected. A clashing made id is a bug.
            e @ (RepoError::Stale
            | RepoError::Conflict(Unique::Id | Unique::Credential | Unique::Identity)
            | RepoError::Database(_)
            | RepoError::TokenStore(_)) => ServiceError::internal_from("a repository call", e),
        }
    }
}

/// The error and all its sources on one line, for the log.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
