//! Getting back in by email: verifying an address, and resetting a forgotten password.
//! Tokens are single-use and stored by hash (`repos::one_time`); a request for a link
//! (a reset, a new verification link) answers the same, in the same time, whether or not
//! the address has an account.

use std::sync::Arc;

use repos::{AnyTokenStore, MailedTokenRepo, PasswordReset, RateCounters, RepoError, UserRepo};
use tokio::sync::Semaphore;

use crate::attempts::address_block;
use crate::client::ClientInfo;
use crate::domain::{Email, Password};
use crate::mail::{mailer::token_hash, MailKind, Mailer};
use crate::password::Passwords;
use crate::sessions::Sessions;
use crate::{outcomes, ServiceError};

/// Verification and password reset.
#[derive(Clone)]
pub struct RecoveryService {
    users: UserRepo,
    mailed_tokens: MailedTokenRepo,
    mailer: Mailer,
    passwords: Passwords,
    store: AnyTokenStore,
    sessions: Sessions,
    reads: crate::reads::Reads,
    /// Bounds the requests written after their answer.
    background: Arc<Semaphore>,
}

/// Requests (resets, verification links) whose token and mail may be waiting to be
/// written after their answer.
const BACKGROUND_WORK: usize = 256;

/// The longest token accepted: ours are 43 characters; anything much longer is not one.
const MAX_TOKEN_LEN: usize = 128;

fn hash_of(token: &str) -> Result<String, ServiceError> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(ServiceError::InvalidOrExpiredToken);
    }
    Ok(token_hash(token))
}

fn bad_token(e: RepoError) -> ServiceError {
    match e {
        RepoError::NotFound => ServiceError::InvalidOrExpiredToken,
        e => e.into(),
    }
}

impl RecoveryService {
    pub(crate) fn new(
        users: UserRepo,
        mailed_tokens: MailedTokenRepo,
        mailer: Mailer,
        passwords: Passwords,
        store: AnyTokenStore,
        sessions: Sessions,
        reads: crate::reads::Reads,
    ) -> Self {
        Self {
            users,
            mailed_tokens,
            mailer,
            passwords,
            store,
            sessions,
            reads,
            background: Arc::new(Semaphore::new(BACKGROUND_WORK)),
        }
    }

    /// Uses a verification or change-of-address token. `InvalidOrExpiredToken` for a bad,
    /// used or expired one; `EmailTaken` when the new address was registered meanwhile
    /// (the token then still works once that is resolved).
    pub async fn verify_email(&self, token: &str) -> Result<(), ServiceError> {
        let v = self
            .mailed_tokens
            .verify_email(&hash_of(token)?)
            .await
            .map_err(bad_token)?;
        self.reads.wrote(&v.user_id).await;
        match v.previous {
            Some(_) => tracing::info!(user_id = %v.user_id, "email address changed"),
            None => tracing::info!(user_id = %v.user_id, "email address verified"),
        }
        Ok(())
    }

    /// Mails a new verification link to `email`, if it has an account that is not
    /// verified yet. No session is needed: it is the way out for an owner whose link
    /// lapsed and who cannot sign in (`email_unverified`). The answer is the same for
    /// every well-formed address, known, verified or not, and past a limit; the work is
    /// done after the answer, as for a reset.
    pub async fn resend_verification(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let email = Email::parse(email)?;
        if self.over_request_limit("verify", &email, client).await? {
            return Ok(());
        }
        let Some(user) = self.users.find_by_email(&email).await? else {
            return Ok(());
        };
        let this = self.clone();
        self.after_answer(async move {
            if let Err(e) = this.mail_verification(&user).await {
                tracing::warn!(user_id = %user.id, error = %e, "verification link not queued");
            }
        })
        .await;
        Ok(())
    }

    /// Stores a verification token for the account's address and queues its mail, unless
    /// the address is verified or has had its hour's mails.
    async fn mail_verification(&self, user: &repos::UserRecord) -> Result<(), ServiceError> {
        if user.email_verified {
            return Ok(());
        }
        let Some((token, mail)) = self
            .mailer
            .token_mail(MailKind::VerifyEmail, &user.email, &user.username)
            .await?
        else {
            return Ok(());
        };
        self.mailed_tokens
            .issue(&user.id, token, vec![mail.clone()])
            .await?;
        self.mailer.queued([&mail]);
        Ok(())
    }

    /// Whether a request of `what` ("reset", "verify") for `email` from `client` is past
    /// its limits (per address and per client address, in `request_window`): then it is
    /// answered as usual and does nothing.
    async fn over_request_limit(
        &self,
        what: &str,
        email: &Email,
        client: &ClientInfo,
    ) -> Result<bool, ServiceError> {
        let s = self.mailer.settings();
        let counters = [
            format!("{what}:addr:{}", email.as_str()),
            format!("{what}:ip:{}", address_block(client.ip.as_deref())),
        ];
        let counts = self.store.rate_hit(&counters, s.request_window).await?;
        let limits = [s.reset_max_per_address, s.reset_max_per_ip];
        Ok(counts.iter().zip(limits).any(|(c, max)| c.count > max))
    }

    /// Runs `work` after the answer, on a task of its own, so that an address with an
    /// account costs the request no more than one without; past `BACKGROUND_WORK` waiting,
    /// inline (a flood then waits for its own writes instead of piling up tasks).
    async fn after_answer(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        match self.background.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    work.await;
                    drop(permit);
                });
            }
            Err(_) => work.await,
        }
    }

    /// Asks for a reset link. The answer is the same whether or not the address has an
    /// account, and past a limit: only a well-formed address is checked (422 otherwise).
    /// The token and its mail are written after the answer.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let email = Email::parse(email)?;
        if self.over_request_limit("reset", &email, client).await? {
            outcomes::password_reset("limited");
            return Ok(());
        }
        let Some(user) = self.users.find_by_email(&email).await? else {
            outcomes::password_reset("unknown");
            return Ok(());
        };
        outcomes::password_reset("requested");
        let this = self.clone();
        self.after_answer(async move {
            let queued = async {
                let Some((token, mail)) = this
                    .mailer
                    .token_mail(MailKind::PasswordReset, &user.email, &user.username)
                    .await?
                else {
                    return Ok::<_, ServiceError>(());
                };
                this.mailed_tokens
                    .issue(&user.id, token, vec![mail.clone()])
                    .await?;
                this.mailer.queued([&mail]);
                Ok(())
            };
            if let Err(e) = queued.await {
                tracing::warn!(user_id = %user.id, error = %e, "password reset not queued");
            }
        })
        .await;
        Ok(())
    }

    /// Sets a new password with a reset token: every session of the account ends, every
    /// other reset token dies, and the address is told. The link proves the address: an
    /// unproven one becomes verified, and a second factor enrolled before that proof is
    /// removed (the notice says so). A password the policy refuses is 422 and leaves the
    /// token usable.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), ServiceError> {
        let password = Password::parse(new_password, "new_password")?;
        let hash = hash_of(token)?;
        let kind = repos::mailed_tokens::kind::PASSWORD_RESET;
        let user_id = self
            .mailed_tokens
            .holder(&hash, kind)
            .await?
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        let user = self
            .users
            .find_by_id(&user_id)
            .await?
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        password.check_not_identity("new_password", &user.username, &user.email)?;
        let new_hash = self.passwords.hash(&password).await?;
        // Sessions end first, so a token-store outage stops the reset before anything
        // changed (the token stays usable); and again after, for a login in between.
        self.sessions.revoke_all(&user.id, None).await?;
        let params = serde_json::json!({ "username": user.username, "email": user.email });
        // The notice's place in the budget is taken before its kind is known.
        let plain = self
            .mailer
            .notice(MailKind::PasswordChanged, &user.email, params.clone())
            .await?;
        let removed = plain.clone().map(|mut mail| {
            mail.kind = MailKind::ResetRemovedFactor.as_str().to_owned();
            mail
        });
        let (changed, removed_too) = (plain.clone(), removed.clone());
        let notice = move |_: &str, done: &PasswordReset| {
            if done.factors_removed {
                removed_too.clone()
            } else {
                changed.clone()
            }
        };
        let done = self
            .mailed_tokens
            .reset_password(&hash, &new_hash, notice)
            .await
            .map_err(bad_token)?;
        // The reset proves the address and may remove the second factor: users/me shows both.
        self.reads.wrote(&done.user_id).await;
        self.mailer.queued(if done.factors_removed {
            &removed
        } else {
            &plain
        });
        if let Err(e) = self.sessions.revoke_all(&done.user_id, None).await {
            tracing::warn!(user_id = %done.user_id, error = %e, "sessions opened during a password reset may survive it");
        }
        if done.factors_removed {
            outcomes::factor_removed("reset_proved_address");
        }
        tracing::info!(
            user_id = %done.user_id,
            proved_address = done.proved_address,
            factors_removed = done.factors_removed,
            "password reset"
        );
        Ok(())
    }
}
