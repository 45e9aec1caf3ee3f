//! What the services hand back: plain values, ready to serialize. No password hash here.

use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::timestamp::Timestamp;

fn utc(t: NaiveDateTime) -> Timestamp {
    Timestamp::from_utc(t)
}

fn utc_secs(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs)
}

/// The signed-in user's own account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    #[schema(example = "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9fa0b1")]
    pub id: String,
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    /// The address was confirmed through a mailed link.
    pub email_verified: bool,
    /// Sign-in asks for a second factor after the password.
    pub mfa_enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<repos::UserRecord> for User {
    fn from(u: repos::UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            mfa_enabled: u.mfa_enabled,
            created_at: utc(u.created_at),
            updated_at: utc(u.updated_at),
        }
    }
}

/// Another user, as any signed-in user may see them: no email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PublicUser {
    pub id: String,
    pub username: String,
    pub created_at: Timestamp,
}

impl From<repos::UserRecord> for PublicUser {
    fn from(u: repos::UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            created_at: utc(u.created_at),
        }
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Task {
    pub id: String,
    #[schema(example = "Buy milk")]
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<repos::TaskRecord> for Task {
    fn from(t: repos::TaskRecord) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            done: t.done,
            created_at: utc(t.created_at),
            updated_at: utc(t.updated_at),
        }
    }
}

/// A page of tasks. Pass `next_cursor` as `cursor` to get the next page; `null` means
/// this was the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// A fresh access and refresh token pair. `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Seconds until the refresh token expires.
    #[schema(example = 604800)]
    pub refresh_expires_in: i64,
    pub session_id: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// One of the user's live sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: Timestamp,
    /// The last login or refresh.
    pub refreshed_at: Timestamp,
    /// When the session ends whatever the refreshes.
    pub expires_at: Timestamp,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The sign-in proved a second factor as well as the password.
    pub second_factor: bool,
    /// How the session was opened: `password`, `password_and_totp`,
    /// `password_and_backup_code` or `passkey` (null for one opened before this was kept).
    pub method: Option<String>,
    /// True for the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    pub(crate) fn new(s: repos::SessionInfo, current_session: &str) -> Self {
        Self {
            current: s.session_id == current_session,
            id: s.session_id,
            created_at: utc_secs(s.created_at),
            refreshed_at: utc_secs(s.refreshed_at),
            expires_at: utc_secs(s.expires_at),
            user_agent: s.user_agent,
            ip: s.ip,
            second_factor: s.second_factor,
            method: s.method,
        }
    }
}

/// A started enrolment: the secret for an authenticator app, as text, as a key URI and as a
/// QR code of that URI.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Enrolment {
    /// Base32 (RFC 6238: SHA-1, 30 s, 6 digits).
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    #[schema(
        example = "otpauth://totp/strata:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=strata&algorithm=SHA1&digits=6&period=30"
    )]
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document drawn by the server.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(***)")
    }
}

/// A new set of backup codes, shown this once; each works once in place of a TOTP code.
#[derive(Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BackupCodes {
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupCodes({} codes)", self.recovery_codes.len())
    }
}
