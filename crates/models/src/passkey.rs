use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::passkeys;

/// A row of `passkeys`: one WebAuthn credential of a user. `credential` is webauthn-rs's
/// serialised `Passkey` (public key, counter, flags), never anything secret.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    /// The credential's id, base64url without padding.
    pub credential_id: String,
    pub name: String,
    pub credential: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}
