use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::users;

/// A row of `users`, password hash included: it never leaves the repos layer.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The sealed TOTP secret while the second factor is on.
    pub totp_secret: Option<String>,
    /// The sealed TOTP secret of an enrolment waiting for its first code.
    pub totp_pending: Option<String>,
    /// The last TOTP time step accepted: only later ones are.
    pub totp_last_step: i64,
    /// Moves on with every change of password, not with a rehash of the same one.
    pub password_version: i64,
    /// `user` or `admin`.
    pub role: String,
    /// Set while the account is banned (or was, until `banned_until` passed).
    pub banned_at: Option<NaiveDateTime>,
    /// When a ban lifts itself; `None` with `banned_at` set: until lifted.
    pub banned_until: Option<NaiveDateTime>,
    pub ban_reason: Option<String>,
}

/// What an insert into `users` binds.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub email_verified: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A row of `users` without the password hash and the second factor's secrets: what a
/// read that only shows an account selects (fewer and smaller columns to decode).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// Whether a second factor is on (its secret is set).
    #[diesel(select_expression = users::totp_secret.is_not_null())]
    #[diesel(select_expression_type = diesel::dsl::IsNotNull<users::totp_secret>)]
    pub mfa_enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub role: String,
    pub banned_at: Option<NaiveDateTime>,
    pub banned_until: Option<NaiveDateTime>,
    pub ban_reason: Option<String>,
}
