//! The `audit_events` table: append-only. Events are written in the transaction of the
//! change they record where one exists ([`write`]), read newest first in keyset pages, and
//! deleted past the retention in small batches.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use db::{on_backend, AnyConnection, Database, DbError};
use diesel::prelude::*;
use models::schema::audit_events;

pub use models::AuditEvent;

use crate::paging::Page;
use crate::RepoError;

/// The kinds the repositories write themselves, in the transaction of the change.
pub mod kinds {
    pub const REGISTERED: &str = "registered";
    pub const EMAIL_VERIFIED: &str = "email_verified";
    pub const EMAIL_CHANGED: &str = "email_changed";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const ACCOUNT_DELETED: &str = "account_deleted";
    pub const MFA_ENABLED: &str = "mfa_enabled";
    pub const BACKUP_CODES_REPLACED: &str = "backup_codes_replaced";
    /// A completed sign-in: the last one of an account is shown to admins.
    pub const SIGNED_IN: &str = "signed_in";
}

pub use kinds::SIGNED_IN;

/// Which events to read: every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub subject_id: Option<String>,
    pub actor_id: Option<String>,
    pub kind: Option<String>,
    /// `at >= since`.
    pub since: Option<NaiveDateTime>,
    /// `at < until`.
    pub until: Option<NaiveDateTime>,
    /// The id of the last event of the page before (events older than it come next).
    pub before: Option<String>,
    pub limit: u32,
}

/// Inserts `event` on `conn`: inside the caller's transaction when it has one.
pub(crate) fn write(conn: &mut AnyConnection, event: &AuditEvent) -> Result<(), DbError> {
    let insert = diesel::insert_into(audit_events::table).values(event);
    on_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}

/// Inserts the event of `user_id` changing its own account (`kind`) inside the change's
/// transaction. The repositories know no client address: these rows have none.
pub(crate) fn own(conn: &mut AnyConnection, kind: &str, user_id: &str) -> Result<(), DbError> {
    write(
        conn,
        &AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::now_utc(),
            kind: kind.to_owned(),
            actor_id: Some(user_id.to_owned()),
            subject_id: Some(user_id.to_owned()),
            ip: None,
            user_agent: None,
            details: "{}".to_owned(),
        },
    )
}

/// Reads and writes `audit_events`.
#[derive(Debug, Clone)]
pub struct AuditRepo {
    db: Database,
}

impl AuditRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Appends one event (for a change that is not in the database, or already stored).
    pub async fn record(&self, event: AuditEvent) -> Result<(), RepoError> {
        self.db
            .write(move |conn| write(conn, &event))
            .await
            .map_err(RepoError::from)
    }

    /// The events `query` selects, newest first, one page.
    pub async fn list(&self, query: AuditQuery) -> Result<Page<AuditEvent>, RepoError> {
        let limit = query.limit;
        let rows = self
            .db
            .run(move |conn| {
                Ok(on_backend!(conn, |c| {
                    let mut q = audit_events::table
                        .select(AuditEvent::as_select())
                        .order(audit_events::id.desc())
                        .limit(i64::from(limit) + 1)
                        .into_boxed();
                    if let Some(v) = &query.subject_id {
                        q = q.filter(audit_events::subject_id.eq(v.clone()));
                    }
                    if let Some(v) = &query.actor_id {
                        q = q.filter(audit_events::actor_id.eq(v.clone()));
                    }
                    if let Some(v) = &query.kind {
                        q = q.filter(audit_events::kind.eq(v.clone()));
                    }
                    if let Some(v) = query.since {
                        q = q.filter(audit_events::at.ge(v));
                    }
                    if let Some(v) = query.until {
                        q = q.filter(audit_events::at.lt(v));
                    }
                    if let Some(v) = &query.before {
                        q = q.filter(audit_events::id.lt(v.clone()));
                    }
                    q.load::<AuditEvent>(c)
                })?)
            })
            .await
            .map_err(RepoError::from)?;
        Ok(Page::from_rows(rows, limit, |e| &e.id))
    }

    /// The last sign-in of each of `user_ids` that has one.
    pub async fn last_sign_ins(
        &self,
        user_ids: Vec<String>,
    ) -> Result<HashMap<String, NaiveDateTime>, RepoError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.db
            .run(move |conn| {
                let q = audit_events::table
                    .filter(audit_events::kind.eq(SIGNED_IN))
                    .filter(audit_events::subject_id.eq_any(&user_ids))
                    .group_by(audit_events::subject_id)
                    .select((audit_events::subject_id, diesel::dsl::max(audit_events::at)));
                let rows: Vec<(Option<String>, Option<NaiveDateTime>)> =
                    on_backend!(conn, |c| q.load(c))?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(id, at)| Some((id?, at?)))
                    .collect())
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes up to `batch` events older than `before`; how many went. Small batches keep
    /// each delete's locks short; the caller repeats until fewer than `batch` go.
    pub async fn prune(&self, before: NaiveDateTime, batch: i64) -> Result<usize, RepoError> {
        self.db
            .write(move |conn| {
                let q = audit_events::table
                    .filter(audit_events::at.lt(before))
                    .select(audit_events::id)
                    .order(audit_events::at.asc())
                    .limit(batch);
                let ids: Vec<String> = on_backend!(conn, |c| q.load(c))?;
                if ids.is_empty() {
                    return Ok(0);
                }
                let delete =
                    diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids)));
                Ok(on_backend!(conn, |c| delete.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
