use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::signing_keys;

/// A row of `signing_keys`. `private_sealed` is sealed: the database cannot read it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: String,
    pub state: String,
    pub public_jwk: String,
    pub private_sealed: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub deactivated_at: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
}
