//! Getting back in by email: verifying an address, and resetting a forgotten password.
//! Tokens are single-use and stored by hash (`repos::one_time`); a reset request answers
//! the same, in the same time, whether or not the address has an account.

use std::sync::Arc;

use repos::{OneTimeRepo, RepoError, TokenStore, UserRepo};
use tokio::sync::Semaphore;

use crate::attempts::address_block;
use crate::auth::{AuthService, ClientInfo, Principal};
use crate::domain::{Email, Password};
use crate::mail::{letters::token_hash, Letters, MailKind};
use crate::password::Passwords;
use crate::ServiceError;

/// Verification and password reset.
#[derive(Clone)]
pub struct RecoveryService {
    users: UserRepo,
    tokens: OneTimeRepo,
    letters: Letters,
    passwords: Passwords,
    auth: AuthService,
    /// Bounds the resets written after their answer.
    background: Arc<Semaphore>,
}

/// Reset requests whose token and mail may be waiting to be written after their answer.
const BACKGROUND_RESETS: usize = 256;

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
        tokens: OneTimeRepo,
        letters: Letters,
        passwords: Passwords,
        auth: AuthService,
    ) -> Self {
        Self {
            users,
            tokens,
            letters,
            passwords,
            auth,
            background: Arc::new(Semaphore::new(BACKGROUND_RESETS)),
        }
    }

    /// Uses a verification or change-of-address token. `InvalidOrExpiredToken` for a bad,
    /// used or expired one; `EmailTaken` when the new address was registered meanwhile
    /// (the token then still works once that is resolved).
    pub async fn verify_email(&self, token: &str) -> Result<(), ServiceError> {
        let v = self
            .tokens
            .verify_email(&hash_of(token)?)
            .await
            .map_err(bad_token)?;
        match v.previous {
            Some(_) => tracing::info!(user_id = %v.user_id, "email address changed"),
            None => tracing::info!(user_id = %v.user_id, "email address verified"),
        }
        Ok(())
    }

    /// Mails a new verification link to the caller's address, unless it is verified
    /// already or has had its hour's mails.
    pub async fn resend_verification(&self, who: &Principal) -> Result<(), ServiceError> {
        let user = self
            .users
            .find_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        if user.email_verified || !self.letters.under_cap(&user.email).await? {
            return Ok(());
        }
        let (token, mail) =
            self.letters
                .with_token(MailKind::VerifyEmail, &user.email, &user.username);
        self.tokens.issue(&user.id, token, vec![mail]).await?;
        self.letters.queued(&[MailKind::VerifyEmail]);
        Ok(())
    }

    /// Asks for a reset link. The answer is the same whether or not the address has an
    /// account, and past a limit: only a well-formed address is checked (422 otherwise).
    /// The token and its mail are written after the answer, so a known address costs the
    /// request no more than an unknown one.
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let email = Email::parse(email).map_err(|e| ServiceError::Validation(vec![e]))?;
        let s = self.letters.settings();
        let counters = [
            format!("reset:addr:{}", email.as_str()),
            format!("reset:ip:{}", address_block(client.ip.as_deref())),
        ];
        let counts = self
            .auth
            .store()
            .rate_hit(&counters, s.request_window)
            .await?;
        let limits = [s.reset_max_per_address, s.reset_max_per_ip];
        if counts.iter().zip(limits).any(|(c, max)| c.count > max) {
            metrics::counter!("strata_auth_password_resets_total", "outcome" => "limited")
                .increment(1);
            return Ok(());
        }
        let Some(user) = self.users.find_by_email(email.as_str()).await? else {
            metrics::counter!("strata_auth_password_resets_total", "outcome" => "unknown")
                .increment(1);
            return Ok(());
        };
        metrics::counter!("strata_auth_password_resets_total", "outcome" => "requested")
            .increment(1);
        let this = self.clone();
        let queue = async move {
            let queued = async {
                if !this.letters.under_cap(&user.email).await? {
                    return Ok::<_, ServiceError>(false);
                }
                let (token, mail) =
                    this.letters
                        .with_token(MailKind::PasswordReset, &user.email, &user.username);
                this.tokens.issue(&user.id, token, vec![mail]).await?;
                Ok(true)
            };
            match queued.await {
                Ok(true) => this.letters.queued(&[MailKind::PasswordReset]),
                Ok(false) => {
                    tracing::info!(user_id = %user.id, "password reset not mailed: the address had its hour's mails")
                }
                Err(e) => {
                    tracing::warn!(user_id = %user.id, error = %e, "password reset not queued")
                }
            }
        };
        // After the answer, on a task of its own; past BACKGROUND_RESETS waiting, inline (a
        // flood then waits for its own writes instead of piling up tasks in memory).
        match self.background.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    queue.await;
                    drop(permit);
                });
            }
            Err(_) => queue.await,
        }
        Ok(())
    }

    /// Sets a new password with a reset token: every session of the account ends, every
    /// other reset token dies, and the address is told. A password the policy refuses is
    /// 422 and leaves the token usable.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), ServiceError> {
        let password = Password::parse(new_password, "new_password")
            .map_err(|e| ServiceError::Validation(vec![e]))?;
        let hash = hash_of(token)?;
        let kind = repos::one_time::kind::PASSWORD_RESET;
        let user_id = self
            .tokens
            .holder(&hash, kind)
            .await?
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        let user = self
            .users
            .find_by_id(&user_id)
            .await?
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        password
            .check_not_identity("new_password", &user.username, &user.email)
            .map_err(|e| ServiceError::Validation(vec![e]))?;
        let new_hash = self.passwords.hash(&password).await?;
        // Sessions end first, so a token-store outage stops the reset before anything
        // changed (the token stays usable); and again after, for a login in between.
        self.auth.revoke_all(&user.id, None).await?;
        let letters = self.letters.clone();
        let username = user.username.clone();
        let notice = move |email: &str| {
            letters.notice(
                MailKind::PasswordChanged,
                email,
                serde_json::json!({ "username": username, "email": email }),
            )
        };
        let user_id = self
            .tokens
            .reset_password(&hash, &new_hash, notice)
            .await
            .map_err(bad_token)?;
        self.letters.queued(&[MailKind::PasswordChanged]);
        if let Err(e) = self.auth.revoke_all(&user_id, None).await {
            tracing::warn!(user_id = %user_id, error = %e, "sessions opened during a password reset may survive it");
        }
        tracing::info!(user_id = %user_id, "password reset");
        Ok(())
    }
}
