//! The outbox worker: one per instance. It claims due rows with a lease, renders and sends
//! each, and records the outcome: sent (the token forgotten), due again after a backoff,
//! or failed for good after `max_attempts`. It also prunes old rows and reports the
//! backlog. An SMTP or database outage only delays mail: the rows wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::{Mailbox, MultiPart};
use lettre::Address;
use lettre::Message;
use repos::{ClaimedMail, OutboxRepo};
use tokio::sync::{watch, Notify};

use super::templates::Rendered;
use super::{MailKind, MailSettings, Mailer, Sealer, Templates, Transport};

/// Delivers the outbox.
pub struct Courier {
    outbox: OutboxRepo,
    transport: Transport,
    templates: Templates,
    sealer: Sealer,
    settings: Arc<MailSettings>,
    wake: Arc<Notify>,
    /// This worker's lease name.
    owner: String,
}

/// Rows claimed per round.
const BATCH: i64 = 20;

impl Courier {
    /// A worker over `mailer`' outbox, with its transport and templates: fails when
    /// `SMTP_URL` or the template directory is unusable.
    pub fn new(mailer: &Mailer) -> Result<Self, String> {
        let settings = mailer.settings.clone();
        Ok(Self {
            transport: Transport::new(&settings.delivery, settings.send_timeout)?,
            templates: Templates::load(settings.template_dir.as_deref())
                .map_err(|e| e.to_string())?,
            outbox: mailer.outbox.clone(),
            sealer: mailer.sealer.clone(),
            wake: mailer.wake.clone(),
            owner: uuid::Uuid::new_v4().to_string(),
            settings,
        })
    }

    /// Runs until `stop` turns true: a round when woken or every `poll_interval`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut last_prune: Option<Instant> = None;
        loop {
            self.round().await;
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                match self.outbox.prune(self.settings.retention).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "mail outbox pruned"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mail outbox prune failed"),
                }
                last_prune = Some(Instant::now());
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    /// Claims and sends what is due; returns how many were sent.
    pub async fn round(&self) -> usize {
        let claimed = match self
            .outbox
            .claim(&self.owner, self.settings.lease, BATCH)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "mail outbox unreadable; retrying");
                return 0;
            }
        };
        let mut sent = 0;
        for mail in claimed {
            sent += usize::from(self.deliver(mail).await);
        }
        match self.outbox.backlog().await {
            Ok(b) => {
                metrics::gauge!("strata_mail_outbox_pending").set(b.pending as f64);
                metrics::gauge!("strata_mail_outbox_failed").set(b.failed as f64);
            }
            // The gauges keep their last values; the next round tries again.
            Err(e) => tracing::warn!(error = %e, "mail outbox backlog unreadable"),
        }
        sent
    }

    /// Sends one claimed row and records the outcome; true if sent.
    async fn deliver(&self, mail: ClaimedMail) -> bool {
        let kind = MailKind::parse(&mail.kind);
        let label = kind.map_or("other", MailKind::as_str);
        let outcome = match (kind, self.message(&mail, kind)) {
            (Some(_), Ok(message)) => self
                .transport
                .send(message)
                .await
                .map_err(|e| (e.permanent, e.message)),
            (None, _) => Err((true, format!("unknown mail kind {:?}", mail.kind))),
            (_, Err(e)) => Err((true, e)),
        };
        match outcome {
            Ok(file) => {
                if let Err(e) = self.outbox.sent(&mail.id, &self.owner).await {
                    tracing::warn!(mail_id = %mail.id, error = %e, "a sent mail could not be marked sent");
                }
                metrics::counter!("strata_mail_sent_total", "kind" => label).increment(1);
                match file {
                    Some(path) => {
                        tracing::info!(mail_id = %mail.id, kind = label, file = %path.display(), "mail written")
                    }
                    None => tracing::info!(mail_id = %mail.id, kind = label, "mail sent"),
                }
                true
            }
            Err((permanent, error)) => {
                let attempt = mail.attempts + 1;
                let retry_in = if permanent {
                    None
                } else {
                    self.settings.retry_in(attempt)
                };
                metrics::counter!("strata_mail_attempt_errors_total", "kind" => label).increment(1);
                metrics::gauge!("strata_mail_last_error_timestamp_seconds")
                    .set(chrono::Utc::now().timestamp() as f64);
                if retry_in.is_none() {
                    metrics::counter!("strata_mail_failed_total", "kind" => label).increment(1);
                }
                tracing::warn!(mail_id = %mail.id, kind = label, attempt, error = %error,
                    retry_in_ms = retry_in.map(|d| d.as_millis() as u64), "mail not sent");
                // Unrecorded, the row is due again when its lease ends: tried once more
                // sooner than its backoff says, never lost.
                if let Err(e) = self
                    .outbox
                    .attempt_failed(&mail.id, &self.owner, &error, retry_in)
                    .await
                {
                    tracing::warn!(mail_id = %mail.id, error = %e, "a failed mail attempt was not recorded");
                }
                false
            }
        }
    }

    /// The message of a row: its template filled with its values and its token's link.
    fn message(&self, mail: &ClaimedMail, kind: Option<MailKind>) -> Result<Message, String> {
        let kind = kind.ok_or("unknown kind")?;
        let params: serde_json::Value =
            serde_json::from_str(&mail.params).map_err(|e| format!("bad params: {e}"))?;
        let link = match (kind.page(), &mail.sealed_token) {
            (Some(page), Some(sealed)) => {
                let token = self
                    .sealer
                    .open(sealed)
                    .ok_or("the token cannot be unsealed (was JWT_API_SECRET replaced?)")?;
                format!("{}{page}?token={token}", self.settings.public_url)
            }
            (Some(_), None) => return Err("the mail's token is gone".into()),
            _ => String::new(),
        };
        let value = |k: &str| params[k].as_str().unwrap_or_default().to_owned();
        let (username, email, new_email, valid_for) = (
            value("username"),
            value("email"),
            value("new_email"),
            value("valid_for"),
        );
        let Rendered {
            subject,
            text,
            html,
        } = self.templates.render(
            kind,
            &[
                ("product", &self.settings.product),
                ("username", &username),
                ("email", &email),
                ("new_email", &new_email),
                ("valid_for", &valid_for),
                ("link", &link),
            ],
        );
        let from: Mailbox = self
            .settings
            .from
            .parse()
            .map_err(|e| format!("MAIL_FROM: {e}"))?;
        // The stored address alone: parsed as a mailbox, `x<victim@corp>` would go to victim.
        let address: Address = mail
            .recipient
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let to = Mailbox::new(None, address);
        Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("building the message: {e}"))
    }
}
