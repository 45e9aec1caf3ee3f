//! The signed-in user's account: read it, change its password, delete it.

use repos::database::Freshness;
use repos::{AnyTokenStore, MailedTokenRepo, RateCounters, RepoError, UserRepo};

use crate::domain::{Email, Id, Password};
use crate::mail::{MailKind, Mailer};
use crate::password::Passwords;
use crate::proofs::Proofs;
use crate::reads::Reads;
use crate::sessions::{Principal, Sessions};
use crate::views::{PublicUser, User};
use crate::ServiceError;

/// Account operations.
#[derive(Clone)]
pub struct UserService {
    pub(crate) users: UserRepo,
    pub(crate) mailed_tokens: MailedTokenRepo,
    pub(crate) mailer: Mailer,
    pub(crate) store: AnyTokenStore,
    pub(crate) proofs: Proofs,
    pub(crate) sessions: Sessions,
    pub(crate) passwords: Passwords,
    pub(crate) reads: Reads,
}

impl UserService {
    /// The caller's account (a replica may serve it, once it has the caller's own last
    /// write). A session that outlived its user is refused like a revoked one.
    pub async fn me(&self, who: &Principal) -> Result<User, ServiceError> {
        let freshness = self.reads.for_reader(&who.user_id).await;
        match self.users.profile(&who.user_id, freshness).await? {
            Some(u) => Ok(u.into()),
            None => Err(ServiceError::TokenRevoked),
        }
    }

    /// Another user's public profile. When verification is required, an account whose
    /// address is unproven has none (it cannot sign in yet): a registration's answer,
    /// real or not, then names an id no profile tells apart.
    pub async fn profile(&self, id: &str) -> Result<PublicUser, ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        let hide_unproven = self.mailer.settings().require_verification;
        let found = self
            .users
            .profile(&id.to_string(), Freshness::AnyReplica)
            .await?;
        match found {
            Some(u) if u.email_verified || !hide_unproven => Ok(u.into()),
            _ => Err(ServiceError::NotFound),
        }
    }

    /// Checks the caller's password; a wrong one is `InvalidCredentials`, and too many wrong
    /// ones are `RateLimited` (see `Proofs::password`). Returns the account with
    /// the hash that was verified, for the write that follows to compare against.
    async fn check_password(
        &self,
        who: &Principal,
        password: &str,
    ) -> Result<repos::Credentials, ServiceError> {
        let creds = self
            .users
            .credentials_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        self.proofs
            .password(&creds.user.id, password, creds.password_hash.as_ref())
            .await?;
        Ok(creds)
    }

    /// What a write conditional on the verified password's version missing means: the
    /// account was deleted meanwhile (`TokenRevoked`), or its password was changed by a
    /// request that finished first (`InvalidCredentials`: the password given is no longer
    /// the account's).
    fn changed_meanwhile(e: RepoError) -> ServiceError {
        match e {
            RepoError::NotFound => ServiceError::TokenRevoked,
            RepoError::Stale => ServiceError::InvalidCredentials,
            e => e.into(),
        }
    }

    /// Replaces the password after checking the current one, then ends every other session.
    /// The new hash is stored only if the one verified is still the account's, so two
    /// changes racing each other cannot both win.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        let new = Password::parse(new, "new_password")?;
        let creds = self.check_password(who, current).await?;
        let user = &creds.user;
        new.check_not_identity("new_password", &user.username, &user.email)?;
        let hash = self.passwords.hash(&new).await?;
        let params = serde_json::json!({ "username": user.username, "email": user.email });
        let notice = self
            .mailer
            .notice(MailKind::PasswordChanged, &user.email, params)
            .await?;
        if let Err(e) = self
            .users
            .update_password_hash(&user.id, creds.password_version, &hash, notice.clone())
            .await
        {
            return Err(Self::changed_meanwhile(e));
        }
        self.mailer.queued(&notice);
        self.reads.wrote(&user.id).await;
        let n = self
            .sessions
            .revoke_all(&user.id, Some(&who.session_id))
            .await?;
        tracing::info!(user_id = %user.id, other_sessions_revoked = n, "password changed");
        Ok(())
    }

    /// Asks to move the account to `new_email` after checking the password, and for an
    /// account with a second factor a code of it too (whoever moves the address controls
    /// the resets that follow): a link goes to the new address (the change happens when it
    /// is used, through `verify_email`) and the old address is told. Whether the new
    /// address is taken is found only then, so this answer reveals nothing about it.
    pub async fn change_email(
        &self,
        who: &Principal,
        new_email: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<(), ServiceError> {
        let new =
            Email::parse(new_email).map_err(|e| crate::FieldError::new("new_email", e.message))?;
        let code = code.map(crate::mfa::checked_code).transpose()?;
        let creds = self.check_password(who, password).await?;
        let user = &creds.user;
        if user.mfa_enabled {
            let code = code.ok_or_else(|| {
                ServiceError::invalid("code", "is required: the account has a second factor")
            })?;
            self.proofs.code(&creds, code).await?;
        }
        if new.as_str() == user.email {
            return Err(ServiceError::invalid(
                "new_email",
                "is already the account's address",
            ));
        }
        // Per account too: one account must not mail a list of strangers.
        let s = self.mailer.settings();
        let key = format!("email-change:{}", user.id);
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), s.request_window)
            .await?;
        if let Some(c) = counts.first().filter(|c| c.count > s.reset_max_per_address) {
            return Err(ServiceError::RateLimited {
                retry_after: c.resets_in.max(std::time::Duration::from_secs(1)),
            });
        }
        let Some((token, mail)) = self
            .mailer
            .token_mail(MailKind::ChangeEmail, new.as_str(), &user.username)
            .await?
        else {
            return Ok(());
        };
        let params = serde_json::json!({ "username": user.username, "email": user.email, "new_email": new.as_str() });
        let notice = self
            .mailer
            .notice(MailKind::EmailChangeRequested, &user.email, params)
            .await?;
        let mails: Vec<_> = std::iter::once(mail).chain(notice).collect();
        self.mailed_tokens
            .issue(&user.id, token, mails.clone())
            .await?;
        self.mailer.queued(&mails);
        tracing::info!(user_id = %user.id, "email change requested");
        Ok(())
    }

    /// Deletes the account after checking the password: sessions first (so a token-store
    /// outage leaves the account intact), then the user and, by cascade, their tasks, if
    /// the hash verified is still the account's; then the sessions once more: a login that
    /// verified the password before the deletion may have stored its session after the
    /// first sweep (a login that looks after the deletion withdraws its own; see
    /// `PasswordSignIn::login`).
    pub async fn delete_account(
        &self,
        who: &Principal,
        password: &str,
    ) -> Result<(), ServiceError> {
        let creds = self.check_password(who, password).await?;
        let user = &creds.user;
        // Before the sessions end: a refused deletion must leave the caller signed in.
        if user.is_admin() && self.users.is_last_admin(&user.id).await? {
            return Err(ServiceError::LastAdmin);
        }
        let n = self.sessions.revoke_all(&user.id, None).await?;
        if let Err(e) = self.users.delete(&user.id, creds.password_version).await {
            return Err(Self::changed_meanwhile(e));
        }
        // The account is gone whatever happens now, so a failure here is logged, not
        // answered: only a session that raced the deletion could be left, for a user that
        // no longer exists.
        let late = match self.sessions.revoke_all(&user.id, None).await {
            Ok(late) => late,
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "second session sweep after an account deletion failed");
                0
            }
        };
        crate::outcomes::revoked("account_deleted", n + late);
        tracing::info!(user_id = %user.id, "account deleted");
        Ok(())
    }
}
