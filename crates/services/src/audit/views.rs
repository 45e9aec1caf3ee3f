//! Audit events as the API shows them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::views::Timestamp;

/// An event of the audit trail, as admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    #[schema(example = "signed_in")]
    pub kind: String,
    /// Who acted: the account itself, an admin, or nobody (a failed sign-in).
    pub actor_id: Option<String>,
    /// The account acted on.
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A few facts of the event (a sign-in's method, a ban's end and reason).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// An event of the owner's own security history: an admin's act shows without the admin.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SecurityEvent {
    pub id: String,
    pub at: Timestamp,
    #[schema(example = "signed_in")]
    pub kind: String,
    /// The act was an admin's.
    pub by_admin: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<repos::AuditEvent> for AuditEntry {
    fn from(e: repos::AuditEvent) -> Self {
        Self {
            details: serde_json::from_str(&e.details).unwrap_or_default(),
            id: e.id,
            at: Timestamp::from_utc(e.at),
            kind: e.kind,
            actor_id: e.actor_id,
            subject_id: e.subject_id,
            ip: e.ip,
            user_agent: e.user_agent,
        }
    }
}

impl From<repos::AuditEvent> for SecurityEvent {
    fn from(e: repos::AuditEvent) -> Self {
        // An admin's act shows without the admin: neither its id nor its client.
        let by_admin = e.kind.starts_with("admin_");
        Self {
            details: serde_json::from_str(&e.details).unwrap_or_default(),
            by_admin,
            id: e.id,
            at: Timestamp::from_utc(e.at),
            kind: e.kind,
            ip: e.ip.filter(|_| !by_admin),
            user_agent: e.user_agent.filter(|_| !by_admin),
        }
    }
}
