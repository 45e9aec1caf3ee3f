use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::audit_events;

/// A row of `audit_events`: who did what to which account, from where. `details` is a
/// small JSON object that never holds a password, token, code or secret.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub at: NaiveDateTime,
    pub kind: String,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}
