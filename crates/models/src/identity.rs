use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::identities;

/// A row of `identities`: a user's account at an OpenID Connect provider, known by its
/// issuer and `sub`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: String,
    /// The provider's name in `OIDC_PROVIDERS`.
    pub provider: String,
    /// The `iss` of its tokens: a `sub` is unique only there.
    pub issuer: String,
    /// The provider's `sub`: stable and unique at its issuer.
    pub subject: String,
    pub user_id: String,
    /// The address the provider gave at the last sign-in (shown, never trusted).
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}
