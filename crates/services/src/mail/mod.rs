//! Mail: what a mail is (`MailKind`), the settings, the mailed tokens and the rows that
//! carry them (`Mailer`), the templates, the transport (SMTP or `.eml` files) and the
//! worker that delivers the outbox.

mod courier;
pub(crate) mod mailer;
mod templates;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use crate::seal::Sealer;
pub use courier::Courier;
pub use mailer::Mailer;
pub use templates::{TemplateError, Templates};
pub use transport::{check_mailbox, check_smtp_url, Transport};

/// The mails strata sends. The name is the outbox's `kind` and the templates' file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Carries a token proving the address (after registration, or on request).
    VerifyEmail,
    /// Carries a token proving a new address, sent to that address.
    ChangeEmail,
    /// Tells the old address that a change to another was asked for.
    EmailChangeRequested,
    /// Carries a token to set a new password.
    PasswordReset,
    /// Tells the account's address that its password changed.
    PasswordChanged,
    /// Tells the account's address that sign-in now needs a second factor.
    MfaEnabled,
    /// Tells the account's address that the second factor was turned off.
    MfaDisabled,
    /// Tells an account's address that someone tried to register it again.
    SignupAttempted,
    /// Tells the account's address that a reset proved it for the first time, and so
    /// removed a second factor enrolled before that proof.
    ResetRemovedFactor,
    /// Tells the account's address that a passkey was added.
    PasskeyAdded,
    /// Tells the account's address that a passkey was removed.
    PasskeyRemoved,
    /// Tells the account's address that an OpenID provider's account was linked.
    IdentityLinked,
    /// Tells the account's address that an OpenID provider's account was unlinked.
    IdentityUnlinked,
    /// Tells an address that a sign-in with a provider made an account for it.
    AccountMadeByProvider,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 14] = [
        MailKind::VerifyEmail,
        MailKind::ChangeEmail,
        MailKind::EmailChangeRequested,
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::MfaEnabled,
        MailKind::MfaDisabled,
        MailKind::SignupAttempted,
        MailKind::ResetRemovedFactor,
        MailKind::PasskeyAdded,
        MailKind::PasskeyRemoved,
        MailKind::IdentityLinked,
        MailKind::IdentityUnlinked,
        MailKind::AccountMadeByProvider,
    ];

    /// The stored name, also the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::ChangeEmail => "change_email",
            MailKind::EmailChangeRequested => "email_change_requested",
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::MfaEnabled => "mfa_enabled",
            MailKind::MfaDisabled => "mfa_disabled",
            MailKind::SignupAttempted => "signup_attempted",
            MailKind::ResetRemovedFactor => "reset_removed_factor",
            MailKind::PasskeyAdded => "passkey_added",
            MailKind::PasskeyRemoved => "passkey_removed",
            MailKind::IdentityLinked => "identity_linked",
            MailKind::IdentityUnlinked => "identity_unlinked",
            MailKind::AccountMadeByProvider => "account_made_by_provider",
        }
    }

    /// The kind stored as `name`.
    pub fn parse(name: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The page under `PUBLIC_URL` its link opens, for kinds that carry a token.
    pub(crate) fn page(self) -> Option<&'static str> {
        match self {
            MailKind::VerifyEmail | MailKind::ChangeEmail => Some("/verify-email"),
            MailKind::PasswordReset => Some("/reset-password"),
            _ => None,
        }
    }
}

/// Where mails go. `Debug` hides the SMTP password.
#[derive(Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An SMTP server, by lettre's URL (`smtp://user:pass@host:587?tls=required`).
    Smtp { url: String },
    /// `.eml` files in a directory (the default without `SMTP_URL`).
    Files { dir: PathBuf },
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Delivery::Smtp { url } => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(a), Some(b)) if b > a => format!("{}***{}", &url[..a + 3], &url[b..]),
                    _ => url.clone(),
                };
                f.debug_struct("Smtp").field("url", &shown).finish()
            }
            Delivery::Files { dir } => f.debug_struct("Files").field("dir", dir).finish(),
        }
    }
}

/// The mail path's knobs, read from the environment by the api crate.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub delivery: Delivery,
    /// The `From` header, `strata <no-reply@localhost>` by default.
    pub from: String,
    /// The base of every link in a mail, without a trailing `/`.
    pub public_url: String,
    /// The product's name in every mail.
    pub product: String,
    /// Replacement templates (`<kind>.subject`, `<kind>.txt`, `<kind>.html`).
    pub template_dir: Option<PathBuf>,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    /// A login with the right password for an unverified address is refused.
    pub require_verification: bool,
    /// Mails with a token per address in one hour.
    pub max_per_address: i64,
    /// Reset requests per address, and per client address, in `request_window`.
    pub reset_max_per_address: u64,
    pub reset_max_per_ip: u64,
    pub request_window: Duration,
    /// The first retry's delay, doubled each time up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Attempts before a mail is marked failed.
    pub max_attempts: i32,
    /// How long sent and failed rows are kept.
    pub retention: Duration,
    /// How often the worker looks for due rows when nothing wakes it.
    pub poll_interval: Duration,
    /// How long a claim holds a row (a worker that dies frees it after this); at least a
    /// batch of sends at `send_timeout`, or a slow batch's rows are claimed twice.
    pub lease: Duration,
    /// One SMTP conversation's limit.
    pub send_timeout: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            delivery: Delivery::Files {
                dir: PathBuf::from("data/mail"),
            },
            from: "strata <no-reply@localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            product: "strata".into(),
            template_dir: None,
            verification_ttl: Duration::from_secs(24 * 3600),
            reset_ttl: Duration::from_secs(30 * 60),
            require_verification: false,
            max_per_address: 5,
            reset_max_per_address: 5,
            reset_max_per_ip: 20,
            request_window: Duration::from_secs(3600),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 32,
            retention: Duration::from_secs(7 * 24 * 3600),
            poll_interval: Duration::from_secs(2),
            // At least a batch's worth of sends at their timeout (20 x 30 s).
            lease: Duration::from_secs(15 * 60),
            send_timeout: Duration::from_secs(30),
        }
    }
}

impl MailSettings {
    /// The delay before retry number `attempt` (1 for the first), or `None` once
    /// `max_attempts` are spent.
    pub fn retry_in(&self, attempt: i32) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(u32::try_from(attempt - 1).unwrap_or(0).min(31));
        Some(self.retry_base.saturating_mul(factor).min(self.retry_max))
    }

    /// How long the retries of one mail last in all.
    pub fn retry_span(&self) -> Duration {
        (1..self.max_attempts)
            .filter_map(|a| self.retry_in(a))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retries_last_more_than_a_day_then_stop() {
        let s = MailSettings::default();
        assert!(
            s.retry_span() >= Duration::from_secs(24 * 3600),
            "{:?}",
            s.retry_span()
        );
        assert_eq!(s.retry_in(1), Some(Duration::from_secs(30)));
        assert_eq!(s.retry_in(2), Some(Duration::from_secs(60)));
        assert_eq!(s.retry_in(20), Some(Duration::from_secs(3600)));
        assert_eq!(s.retry_in(s.max_attempts), None);
    }

    #[test]
    fn every_kind_reads_back_from_its_name() {
        for k in MailKind::ALL {
            assert_eq!(MailKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MailKind::parse("other"), None);
    }
}
