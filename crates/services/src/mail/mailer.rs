//! Making the rows of a mail: a mailed token (32 random bytes, base64url; only its
//! SHA-256 is stored) and the outbox row that carries it, sealed. Queuing wakes this
//! instance's worker.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use repos::{AnyTokenStore, NewMail, NewMailedToken, OutboxRepo, RateCounters};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::{MailKind, MailSettings, Sealer};
use crate::ServiceError;

/// Builds and queues mails.
#[derive(Clone)]
pub struct Mailer {
    pub(crate) settings: Arc<MailSettings>,
    pub(crate) sealer: Sealer,
    pub(crate) outbox: OutboxRepo,
    /// Counts the mails per address (one atomic counter, for all instances).
    store: AnyTokenStore,
    /// Wakes the worker of this instance when a mail is queued.
    pub(crate) wake: Arc<Notify>,
}

/// The SHA-256 (hex) under which a token is stored and looked up.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// "24 hours", "30 minutes", "45 seconds": a lifetime as a mail says it.
pub(crate) fn spoken(d: Duration) -> String {
    let s = d.as_secs();
    let whole = |unit: u64| s >= unit && s / unit * unit == s;
    let (n, unit) = if whole(3600) {
        (s / 3600, "hour")
    } else if whole(60) {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl Mailer {
    pub(crate) fn new(
        settings: MailSettings,
        sealer: Sealer,
        outbox: OutboxRepo,
        store: AnyTokenStore,
    ) -> Self {
        Self {
            settings: Arc::new(settings),
            sealer,
            outbox,
            store,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// A token of `kind` for mailing to `email`, and the row to store (its hash only).
    fn token(&self, kind: MailKind, email: &str) -> (String, NewMailedToken) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let value = URL_SAFE_NO_PAD.encode(bytes);
        let ttl = self.ttl(kind);
        let stored = match kind {
            MailKind::ChangeEmail => repos::mailed_tokens::kind::CHANGE_EMAIL,
            MailKind::PasswordReset => repos::mailed_tokens::kind::PASSWORD_RESET,
            _ => repos::mailed_tokens::kind::VERIFY_EMAIL,
        };
        let row = NewMailedToken {
            hash: token_hash(&value),
            kind: stored,
            email: email.to_owned(),
            expires_at: repos::now_utc()
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        };
        (value, row)
    }

    fn ttl(&self, kind: MailKind) -> Duration {
        match kind {
            MailKind::PasswordReset => self.settings.reset_ttl,
            _ => self.settings.verification_ttl,
        }
    }

    /// A mail of `kind` to `to` with a new token: the token's row and the mail's row,
    /// unless the address has had its hour's mails (`None`).
    pub(crate) async fn token_mail(
        &self,
        kind: MailKind,
        to: &str,
        username: &str,
    ) -> Result<Option<(NewMailedToken, NewMail)>, ServiceError> {
        if !self.within_budget(kind, to).await? {
            return Ok(None);
        }
        let (value, token) = self.token(kind, to);
        let params = serde_json::json!({
            "username": username,
            "email": to,
            "valid_for": spoken(self.ttl(kind)),
        });
        let mail = NewMail {
            kind: kind.as_str().to_owned(),
            recipient: to.to_owned(),
            params: params.to_string(),
            sealed_token: Some(self.sealer.seal(&value)),
        };
        Ok(Some((token, mail)))
    }

    /// A notice of `kind` to `to`, with no token, unless the address has had its hour's
    /// mails (`None`).
    pub(crate) async fn notice(
        &self,
        kind: MailKind,
        to: &str,
        params: serde_json::Value,
    ) -> Result<Option<NewMail>, ServiceError> {
        if !self.within_budget(kind, to).await? {
            return Ok(None);
        }
        Ok(Some(NewMail {
            kind: kind.as_str().to_owned(),
            recipient: to.to_owned(),
            params: params.to_string(),
            sealed_token: None,
        }))
    }

    /// Counts a mail of `kind` to `to` against its mailbox's budget: `max_per_address`
    /// mails of every kind in an hour, whoever asks, whatever happens to the account
    /// meanwhile (the count lives in the token store, keyed by the address). One atomic
    /// increment, so concurrent requests cannot both pass the last place. Past the
    /// budget the mail is dropped and counted in `strata_mail_dropped_total`.
    async fn within_budget(&self, kind: MailKind, to: &str) -> Result<bool, ServiceError> {
        let key = format!("mail:addr:{}", mailbox(to));
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), Duration::from_secs(3600))
            .await?;
        let n = counts.first().map_or(0, |c| c.count);
        let within = n <= u64::try_from(self.settings.max_per_address).unwrap_or(u64::MAX);
        if !within {
            metrics::counter!("strata_mail_dropped_total", "kind" => kind.as_str()).increment(1);
            tracing::info!(
                kind = kind.as_str(),
                "mail not queued: the address had its hour's mails"
            );
        }
        Ok(within)
    }

    /// Counts the mails just stored and wakes the worker.
    pub(crate) fn queued<'a>(&self, mails: impl IntoIterator<Item = &'a NewMail>) {
        let mut any = false;
        for m in mails {
            let kind = MailKind::parse(&m.kind).map_or("other", MailKind::as_str);
            metrics::counter!("strata_mail_queued_total", "kind" => kind).increment(1);
            any = true;
        }
        if any {
            self.wake.notify_one();
        }
    }
}

/// The mailbox an address delivers to, as the budget counts it: however the address is
/// spelled, one mailbox is one budget. Lower case; in the local part no quotes, escapes,
/// comments or `+tag` (RFC 5322 and 5233: `"alice"@`, `a\lice@`, `alice(x)@` and
/// `alice+1@` all reach `alice@`); no invisible characters; the domain in its ASCII form
/// (`exämple.com` is `xn--exmple-cua.com`).
fn mailbox(address: &str) -> String {
    let visible: String = address
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'))
        .collect();
    let Some((local, domain)) = visible.rsplit_once('@') else {
        return visible;
    };
    let mut plain = String::with_capacity(local.len());
    let mut comment = 0usize;
    for c in local.chars() {
        match c {
            '(' => comment += 1,
            ')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '"' | '\\' => {}
            c => plain.push(c),
        }
    }
    let base = match plain.split_once('+') {
        Some((base, _)) if !base.is_empty() => base,
        _ => plain.as_str(),
    };
    let domain = domain.trim_start_matches('[').trim_end_matches(']');
    let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_owned());
    format!("{base}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_addresses_share_their_mailbox_budget() {
        assert_eq!(mailbox("Victim+1@Example.com"), "victim@example.com");
        assert_eq!(mailbox("victim+a+b@example.com"), "victim@example.com");
        assert_eq!(mailbox("victim@example.com"), "victim@example.com");
        assert_eq!(mailbox("+tag@example.com"), "+tag@example.com");
    }

    #[test]
    fn every_spelling_of_one_mailbox_shares_its_budget() {
        for spelling in [
            "\"alice\"@example.com",
            "\"a\\lice\"@example.com",
            "\"alice\"+1@example.com",
            "alice(comment)@example.com",
            "alice\u{200B}@example.com",
            "ALICE@EXAMPLE.COM",
        ] {
            assert_eq!(mailbox(spelling), "alice@example.com", "{spelling}");
        }
        assert_eq!(
            mailbox("x@exämple.com"),
            mailbox("x@xn--exmple-cua.com"),
            "a domain and its ASCII form"
        );
        assert_ne!(mailbox("alice@example.com"), mailbox("bob@example.com"));
    }

    #[test]
    fn lifetimes_are_spoken_in_their_largest_whole_unit() {
        assert_eq!(spoken(Duration::from_secs(24 * 3600)), "24 hours");
        assert_eq!(spoken(Duration::from_secs(30 * 60)), "30 minutes");
        assert_eq!(spoken(Duration::from_secs(3600)), "1 hour");
        assert_eq!(spoken(Duration::from_secs(90)), "90 seconds");
    }
}
