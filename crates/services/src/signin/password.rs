//! The password step of a sign-in: an unknown user and a wrong password give the same
//! answer in about the same time; failures are limited per account and address and per
//! address; a right password opens a session or, for an account with a second factor,
//! asks for it ([`SignIn`]).

use repos::{AnyTokenStore, SessionStore, UserRepo};

use super::{SecondStep, SignIn};
use crate::attempts::{address_block, Attempts, Counter, Verdict};
use crate::audit::{event, AuditKind};
use crate::client::ClientInfo;
use crate::domain::{Email, Id, Username};
use crate::password::Passwords;
use crate::proofs::Limits;
use crate::sessions::{banned, Opening, Sessions, SignInMethod};
use crate::{outcomes, ServiceError};

/// A login attempt: a username or an email, and a password. `Debug` hides the password.
#[derive(Clone, Default)]
pub struct LoginInput {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

impl std::fmt::Debug for LoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInput")
            .field("username", &self.username)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// What the password step needs to know beyond its parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PasswordSignInRules {
    pub limits: Limits,
    /// A right password for an unverified address is refused (`EmailUnverified`).
    pub require_verification: bool,
    /// A right password proven against an out-of-date hash is hashed again.
    pub rehash: bool,
}

/// Checks a password and opens a session, or asks for the second factor.
#[derive(Clone)]
pub struct PasswordSignIn {
    users: UserRepo,
    store: AnyTokenStore,
    passwords: Passwords,
    attempts: Attempts,
    sessions: Sessions,
    second_step: SecondStep,
    rules: PasswordSignInRules,
}

impl PasswordSignIn {
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        passwords: Passwords,
        attempts: Attempts,
        sessions: Sessions,
        second_step: SecondStep,
        rules: PasswordSignInRules,
    ) -> Self {
        Self {
            users,
            store,
            passwords,
            attempts,
            sessions,
            second_step,
            rules,
        }
    }

    /// The login counters: per account and address (only for a name that could exist),
    /// then per address.
    fn counters(&self, account: Option<&str>, client: &ClientInfo) -> Vec<Counter> {
        let l = self.rules.limits;
        let ip = address_block(client.ip.as_deref());
        let per_account = account
            .map(|account| Counter::cleared(format!("login:acct:{account}|{ip}"), l.per_account));
        let per_ip = Counter::kept(format!("login:ip:{ip}"), l.per_ip);
        per_account.into_iter().chain([per_ip]).collect()
    }

    /// Checks the password and opens a session, or for an account with the second factor
    /// on, answers with a challenge (`SignIn::SecondFactor`), which leaves the failure
    /// counters as they were: only the second factor clears them. An unknown user and a
    /// wrong password give the same `InvalidCredentials` in about the same time; too many
    /// failures give `RateLimited`.
    pub async fn login(
        &self,
        input: LoginInput,
        client: ClientInfo,
    ) -> Result<SignIn, ServiceError> {
        let (by_email, identifier) = match (input.username.as_deref(), input.email.as_deref()) {
            (_, Some(email)) if !email.trim().is_empty() => (true, email.trim().to_lowercase()),
            (Some(name), _) if !name.trim().is_empty() => {
                (name.contains('@'), name.trim().to_lowercase())
            }
            _ => {
                return Err(ServiceError::invalid(
                    "username",
                    "give a username or an email",
                ))
            }
        };
        if input.password.is_empty() {
            return Err(ServiceError::invalid("password", "is required"));
        }
        // A name that could never have been registered (a NUL byte, 300 characters) is an
        // unknown user without asking the database.
        let (plausible, creds) = if by_email {
            match Email::parse(&identifier) {
                Ok(email) => (true, self.users.credentials_by_email(&email).await?),
                Err(_) => (false, None),
            }
        } else {
            match Username::parse(&identifier) {
                Ok(name) => (true, self.users.credentials_by_username(&name).await?),
                Err(_) => (false, None),
            }
        };
        // The per-account counter is keyed by the account itself, so trying its username and
        // its email does not double the guesses; unknown names count under the name given,
        // and a name that could never have been registered only against the address.
        let account = match &creds {
            Some(c) => Some(c.user.id.as_str()),
            None if plausible => Some(identifier.as_str()),
            None => None,
        };
        let counters = self.counters(account, &client);
        // An unknown user is checked against a dummy hash, in about the same time. The
        // session is opened inside the check, so the counters are settled only once it is
        // known whether the password is still the account's: a login a concurrent password
        // change superseded stays counted, as a wrong password does.
        let this = self.clone();
        let password = input.password;
        let check = async move {
            let Some(creds) = creds else {
                // The same token-store read as a known user's, then the dummy hash.
                this.store.generation(&Id::random().to_string()).await?;
                this.passwords.verify_dummy(&password).await?;
                return Ok(Verdict::Wrong);
            };
            // Read before the password is checked: a logout-all from now on moves it on,
            // and this login's session is then not stored.
            let generation = this.store.generation(&creds.user.id).await?;
            if !this
                .passwords
                .verify(&password, creds.password_hash.as_ref())
                .await?
            {
                // A known account's failures are bounded by its limits; unknown names are
                // not written (a flood of them must not grow the table). Written off the
                // answer's path, so a wrong password for a known account answers in the
                // time an unknown name does.
                let failed = event(
                    AuditKind::SignInFailed,
                    None,
                    Some(&creds.user.id),
                    &client,
                    serde_json::json!({}),
                );
                this.sessions.audit().record_later(failed);
                return Ok(Verdict::Wrong);
            }
            this.upgrade_in_background(&creds, &password);
            // Only the right password learns of a ban: a wrong one stays 401.
            if let Some(refusal) = banned(&creds.user) {
                return Err(refusal);
            }
            if this.rules.require_verification && !creds.user.email_verified {
                return Err(ServiceError::EmailUnverified);
            }
            if creds.user.mfa_enabled {
                let challenge = this.second_step.ask(&creds, generation).await?;
                return Ok(Verdict::Partly(SignIn::SecondFactor(challenge)));
            }
            Ok(
                match this
                    .sessions
                    .open(creds, client, SignInMethod::Password, generation)
                    .await?
                {
                    Opening::Opened(pair) => Verdict::Right(SignIn::Complete(pair)),
                    Opening::Superseded => Verdict::Wrong,
                },
            )
        };
        match self.attempts.check(counters, check).await {
            Ok(Verdict::Right(signed_in) | Verdict::Partly(signed_in)) => Ok(signed_in),
            Ok(Verdict::Wrong) => {
                outcomes::login("failed");
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    outcomes::login("limited");
                }
                Err(e)
            }
        }
    }

    /// Hashes a password just proven against an out-of-date hash (another algorithm, or
    /// older parameters) by the current setting, and stores it if the account still holds
    /// the old hash. Off the request's path: the login goes on meanwhile, and a rehash that
    /// fails or finds no free slot is tried again at the next login.
    fn upgrade_in_background(&self, creds: &repos::Credentials, password: &str) {
        let Some(old) = creds.password_hash.clone() else {
            return;
        };
        if !self.rules.rehash || !self.passwords.is_out_of_date(&old) {
            return;
        }
        let (passwords, users) = (self.passwords.clone(), self.users.clone());
        let (id, password) = (creds.user.id.clone(), password.to_owned());
        tokio::spawn(async move {
            let stored = match passwords.rehash(&password).await {
                Ok(new) => users
                    .rehash(&id, &old, &new)
                    .await
                    .map_err(ServiceError::from),
                Err(e) => Err(e),
            };
            match stored {
                Ok(true) => tracing::info!(user_id = %id, "password hash upgraded"),
                // A password change, or another login's rehash, came first.
                Ok(false) => {}
                // Every hash slot busy: the next login tries again.
                Err(ServiceError::Overloaded) => {}
                Err(e) => tracing::warn!(user_id = %id, error = %e, "password hash not upgraded"),
            }
        });
    }
}
