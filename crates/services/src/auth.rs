//! Accounts and sign-in: register and login (password checks, their limits, opening a
//! session). What happens to a session afterwards is in `sessions`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use repos::{
    AnyTokenStore, NewSession, PairState, RateCounters, RepoError, SessionStore, UserRepo,
};

use crate::attempts::{address_block, Attempts, Counter};
use crate::domain::{Checks, Email, Id, Password, Username};
use crate::jwt::JwtKeys;
use crate::mail::{Letters, MailKind};
use crate::mfa::SecondFactor;
use crate::password::Passwords;
use crate::views::{TokenPair, User};
use crate::{AuthSettings, ServiceError};

/// Who is calling: the user and the session their access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub session_id: String,
}

/// Where a login comes from, kept with the session and used for rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

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

fn count(name: &'static str, label: &'static str, value: &'static str, n: u64) {
    metrics::counter!(name, label => value).increment(n);
}

pub(crate) fn login_outcome(outcome: &'static str) {
    count("strata_auth_logins_total", "outcome", outcome, 1);
}

fn password_check(outcome: &'static str) {
    count("strata_auth_password_checks_total", "outcome", outcome, 1);
}

/// Counts sessions ended, by why.
pub(crate) fn revoked(reason: &'static str, n: usize) {
    count("strata_auth_revocations_total", "reason", reason, n as u64);
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// What the account and session operations share.
pub(crate) struct Inner {
    pub(crate) users: UserRepo,
    pub(crate) store: AnyTokenStore,
    pub(crate) keys: JwtKeys,
    pub(crate) settings: AuthSettings,
    pub(crate) passwords: Passwords,
    pub(crate) letters: Letters,
    /// Failed logins, wrong current passwords and wrong codes, in `login_window`.
    pub(crate) attempts: Attempts,
    /// Redeems second-factor codes.
    pub(crate) factor: SecondFactor,
}

/// Registration, login and sessions.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) inner: Arc<Inner>,
}

impl AuthService {
    /// Builds the service.
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        keys: JwtKeys,
        settings: AuthSettings,
        passwords: Passwords,
        letters: Letters,
        factor: SecondFactor,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                letters,
                factor,
                attempts: Attempts::new(store.clone(), settings.login_window),
                users,
                store,
                keys,
                settings,
                passwords,
            }),
        }
    }

    /// The token store, for the counters of other services.
    pub(crate) fn store(&self) -> &AnyTokenStore {
        &self.inner.store
    }

    /// The second factor's checker, shared with enrolment.
    pub(crate) fn second_factor(&self) -> &SecondFactor {
        &self.inner.factor
    }

    /// The settings in force (TTLs are shown in responses).
    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
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
        let mut checks = Checks::default();
        let username = checks.take(Username::parse(username));
        let email = checks.take(Email::parse(email));
        let password = checks.take(Password::parse(password, "password"));
        if let (Some(u), Some(e), Some(p)) = (&username, &email, &password) {
            checks.take(p.check_not_identity("password", u.as_str(), e.as_str()));
        }
        checks.finish()?;
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(ServiceError::Internal(
                "validated input went missing".into(),
            ));
        };
        self.count_registration(client).await?;
        // What the 409 would say anyway, found without hashing: a flood of taken names
        // costs one indexed read each, not a bcrypt.
        let users = &self.inner.users;
        let hide_taken = self.inner.letters.settings().require_verification;
        let email_taken = match users.check_free(username.as_str(), email.as_str()).await {
            Ok(()) => false,
            Err(RepoError::Conflict { field: "email" }) if hide_taken => true,
            Err(e) => return Err(e.into()),
        };
        let hash = self.inner.passwords.hash(&password).await?;
        if email_taken {
            return self.answer_taken_address(&username, &email).await;
        }
        let verification = self
            .inner
            .letters
            .token_mail(MailKind::VerifyEmail, email.as_str(), username.as_str())
            .await?;
        let mail = verification.as_ref().map(|(_, m)| m.clone());
        let user = match users
            .create(username.as_str(), email.as_str(), &hash, verification)
            .await
        {
            Ok(user) => user,
            // Registered by someone else since `check_free`.
            Err(RepoError::Conflict { field: "email" }) if hide_taken => {
                return self.answer_taken_address(&username, &email).await
            }
            Err(e) => return Err(e.into()),
        };
        self.inner.letters.queued(&mail);
        count("strata_auth_registrations_total", "outcome", "created", 1);
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
        let owner = self.inner.users.find_by_email(email.as_str()).await?;
        let notice = match &owner {
            Some(owner) => {
                let params = serde_json::json!({ "username": owner.username });
                let letters = &self.inner.letters;
                letters
                    .notice(MailKind::SignupAttempted, email.as_str(), params)
                    .await?
            }
            None => None,
        };
        if let Some(mail) = &notice {
            self.inner.letters.outbox.queue(vec![mail.clone()]).await?;
            self.inner.letters.queued(&notice);
        }
        count(
            "strata_auth_registrations_total",
            "outcome",
            "address_taken",
            1,
        );
        tracing::info!("registration of an address that has an account; its owner was told");
        let now = repos::now_utc();
        Ok(User {
            // Shaped as a real id (UUID v7, of now): a v4 would give the decoy away.
            id: uuid::Uuid::now_v7().to_string(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            email_verified: false,
            mfa_enabled: false,
            created_at: Utc.from_utc_datetime(&now),
            updated_at: Utc.from_utc_datetime(&now),
        })
    }

    /// Counts a registration against the client's address: `RateLimited` past
    /// `register_max_per_ip` in one `register_window`. Every well-formed attempt counts,
    /// taken names too (they are how names are enumerated).
    async fn count_registration(&self, client: &ClientInfo) -> Result<(), ServiceError> {
        let s = &self.inner.settings;
        let key = format!("register:ip:{}", address_block(client.ip.as_deref()));
        let counts = self
            .inner
            .store
            .rate_hit(std::slice::from_ref(&key), s.register_window)
            .await?;
        match counts.first() {
            Some(c) if c.count > s.register_max_per_ip => {
                count("strata_auth_registrations_total", "outcome", "limited", 1);
                Err(ServiceError::RateLimited {
                    retry_after: c.resets_in.max(Duration::from_secs(1)),
                })
            }
            _ => Ok(()),
        }
    }

    /// The login counters: per account and address (only for a name that could exist),
    /// then per address.
    fn login_counters(&self, account: Option<&str>, client: &ClientInfo) -> Vec<Counter> {
        let s = &self.inner.settings;
        let ip = address_block(client.ip.as_deref());
        let per_account = account.map(|account| {
            Counter::cleared(
                format!("login:acct:{account}|{ip}"),
                s.login_max_per_account,
            )
        });
        let per_ip = Counter::kept(format!("login:ip:{ip}"), s.login_max_per_ip);
        per_account.into_iter().chain([per_ip]).collect()
    }

    /// Checks the password and opens a session. An unknown user and a wrong password give
    /// the same answer in about the same time; too many failures give `RateLimited`. For an
    /// account with the second factor on, the right password gives `MfaRequired` instead
    /// (its token goes to `login_second_factor`), which leaves the failure counters as
    /// they were: only the second factor clears them.
    pub async fn login(
        &self,
        input: LoginInput,
        client: ClientInfo,
    ) -> Result<TokenPair, ServiceError> {
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
        let plausible = if by_email {
            Email::parse(&identifier).is_ok()
        } else {
            Username::parse(&identifier).is_ok()
        };
        let creds = if !plausible {
            None
        } else if by_email {
            self.inner.users.credentials_by_email(&identifier).await?
        } else {
            self.inner
                .users
                .credentials_by_username(&identifier)
                .await?
        };
        // The per-account counter is keyed by the account itself, so trying its username and
        // its email does not double the guesses; unknown names count under the name given,
        // and a name that could never have been registered only against the address.
        let account = match &creds {
            Some(c) => Some(c.user.id.as_str()),
            None if plausible => Some(identifier.as_str()),
            None => None,
        };
        let counters = self.login_counters(account, &client);
        // An unknown user is checked against a dummy hash, in about the same time. The
        // session is opened inside the check, so the counters are settled only once it is
        // known whether the password is still the account's: a login a concurrent password
        // change superseded stays counted, as a wrong password does.
        let this = self.clone();
        let password = input.password;
        let check = async move {
            let Some(creds) = creds else {
                // The same token-store read as a known user's, then the dummy hash.
                this.inner
                    .store
                    .generation(&Id::random().to_string())
                    .await?;
                this.inner.passwords.verify_dummy(&password).await?;
                return Ok(None);
            };
            // Read before the password is checked: a logout-all from now on moves it on,
            // and this login's session is then not stored.
            let generation = this.inner.store.generation(&creds.user.id).await?;
            if !this
                .inner
                .passwords
                .verify(&password, &creds.password_hash)
                .await?
            {
                return Ok(None);
            }
            this.upgrade_in_background(&creds, &password);
            if this.inner.letters.settings().require_verification && !creds.user.email_verified {
                return Err(ServiceError::EmailUnverified);
            }
            if creds.user.mfa_enabled {
                return Err(this.ask_second_factor(&creds, generation).await);
            }
            match this.open_session(creds, client, false, generation).await {
                Ok(pair) => Ok(Some(pair)),
                Err(ServiceError::InvalidCredentials) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match self.inner.attempts.check(counters, check).await {
            Ok(Some(pair)) => Ok(pair),
            Ok(None) => {
                login_outcome("failed");
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    login_outcome("limited");
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
        let passwords = &self.inner.passwords;
        if !self.inner.settings.password_rehash || !passwords.is_out_of_date(&creds.password_hash) {
            return;
        }
        let (passwords, users) = (passwords.clone(), self.inner.users.clone());
        let (id, old, password) = (
            creds.user.id.clone(),
            creds.password_hash.clone(),
            password.to_owned(),
        );
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

    /// Opens a session for an account whose password (and `second_factor`, if true) was
    /// just proven, unless a logout-all ran since the sign-in read the user's `generation`
    /// (`TokenRevoked`: the user asked for every session to end).
    pub(crate) async fn open_session(
        &self,
        creds: repos::Credentials,
        client: ClientInfo,
        second_factor: bool,
        generation: u64,
    ) -> Result<TokenPair, ServiceError> {
        let s = &self.inner.settings;
        let (user, proven) = (creds.user, creds.password_version);
        let now = Utc::now().timestamp();
        let session_id = Id::random().to_string();
        let expires_at = now.saturating_add(secs(s.session_max_lifetime));
        let pair = PairState {
            access_jti: Id::random().to_string(),
            refresh_jti: Id::random().to_string(),
            issued_at: now,
            access_expires_at: now.saturating_add(secs(s.access_ttl)).min(expires_at),
            refresh_expires_at: now.saturating_add(secs(s.refresh_ttl)).min(expires_at),
        };
        let stored = self
            .inner
            .store
            .create_session(&NewSession {
                session_id: session_id.clone(),
                user_id: user.id.clone(),
                pair: pair.clone(),
                expires_at,
                user_agent: client.user_agent.map(|ua| ua.chars().take(256).collect()),
                ip: client.ip,
                second_factor,
                generation,
            })
            .await?;
        if !stored {
            // A logout-all came first (a password change or an account deletion ends every
            // session that way too: then the password given is no longer the account's).
            login_outcome("superseded");
            let current = self.inner.users.credentials_by_id(&user.id).await?;
            return Err(match current {
                Some(c) if c.password_version == proven => ServiceError::TokenRevoked,
                _ => ServiceError::InvalidCredentials,
            });
        }
        self.confirm_still_current(&user.id, &session_id, proven, second_factor)
            .await?;
        tracing::info!(user_id = %user.id, session_id = %session_id, "login");
        login_outcome("ok");
        self.pair(&user.id, &session_id, &pair)
    }

    /// Closes the race between a login and a password change or account deletion. Either
    /// revokes every session it can find once the new hash is stored (or the user is gone);
    /// a login verifies against the hash it read before, which takes a bcrypt's time, and so
    /// could open its session after that sweep and outlive the old password. The session is
    /// now stored: if the hash just verified is still the account's, the change (if any)
    /// comes later and its sweep will find this session; if not, the session is withdrawn
    /// and the login fails like a wrong password. Its tokens have not left the service yet,
    /// so even a session the withdrawal could not reach is one nobody holds a token for.
    async fn confirm_still_current(
        &self,
        user_id: &str,
        session_id: &str,
        proven: i64,
        second_factor: bool,
    ) -> Result<(), ServiceError> {
        let current = self.inner.users.credentials_by_id(user_id).await;
        // A second factor turned on since the account was read is owed too.
        if matches!(&current, Ok(Some(c)) if c.password_version == proven
            && (second_factor || !c.user.mfa_enabled))
        {
            return Ok(());
        }
        if let Err(e) = self.inner.store.revoke(user_id, session_id).await {
            tracing::warn!(user_id, session_id, error = %e, "could not withdraw a login's session");
        }
        current?;
        login_outcome("superseded");
        Err(ServiceError::InvalidCredentials)
    }

    /// Checks the password of a signed-in user before an account operation (changing the
    /// password, deleting the account). Wrong passwords count against the account, by user
    /// id alone, under the per-account login limit: a stolen access token must not allow
    /// unlimited guessing from any number of addresses, nor keep bcrypt busy. Past the limit
    /// the answer is `RateLimited` until the window ends, even for the right password.
    pub(crate) async fn confirm_password(
        &self,
        user_id: &str,
        password: &str,
        hash: &repos::PasswordHash,
    ) -> Result<(), ServiceError> {
        let counter = Counter::cleared(
            format!("password:acct:{user_id}"),
            self.inner.settings.login_max_per_account,
        );
        let passwords = self.inner.passwords.clone();
        let (password, hash) = (password.to_owned(), hash.clone());
        let check = async move { Ok(passwords.verify(&password, &hash).await?.then_some(())) };
        match self.inner.attempts.check(vec![counter], check).await {
            Ok(Some(())) => {
                password_check("ok");
                Ok(())
            }
            Ok(None) => {
                password_check("failed");
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    password_check("limited");
                }
                Err(e)
            }
        }
    }

    /// Checks a code of the account's second factor before an account operation of a
    /// signed-in user (turning the factor off, changing the address). Wrong codes count
    /// against the account as at sign-in (`InvalidMfaCode`, then `RateLimited`); a code
    /// already accepted is refused without counting (no guess).
    pub(crate) async fn confirm_code(
        &self,
        creds: &repos::Credentials,
        code: &str,
    ) -> Result<(), ServiceError> {
        let code = crate::mfa::checked_code(code)?.to_owned();
        let counters = self.code_counters(&creds.user.id, None);
        let (factor, account) = (self.inner.factor.clone(), creds.clone());
        let check = async move {
            match factor.redeem(&account, &code).await? {
                crate::mfa::Redeem::Accepted(_) => Ok(Some(())),
                crate::mfa::Redeem::Replayed => Err(ServiceError::InvalidMfaCode),
                crate::mfa::Redeem::Wrong => Ok(None),
            }
        };
        self.counted_code(counters, check).await
    }

    /// Runs a code check on `counters` (`InvalidMfaCode` when wrong) and counts its outcome.
    pub(crate) async fn counted_code<T, F>(
        &self,
        counters: Vec<Counter>,
        check: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<Option<T>, ServiceError>> + Send + 'static,
    {
        match self.inner.attempts.check(counters, check).await {
            Ok(Some(v)) => {
                crate::mfa::code_check("ok");
                Ok(v)
            }
            Ok(None) => {
                crate::mfa::code_check("failed");
                Err(ServiceError::InvalidMfaCode)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    crate::mfa::code_check("limited");
                }
                Err(e)
            }
        }
    }
}
