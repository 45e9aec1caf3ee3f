//! The `mail_outbox` table: mails from queued to sent or failed. Workers in any number of
//! instances claim due rows with a lease, a conditional UPDATE that works on every backend,
//! so a row is sent by one worker at a time.

use std::time::Duration;

use chrono::NaiveDateTime;
use db::{on_backend, Database};
use diesel::prelude::*;
use models::schema::mail_outbox;
use models::OutboxMail;

use crate::mail::{queue, NewMail};
use crate::{now_utc, RepoError};

/// A claimed mail, to send.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub params: String,
    pub sealed_token: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
}

impl std::fmt::Debug for ClaimedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What is waiting: rows not yet sent and not failed, and failed rows still kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: i64,
    pub failed: i64,
}

/// Reads and writes `mail_outbox`.
#[derive(Debug, Clone)]
pub struct OutboxRepo {
    db: Database,
}

fn plus(t: NaiveDateTime, d: Duration) -> NaiveDateTime {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl OutboxRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Queues mails that carry no token (notices), in one transaction.
    pub async fn queue(&self, mails: Vec<NewMail>) -> Result<(), RepoError> {
        self.db
            .transaction(move |conn| mails.iter().try_for_each(|m| queue(conn, m)))
            .await
            .map_err(RepoError::from)
    }

    /// Claims up to `batch` due rows for `owner` for `lease`: a row is due when it is
    /// neither sent nor failed, its next attempt is now or past, and no live lease holds
    /// it. Each claim is a conditional UPDATE, so two workers never hold one row.
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        batch: i64,
    ) -> Result<Vec<ClaimedMail>, RepoError> {
        let owner = owner.to_owned();
        self.db
            .write(move |conn| {
                let now = now_utc();
                let due = mail_outbox::table
                    .filter(mail_outbox::sent_at.is_null())
                    .filter(mail_outbox::failed_at.is_null())
                    .filter(mail_outbox::next_attempt_at.le(now))
                    .filter(
                        mail_outbox::lease_until
                            .is_null()
                            .or(mail_outbox::lease_until.lt(now)),
                    );
                let ids_query = due
                    .select(mail_outbox::id)
                    .order(mail_outbox::id)
                    .limit(batch);
                let ids: Vec<String> = on_backend!(conn, |c| ids_query.load(c))?;
                let mut claimed = Vec::new();
                for id in ids {
                    let update = diesel::update(due.filter(mail_outbox::id.eq(&id))).set((
                        mail_outbox::lease_owner.eq(Some(&owner)),
                        mail_outbox::lease_until.eq(Some(plus(now, lease))),
                    ));
                    if on_backend!(conn, |c| update.execute(c))? == 0 {
                        continue;
                    }
                    let query = mail_outbox::table.filter(mail_outbox::id.eq(&id));
                    let row: OutboxMail =
                        on_backend!(conn, |c| query.select(OutboxMail::as_select()).first(c))?;
                    claimed.push(ClaimedMail {
                        id: row.id,
                        kind: row.kind,
                        recipient: row.recipient,
                        params: row.params,
                        sealed_token: row.sealed_token,
                        attempts: row.attempts,
                    });
                }
                Ok(claimed)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Marks a claimed row sent and forgets its token. `NotFound` if `owner` no longer
    /// holds it.
    pub async fn sent(&self, id: &str, owner: &str) -> Result<(), RepoError> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.db
            .write(move |conn| {
                let row = mail_outbox::table
                    .filter(mail_outbox::id.eq(&id))
                    .filter(mail_outbox::lease_owner.eq(&owner));
                let update = diesel::update(row).set((
                    mail_outbox::sent_at.eq(Some(now_utc())),
                    mail_outbox::sealed_token.eq(None::<String>),
                    mail_outbox::lease_owner.eq(None::<String>),
                    mail_outbox::lease_until.eq(None::<NaiveDateTime>),
                ));
                crate::error::one_row(on_backend!(conn, |c| update.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Records a failed attempt of a claimed row: due again after `retry_in`, or, when
    /// `retry_in` is `None`, failed for good (its token forgotten).
    pub async fn attempt_failed(
        &self,
        id: &str,
        owner: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<(), RepoError> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        let error: String = error.chars().take(500).collect();
        self.db
            .write(move |conn| {
                let now = now_utc();
                let row = mail_outbox::table
                    .filter(mail_outbox::id.eq(&id))
                    .filter(mail_outbox::lease_owner.eq(&owner));
                let attempts = mail_outbox::attempts.eq(mail_outbox::attempts + 1);
                let free = (
                    mail_outbox::lease_owner.eq(None::<String>),
                    mail_outbox::lease_until.eq(None::<NaiveDateTime>),
                    mail_outbox::last_error.eq(Some(&error)),
                );
                let n = match retry_in {
                    Some(d) => {
                        let update = diesel::update(row).set((
                            attempts,
                            free,
                            mail_outbox::next_attempt_at.eq(plus(now, d)),
                        ));
                        on_backend!(conn, |c| update.execute(c))?
                    }
                    None => {
                        let update = diesel::update(row).set((
                            attempts,
                            free,
                            mail_outbox::failed_at.eq(Some(now)),
                            mail_outbox::sealed_token.eq(None::<String>),
                        ));
                        on_backend!(conn, |c| update.execute(c))?
                    }
                };
                crate::error::one_row(n)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Deletes rows sent or failed before `older_than` ago; returns how many.
    pub async fn prune(&self, older_than: Duration) -> Result<usize, RepoError> {
        self.db
            .write(move |conn| {
                let cutoff = now_utc() - chrono::Duration::from_std(older_than).unwrap_or_default();
                let old = mail_outbox::table.filter(
                    mail_outbox::sent_at
                        .lt(cutoff)
                        .or(mail_outbox::failed_at.lt(cutoff)),
                );
                Ok(on_backend!(conn, |c| diesel::delete(old).execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Rows waiting to be sent, and failed rows still kept.
    pub async fn backlog(&self) -> Result<Backlog, RepoError> {
        self.db
            .run(move |conn| {
                let pending = mail_outbox::table
                    .filter(mail_outbox::sent_at.is_null())
                    .filter(mail_outbox::failed_at.is_null())
                    .count();
                let failed = mail_outbox::table
                    .filter(mail_outbox::failed_at.is_not_null())
                    .count();
                Ok(Backlog {
                    pending: on_backend!(conn, |c| pending.get_result(c))?,
                    failed: on_backend!(conn, |c| failed.get_result(c))?,
                })
            })
            .await
            .map_err(RepoError::from)
    }

    /// How many mails were queued for `recipient` in the last `window`.
    pub async fn queued_for(&self, recipient: &str, window: Duration) -> Result<i64, RepoError> {
        let recipient = recipient.to_owned();
        self.db
            .run(move |conn| {
                let since = now_utc() - chrono::Duration::from_std(window).unwrap_or_default();
                let query = mail_outbox::table
                    .filter(mail_outbox::recipient.eq(&recipient))
                    .filter(mail_outbox::created_at.ge(since))
                    .count();
                Ok(on_backend!(conn, |c| query.get_result(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
