//! Registration: a new account, its verification link mailed within the address's mail
//! budget. A taken name is found before any hashing, and registrations are limited per
//! client address. Whether registration tells that an address is taken depends on
//! `REQUIRE_EMAIL_VERIFICATION` (docs/security.md, "What registration reveals").

use std::time::Duration;

use repos::{AnyTokenStore, RateCounters, RepoError, Unique, UserRepo};

use crate::attempts::address_block;
use crate::client::ClientInfo;
use crate::domain::{Email, Parsed, Password, Username};
use crate::mail::{MailKind, Mailer};
use crate::password::Passwords;
use crate::views::{Timestamp, User};
use crate::{outcomes, ServiceError};

/// Registrations allowed per client address.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegistrationLimits {
    pub max_per_ip: u64,
    pub window: Duration,
}

/// Creates accounts.
#[derive(Clone)]
pub struct Registration {
    users: UserRepo,
    store: AnyTokenStore,
    passwords: Passwords,
    mailer: Mailer,
    limits: RegistrationLimits,
    reads: crate::reads::Reads,
}

impl Registration {
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        passwords: Passwords,
        mailer: Mailer,
        limits: RegistrationLimits,
        reads: crate::reads::Reads,
    ) -> Self {
        Self {
            users,
            store,
            passwords,
            mailer,
            limits,
            reads,
        }
    }

    /// Creates an account and mails its verification link (within the address's mail
    /// budget). A taken username is a 409. A taken address is a 409 too, unless
    /// verification is required: then the answer is the one a new account gets (same
    /// status, shape and work) and the address's owner is told that someone tried, so
    /// registration reveals no address. Limited per client address (`RateLimited`); a
    /// taken name is found before any hashing.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User, ServiceError> {
        let (username, email, password) = (
            Username::parse(username),
            Email::parse(email),
            Password::parse(password, "password"),
        )
            .all()?;
        password.check_not_identity("password", username.as_str(), email.as_str())?;
        self.count_registration(client).await?;
        // What the 409 would say anyway, found without hashing: a flood of taken names
        // costs one indexed read each, not a bcrypt.
        let users = &self.users;
        let hide_taken = self.mailer.settings().require_verification;
        let email_taken = match users.check_free(&username, &email).await {
            Ok(()) => false,
            Err(RepoError::Conflict(Unique::Email)) if hide_taken => true,
            Err(e) => return Err(e.into()),
        };
        let hash = self.passwords.hash(&password).await?;
        if email_taken {
            return self.answer_taken_address(&username, &email).await;
        }
        let verification = self
            .mailer
            .token_mail(MailKind::VerifyEmail, email.as_str(), username.as_str())
            .await?;
        let mail = verification.as_ref().map(|(_, m)| m.clone());
        let user = match users.create(&username, &email, &hash, verification).await {
            Ok(user) => user,
            // Registered by someone else since `check_free`.
            Err(RepoError::Conflict(Unique::Email)) if hide_taken => {
                return self.answer_taken_address(&username, &email).await
            }
            Err(e) => return Err(e.into()),
        };
        self.mailer.queued(&mail);
        self.reads.wrote(&user.id).await;
        outcomes::registration("created");
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user.into())
    }

    /// The answer to a registration of an address that has an account, when registration
    /// must not tell: the owner is mailed (within the budget) and the caller gets what a
    /// new account would look like, which exists nowhere. The work matches a real
    /// registration's: a read, a budget count, a write.
    async fn answer_taken_address(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<User, ServiceError> {
        let owner = self.users.find_by_email(email).await?;
        let notice = match &owner {
            Some(owner) => {
                let params = serde_json::json!({ "username": owner.username });
                let mailer = &self.mailer;
                mailer
                    .notice(MailKind::SignupAttempted, email.as_str(), params)
                    .await?
            }
            None => None,
        };
        if let Some(mail) = &notice {
            self.mailer.outbox.queue(vec![mail.clone()]).await?;
            self.mailer.queued(&notice);
        }
        outcomes::registration("address_taken");
        tracing::info!("registration of an address that has an account; its owner was told");
        let now = repos::now_utc();
        Ok(User {
            // Shaped as a real id (UUID v7, of now): a v4 would give the decoy away.
            id: uuid::Uuid::now_v7().to_string(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            email_verified: false,
            mfa_enabled: false,
            created_at: Timestamp::from_utc(now),
            updated_at: Timestamp::from_utc(now),
        })
    }

    /// Counts a registration against the client's address: `RateLimited` past the limit
    /// in its window. Every well-formed attempt counts, taken names too (they are how
    /// names are enumerated).
    async fn count_registration(&self, client: &ClientInfo) -> Result<(), ServiceError> {
        let l = self.limits;
        let key = format!("register:ip:{}", address_block(client.ip.as_deref()));
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), l.window)
            .await?;
        match counts.first() {
            Some(c) if c.count > l.max_per_ip => {
                outcomes::registration("limited");
                Err(ServiceError::RateLimited {
                    retry_after: c.resets_in.max(Duration::from_secs(1)),
                })
            }
            _ => Ok(()),
        }
    }
}
