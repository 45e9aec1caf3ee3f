//! Accounts and sessions: register, login, refresh with rotation, logout, and the check of
//! a bearer token on every protected request.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use repos::{
    AnyTokenStore, NewSession, PairState, Rotation, RotationRequest, TokenStore, UserRepo,
};

use crate::domain::{Checks, Email, Id, Password, Username};
use crate::jwt::{JwtKeys, TokenKind};
use crate::password::Passwords;
use crate::views::{SessionView, TokenPair, User};
use crate::{AuthSettings, ServiceError};

/// Pool figures of the database and Redis (none for the in-memory store).
#[derive(Debug, Clone, Copy)]
pub struct InfraStats {
    pub database: repos::database::PoolStats,
    pub redis: Option<repos::RedisStats>,
}

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

fn login_outcome(outcome: &'static str) {
    count("strata_auth_logins_total", "outcome", outcome, 1);
}

fn password_check(outcome: &'static str) {
    count("strata_auth_password_checks_total", "outcome", outcome, 1);
}

fn refresh_outcome(outcome: &'static str) {
    count("strata_auth_refreshes_total", "outcome", outcome, 1);
}

/// Counts sessions ended, by why.
pub(crate) fn revoked(reason: &'static str, n: usize) {
    count("strata_auth_revocations_total", "reason", reason, n as u64);
}

/// The block of addresses one client controls, for the limits "per IP": an IPv4 address
/// itself, and the /64 of an IPv6 one (a single host is routinely given a whole /64, so
/// counting per address would give an attacker 2^64 fresh counters).
fn address_block(ip: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip.parse::<IpAddr>().map(|a| a.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The address block of a client, or `unknown`.
fn client_block(client: &ClientInfo) -> String {
    client
        .ip
        .as_deref()
        .map_or_else(|| "unknown".to_owned(), address_block)
}

/// An attempt counted on its keys, until its password has been checked. Settled by the
/// caller; dropped unsettled (the request went away while bcrypt ran: a client that
/// disconnected, a shutdown), it is taken back from every counter in the background, like
/// an attempt an outage cut short.
#[must_use = "an attempt is settled once its password is checked"]
struct Attempt {
    store: AnyTokenStore,
    /// Each counter and the window the attempt was counted in.
    counted: Vec<(String, u64)>,
    open: bool,
}

impl Attempt {
    /// The password was wrong: the attempt stays counted.
    fn failed(mut self) {
        self.open = false;
    }

    /// Clears the first `clear` counters and takes the attempt back from the others.
    async fn settle(mut self, clear: usize) {
        self.open = false;
        let mut forgiven = std::mem::take(&mut self.counted);
        let cleared = forgiven
            .drain(..clear.min(forgiven.len()))
            .map(|(key, _)| key)
            .collect();
        settle_detached(self.store.clone(), cleared, forgiven).await;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, counted) = (self.store.clone(), std::mem::take(&mut self.counted));
            runtime.spawn(async move { settle_counters(&store, &[], &counted).await });
        }
    }
}

/// [`settle_counters`] on a task of its own, waited for: a caller dropped midway (its
/// client gone) does not leave the counters half settled.
async fn settle_detached(store: AnyTokenStore, clear: Vec<String>, forgive: Vec<(String, u64)>) {
    let work = async move { settle_counters(&store, &clear, &forgive).await };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            // The task only logs its failures; a join error (shutdown) leaves nothing to do.
            let _ = runtime.spawn(work).await;
        }
        Err(_) => work.await,
    }
}

/// Clears the counters `clear` and takes one attempt back from each counter of `forgive`
/// (if it is still in the window the attempt was counted in). Best effort: the attempt's
/// own outcome stands whatever happens here; a failure is logged, and leaves at most one
/// attempt too many counted.
async fn settle_counters(store: &AnyTokenStore, clear: &[String], forgive: &[(String, u64)]) {
    for key in clear {
        if let Err(e) = store.rate_clear(key).await {
            tracing::warn!(error = %e, "could not clear a failed-login counter");
        }
    }
    for (key, window) in forgive {
        if let Err(e) = store.rate_forgive(key, *window).await {
            tracing::warn!(error = %e, "could not take an attempt back from a counter");
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

struct Inner {
    users: UserRepo,
    store: AnyTokenStore,
    keys: JwtKeys,
    settings: AuthSettings,
    passwords: Passwords,
}

/// Registration, login and sessions.
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

impl AuthService {
    /// Builds the service.
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        keys: JwtKeys,
        settings: AuthSettings,
        passwords: Passwords,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                users,
                store,
                keys,
                settings,
                passwords,
            }),
        }
    }

    /// The settings in force (TTLs are shown in responses).
    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
    }

    /// Creates an account. A taken username or email is a 409, each told apart. Limited
    /// per client address (`RateLimited`); a taken name is found before any bcrypt work.
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
        // costs two indexed reads each, not a bcrypt.
        let users = &self.inner.users;
        if users.find_by_username(username.as_str()).await?.is_some() {
            return Err(ServiceError::UsernameTaken);
        }
        if users.find_by_email(email.as_str()).await?.is_some() {
            return Err(ServiceError::EmailTaken);
        }
        let hash = self.inner.passwords.hash(&password).await?;
        let user = users
            .create(username.as_str(), email.as_str(), &hash)
            .await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user.into())
    }

    /// Counts a registration against the client's address: `RateLimited` past
    /// `register_max_per_ip` in one `register_window`. Every well-formed attempt counts,
    /// taken names too (they are how names are enumerated).
    async fn count_registration(&self, client: &ClientInfo) -> Result<(), ServiceError> {
        let s = &self.inner.settings;
        let key = format!("register:ip:{}", client_block(client));
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
    /// and per address, with their limits.
    fn rate_keys(&self, account: Option<&str>, client: &ClientInfo) -> (Vec<String>, Vec<u64>) {
        let s = &self.inner.settings;
        let ip = client_block(client);
        let mut keys = Vec::with_capacity(2);
        let mut limits = Vec::with_capacity(2);
        if let Some(account) = account {
            keys.push(format!("login:acct:{account}|{ip}"));
            limits.push(s.login_max_per_account);
        }
        keys.push(format!("login:ip:{ip}"));
        limits.push(s.login_max_per_ip);
        (keys, limits)
    }

    /// Checks the password and opens a session. An unknown user and a wrong password give
    /// the same answer in about the same time; too many failures give `RateLimited`.
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
        let (keys, limits) = self.rate_keys(account, &client);
        let attempt = match self.count_attempt(keys, &limits).await {
            Ok(attempt) => attempt,
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    login_outcome("limited");
                }
                return Err(e);
            }
        };
        let opened = self.open_session(creds, &input.password, client).await;
        match &opened {
            // A wrong password, an unknown user, or a password changed meanwhile: a failed
            // guess, and it stays counted.
            Err(ServiceError::InvalidCredentials) => attempt.failed(),
            // The right password: this account's failures from this address are forgiven,
            // and this attempt no longer counts against the address.
            Ok(_) => attempt.settle(1).await,
            // The store or the database failed midway: no guess was made; taken back.
            Err(_) => attempt.settle(0).await,
        }
        opened
    }

    /// Checks the password against `creds` (a dummy hash for an unknown user, in about the
    /// same time) and opens a session.
    async fn open_session(
        &self,
        creds: Option<repos::Credentials>,
        password: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, ServiceError> {
        let s = &self.inner.settings;
        let (user, proven) = match creds {
            Some(c)
                if self
                    .inner
                    .passwords
                    .verify(password, &c.password_hash)
                    .await? =>
            {
                (c.user, c.password_hash)
            }
            Some(_) => {
                login_outcome("failed");
                return Err(ServiceError::InvalidCredentials);
            }
            None => {
                self.inner.passwords.verify_dummy(password).await?;
                login_outcome("failed");
                return Err(ServiceError::InvalidCredentials);
            }
        };
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
        self.inner
            .store
            .create_session(&NewSession {
                session_id: session_id.clone(),
                user_id: user.id.clone(),
                pair: pair.clone(),
                expires_at,
                user_agent: client.user_agent.map(|ua| ua.chars().take(256).collect()),
                ip: client.ip,
            })
            .await?;
        self.confirm_still_current(&user.id, &session_id, &proven)
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
        proven: &repos::PasswordHash,
    ) -> Result<(), ServiceError> {
        let current = self.inner.users.credentials_by_id(user_id).await;
        if matches!(&current, Ok(Some(c)) if c.password_hash == *proven) {
            return Ok(());
        }
        if let Err(e) = self.inner.store.revoke(user_id, session_id).await {
            tracing::warn!(user_id, session_id, error = %e, "could not withdraw a login's session");
        }
        current?;
        login_outcome("superseded");
        Err(ServiceError::InvalidCredentials)
    }

    /// Counts an attempt on each of `keys` (limits in `limits`, in order) *before* its
    /// password is checked, so that attempts sent all at once are counted all at once rather
    /// than each seeing the count from before the others: `RateLimited` if any counter is now
    /// past its limit. The caller settles the [`Attempt`] once the password is checked.
    async fn count_attempt(
        &self,
        keys: Vec<String>,
        limits: &[u64],
    ) -> Result<Attempt, ServiceError> {
        let store = &self.inner.store;
        let counts = store
            .rate_hit(&keys, self.inner.settings.login_window)
            .await?;
        let blocked = counts
            .iter()
            .zip(limits)
            .filter(|(c, limit)| c.count > **limit)
            .map(|(c, _)| c.resets_in)
            .max();
        let counted: Vec<(String, u64)> = keys
            .into_iter()
            .zip(counts.iter().map(|c| c.window))
            .collect();
        match blocked {
            Some(wait) => {
                // A refused attempt checks nothing, so it counts for nothing: retrying while
                // refused neither lengthens a lock-out nor fills the other counters.
                settle_detached(store.clone(), Vec::new(), counted).await;
                Err(ServiceError::RateLimited {
                    retry_after: wait.max(Duration::from_secs(1)),
                })
            }
            None => Ok(Attempt {
                store: store.clone(),
                counted,
                open: true,
            }),
        }
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
        let keys = vec![format!("password:acct:{user_id}")];
        let limit = self.inner.settings.login_max_per_account;
        let attempt = match self.count_attempt(keys, &[limit]).await {
            Ok(attempt) => attempt,
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    password_check("limited");
                }
                return Err(e);
            }
        };
        match self.inner.passwords.verify(password, hash).await {
            Ok(true) => {
                attempt.settle(1).await;
                password_check("ok");
                Ok(())
            }
            Ok(false) => {
                attempt.failed();
                password_check("failed");
                Err(ServiceError::InvalidCredentials)
            }
            // bcrypt failed: no guess was checked.
            Err(e) => {
                attempt.settle(0).await;
                Err(e)
            }
        }
    }

    /// Signs the tokens of `pair`. The same state always gives the same tokens.
    fn pair(
        &self,
        user_id: &str,
        session_id: &str,
        pair: &PairState,
    ) -> Result<TokenPair, ServiceError> {
        let keys = &self.inner.keys;
        let now = Utc::now().timestamp();
        Ok(TokenPair {
            access_token: keys.sign(
                TokenKind::Access,
                user_id,
                session_id,
                &pair.access_jti,
                pair.issued_at,
                pair.access_expires_at,
            )?,
            refresh_token: keys.sign(
                TokenKind::Refresh,
                user_id,
                session_id,
                &pair.refresh_jti,
                pair.issued_at,
                pair.refresh_expires_at,
            )?,
            token_type: "Bearer",
            expires_in: (pair.access_expires_at - now).max(0),
            refresh_expires_in: (pair.refresh_expires_at - now).max(0),
            session_id: session_id.to_owned(),
        })
    }

    /// Exchanges a refresh token for a new pair. The previous refresh token within the
    /// grace gets the current pair again; any older one revokes the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Refresh, refresh_token)?;
        let s = &self.inner.settings;
        let rotation = self
            .inner
            .store
            .rotate(&RotationRequest {
                session_id: claims.sid.clone(),
                presented_jti: claims.jti,
                new_access_jti: Id::random().to_string(),
                new_refresh_jti: Id::random().to_string(),
                now_ms: Utc::now().timestamp_millis(),
                access_ttl: s.access_ttl,
                refresh_ttl: s.refresh_ttl,
                grace: s.refresh_reuse_grace,
            })
            .await?;
        match rotation {
            Rotation::Rotated { user_id, pair } | Rotation::Grace { user_id, pair }
                if user_id == claims.sub =>
            {
                self.pair(&user_id, &claims.sid, &pair)
            }
            Rotation::Rotated { .. } | Rotation::Grace { .. } => Err(ServiceError::TokenInvalid),
            Rotation::Reused { user_id } => {
                tracing::warn!(user_id = %user_id, session_id = %claims.sid, "refresh token reused; session revoked");
                refresh_outcome("reused");
                revoked("reuse", 1);
                Err(ServiceError::RefreshTokenReused)
            }
            Rotation::Missing => {
                refresh_outcome("revoked");
                Err(ServiceError::TokenRevoked)
            }
        }
    }

    /// Checks a bearer token: signature and claims locally, then one token-store round trip
    /// proving the session is alive and this is its current access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Access, access_token)?;
        match self
            .inner
            .store
            .authenticate(&claims.sid, &claims.jti)
            .await?
        {
            Some(user_id) if user_id == claims.sub => Ok(Principal {
                user_id,
                session_id: claims.sid,
            }),
            _ => Err(ServiceError::TokenRevoked),
        }
    }

    /// Ends the session of `access_token`: its access and refresh tokens stop working at
    /// once. The access token a refresh replaced within `REFRESH_REUSE_GRACE` still ends it
    /// (another tab refreshed just before this logout); the user asked for the session to
    /// end, and it must not live on.
    pub async fn logout(&self, access_token: &str) -> Result<Principal, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Access, access_token)?;
        let ended = self
            .inner
            .store
            .logout(
                &claims.sub,
                &claims.sid,
                &claims.jti,
                self.inner.settings.refresh_reuse_grace,
                Utc::now().timestamp_millis(),
            )
            .await?;
        if !ended {
            return Err(ServiceError::TokenRevoked);
        }
        tracing::info!(user_id = %claims.sub, session_id = %claims.sid, "logout");
        Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    /// Ends every session of the caller.
    pub async fn logout_all(&self, who: &Principal) -> Result<(), ServiceError> {
        let n = self.revoke_all(&who.user_id, None).await?;
        revoked("logout_all", n);
        tracing::info!(user_id = %who.user_id, sessions = n, "logout of all sessions");
        Ok(())
    }

    /// Ends every session of `user_id` but `keep`.
    pub(crate) async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<usize, ServiceError> {
        Ok(self.inner.store.revoke_all(user_id, keep).await?)
    }

    /// The caller's live sessions, the caller's own marked `current`.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<SessionView>, ServiceError> {
        let now = Utc::now().timestamp();
        let list = self.inner.store.list(&who.user_id, now).await?;
        Ok(list
            .into_iter()
            .map(|s| SessionView::new(s, &who.session_id))
            .collect())
    }

    /// Ends one of the caller's sessions; another user's or an unknown one is `NotFound`.
    pub async fn revoke_session(
        &self,
        who: &Principal,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let Some(id) = Id::parse(session_id) else {
            return Err(ServiceError::NotFound);
        };
        if self
            .inner
            .store
            .revoke(&who.user_id, &id.to_string())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Connection-pool figures, for metrics.
    pub fn infra_stats(&self) -> InfraStats {
        InfraStats {
            database: self.inner.users.pool_stats(),
            redis: self.inner.store.redis_stats(),
        }
    }

    /// Checks the token store answers (for `/ready`).
    pub async fn token_store_ready(&self) -> Result<(), ServiceError> {
        Ok(self.inner.store.ping().await?)
    }

    /// Checks the database answers (for `/ready`).
    pub async fn database_ready(&self) -> Result<(), ServiceError> {
        Ok(self.inner.users.ping().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::address_block;

    #[test]
    fn per_ip_limits_count_an_ipv6_client_by_its_64_and_an_ipv4_one_by_its_address() {
        assert_eq!(address_block("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_block("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            address_block("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_block("2001:db8:1:2::1"),
            address_block("2001:db8:1:2:ffff::9")
        );
        assert_ne!(
            address_block("2001:db8:1:2::1"),
            address_block("2001:db8:1:3::1")
        );
        assert_eq!(address_block("not an address"), "not an address");
    }
}
