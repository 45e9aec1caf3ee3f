//! The audit trail: who did what to which account, from where. Events of changes in the
//! database are written in the change's transaction (the repositories take them); events
//! of changes in the token store (sign-ins, sign-outs, revocations) right after. Rows older
//! than `AUDIT_RETENTION` are deleted in small batches by [`Audit::run`].

mod kind;
mod views;

use std::time::Duration;

use repos::{AuditEvent, AuditQuery, AuditRepo, Page};

pub use kind::AuditKind;
pub use views::{AuditEntry, SecurityEvent};

use crate::client::ClientInfo;
use crate::ServiceError;

/// How many rows one prune statement deletes at most.
const PRUNE_BATCH: i64 = 500;
/// How often the retention is applied (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// An event about to be written.
pub(crate) fn event(
    kind: AuditKind,
    actor: Option<&str>,
    subject: Option<&str>,
    client: &ClientInfo,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at: repos::now_utc(),
        kind: kind.as_str().to_owned(),
        actor_id: actor.map(str::to_owned),
        subject_id: subject.map(str::to_owned),
        ip: client.ip.clone(),
        user_agent: client
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(256).collect()),
        details: details.to_string(),
    }
}

/// Filters of the admins' audit list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub kind: Option<AuditKind>,
    pub since: Option<chrono::NaiveDateTime>,
    pub until: Option<chrono::NaiveDateTime>,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Writes, reads and prunes the audit trail.
#[derive(Clone)]
pub struct Audit {
    repo: AuditRepo,
    retention: Duration,
}

impl Audit {
    pub(crate) fn new(repo: AuditRepo, retention: Duration) -> Self {
        Self { repo, retention }
    }

    /// Appends an event of a change already made (in the token store). A failure is
    /// logged: the change stands, and the caller's answer does not depend on its record.
    pub(crate) async fn record(&self, event: AuditEvent) {
        let kind = event.kind.clone();
        if let Err(e) = self.repo.record(event).await {
            tracing::error!(kind = %kind, error = %e, "an audit event could not be written");
        }
    }

    /// [`Audit::record`] in a task of its own: for an event the answer must not wait for.
    pub(crate) fn record_later(&self, event: AuditEvent) {
        let this = self.clone();
        tokio::spawn(async move { this.record(event).await });
    }

    /// The account's own history, newest first.
    pub async fn for_owner(
        &self,
        user_id: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page<SecurityEvent>, ServiceError> {
        let page = self
            .repo
            .list(AuditQuery {
                subject_id: Some(user_id.to_owned()),
                before: cursor,
                limit,
                ..AuditQuery::default()
            })
            .await?;
        Ok(page.map(SecurityEvent::from))
    }

    /// The trail as admins read it, newest first.
    pub async fn search(&self, f: AuditFilter) -> Result<Page<AuditEntry>, ServiceError> {
        let page = self
            .repo
            .list(AuditQuery {
                subject_id: f.user_id,
                actor_id: f.actor_id,
                kind: f.kind.map(|k| k.as_str().to_owned()),
                since: f.since,
                until: f.until,
                before: f.cursor,
                limit: f.limit,
            })
            .await?;
        Ok(page.map(AuditEntry::from))
    }

    /// The last sign-in of each account of `ids`.
    pub(crate) async fn last_sign_ins(
        &self,
        ids: Vec<String>,
    ) -> Result<std::collections::HashMap<String, chrono::NaiveDateTime>, ServiceError> {
        Ok(self.repo.last_sign_ins(ids).await?)
    }

    /// Deletes every event older than the retention, a batch at a time; how many went.
    pub async fn prune(&self) -> Result<usize, ServiceError> {
        // A retention reaching back past the calendar's start keeps everything.
        let Some(before) = chrono::TimeDelta::from_std(self.retention)
            .ok()
            .and_then(|keep| repos::now_utc().checked_sub_signed(keep))
        else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = self.repo.prune(before, PRUNE_BATCH).await?;
            total += n;
            if n < PRUNE_BATCH as usize {
                return Ok(total);
            }
        }
    }

    /// Prunes at start and then every hour (or every retention, if shorter) until `stop`.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = PRUNE_EVERY.min(self.retention.max(Duration::from_secs(1)));
        loop {
            match self.prune().await {
                Ok(n) if n > 0 => {
                    tracing::info!(rows = n, "audit events past the retention deleted")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "pruning the audit trail failed; tried again later")
                }
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(every) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }
}
