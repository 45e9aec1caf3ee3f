//! Accounts as admins see them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;
use utoipa::ToSchema;

use crate::views::{SessionView, Timestamp};

/// An account in the admins' list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdminUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    #[schema(example = "user")]
    pub role: String,
    pub created_at: Timestamp,
    /// The last completed sign-in still in the audit trail.
    pub last_sign_in_at: Option<Timestamp>,
    /// A ban holds now.
    pub banned: bool,
    /// When the ban ends; `null` with `banned` true: until an admin lifts it.
    pub banned_until: Option<Timestamp>,
    pub ban_reason: Option<String>,
}

impl AdminUser {
    pub(crate) fn new(
        u: repos::UserRecord,
        last_sign_ins: &HashMap<String, NaiveDateTime>,
        now: NaiveDateTime,
    ) -> Self {
        let ban = u.banned(now).cloned();
        Self {
            last_sign_in_at: last_sign_ins.get(&u.id).map(|t| Timestamp::from_utc(*t)),
            banned: ban.is_some(),
            banned_until: ban.as_ref().and_then(|b| b.until).map(Timestamp::from_utc),
            ban_reason: ban.and_then(|b| b.reason),
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            mfa_enabled: u.mfa_enabled,
            role: u.role,
            created_at: Timestamp::from_utc(u.created_at),
        }
    }
}

/// A page of accounts; pass `next_cursor` as `cursor` for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdminUserPage {
    pub items: Vec<AdminUser>,
    pub next_cursor: Option<String>,
}

/// One account with its live sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    pub user: AdminUser,
    pub sessions: Vec<SessionView>,
}
