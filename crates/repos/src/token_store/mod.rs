//! The token store: one record per login session (who, which access and refresh token ids
//! are current, the previous refresh id and when it was rotated), failed-login counters,
//! and sign-ins waiting for their second factor.
//!
//! Two implementations pass one contract suite: [`RedisTokenStore`] for any number of
//! processes, [`MemoryTokenStore`] for a single process. [`AnyTokenStore`] picks one at run
//! time without boxing futures.

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

mod memory;
mod redis;

pub use memory::{MemoryTokenStore, MAX_COUNTERS};
pub use redis::{RedisOptions, RedisStats, RedisTokenStore};

/// The ids and times of one access + refresh token pair. Tokens are re-signed from this
/// exactly, so the same state always yields byte-identical tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairState {
    pub access_jti: String,
    pub refresh_jti: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub access_expires_at: i64,
    /// Unix seconds; the session record expires with it.
    pub refresh_expires_at: i64,
}

/// A session to store at login.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session_id: String,
    pub user_id: String,
    pub pair: PairState,
    /// The absolute end of the session (unix seconds), whatever the refreshes.
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The sign-in proved a second factor as well as the password.
    pub second_factor: bool,
    /// The user's generation when the login began ([`TokenStore::generation`]): a
    /// revoke-all since then moved it on, and the session is not stored.
    pub generation: u64,
}

/// A live session as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last login or refresh.
    pub refreshed_at: i64,
    /// Unix seconds: the absolute end of the session.
    pub expires_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub second_factor: bool,
}

/// A sign-in whose password was right, waiting for its second factor.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    pub user_id: String,
    /// A digest of the password hash the sign-in proved: once the password changes, the
    /// challenge no longer matches the account.
    pub proof: String,
    /// The user's generation when the sign-in began, for the session it opens.
    pub generation: u64,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// What a try at a challenge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeTry {
    /// This try may check a code: the challenge, and the tries so far (this one included).
    /// The challenge is busy until [`TokenStore::challenge_release`] or a take.
    Granted(MfaChallenge, u64),
    /// Another try on the same challenge is being checked.
    Busy,
    /// No such challenge, or its tries are spent.
    Gone,
}

/// A refresh: the presented refresh token id and the ids of the pair that replaces it.
#[derive(Debug, Clone)]
pub struct RotationRequest {
    /// The user the refresh token names (its `sub`): the session is kept under them.
    pub user_id: String,
    pub session_id: String,
    pub presented_jti: String,
    pub new_access_jti: String,
    pub new_refresh_jti: String,
    /// Unix milliseconds.
    pub now_ms: i64,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long the previous refresh token still returns the current pair.
    pub grace: Duration,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was current; this new pair replaced it.
    Rotated { user_id: String, pair: PairState },
    /// The presented token was the previous one, within the grace: here is the current pair.
    Grace { user_id: String, pair: PairState },
    /// An older token was presented: the whole session has been revoked.
    Reused { user_id: String },
    /// No such session (logged out, revoked, expired).
    Missing,
}

/// A failed-login counter: how many in the window, and when the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCount {
    pub count: u64,
    pub resets_in: Duration,
    /// Which window the count belongs to: an opaque id, different for every window of a
    /// counter; 0 when there is none.
    pub window: u64,
}

/// The operations of a token store. Each costs one round trip to Redis, and each that
/// touches a user's sessions is atomic on that user (their keys share one hash tag).
pub trait TokenStore: Send + Sync {
    /// The user's generation: it moves on with every revoke-all. A login reads it when it
    /// begins and hands it to [`TokenStore::create_session`].
    fn generation(&self, user_id: &str) -> impl Future<Output = Result<u64, RepoError>> + Send;

    /// Stores a new session and indexes it under its user; `false` (and nothing stored)
    /// when a revoke-all of the user ran since the login read `session.generation`.
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;

    /// The session's user id if the session of `user_id` is alive and `access_jti` is its
    /// current access token; `None` otherwise.
    fn authenticate(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
    ) -> impl Future<Output = Result<Option<String>, RepoError>> + Send;

    /// Rotates the refresh token atomically, applying the grace and reuse rules.
    fn rotate(
        &self,
        request: &RotationRequest,
    ) -> impl Future<Output = Result<Rotation, RepoError>> + Send;

    /// Deletes one session if it belongs to `user_id`; says whether it did.
    fn revoke(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;

    /// Deletes the session of a logout: it must belong to `user_id`, and `access_jti` must
    /// be its current access token, or the one a refresh replaced at most `grace` before
    /// `now_ms` (a logout sent while another tab refreshed). Says whether it did.
    fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, RepoError>> + Send;

    /// Deletes every session of `user_id` except `keep`, and moves the user's generation
    /// on, so that no login under way stores its session afterwards; returns how many went.
    fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = Result<usize, RepoError>> + Send;

    /// The user's live sessions, oldest first.
    fn list(
        &self,
        user_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<SessionInfo>, RepoError>> + Send;

    /// The current count of each counter, without counting.
    fn rate_peek(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<RateCount>, RepoError>> + Send;

    /// Counts one more attempt on each counter and returns the new counts; a counter's window
    /// starts at its first hit.
    fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> impl Future<Output = Result<Vec<RateCount>, RepoError>> + Send;

    /// Forgets a counter (after a successful login).
    fn rate_clear(&self, key: &str) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Takes one hit back from a counter (an attempt counted before it was checked, that
    /// turned out right), keeping its window, if the counter is still in `window` (the
    /// window the hit was counted in, from [`RateCount::window`]); nothing if the counter
    /// is gone, at zero, or in a later window, where the hit was never counted. A counter
    /// brought back to zero is deleted, so refused attempts leave nothing behind.
    fn rate_forgive(
        &self,
        key: &str,
        window: u64,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Clears the counters `clear` and takes one hit back from each of `forgive` (a name and
    /// the window its hit was counted in), as `rate_clear` and `rate_forgive` do, in one
    /// round trip: how an attempt is settled once its check has run.
    fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Stores a sign-in waiting for its second factor under `key` (a digest of its token)
    /// for `ttl`.
    fn challenge_put(
        &self,
        key: &str,
        challenge: &MfaChallenge,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Counts one try at the challenge, at most `max_tries` in all and one at a time: a
    /// granted try holds the challenge until it is released (a wrong code) or taken.
    fn challenge_try(
        &self,
        key: &str,
        max_tries: u64,
    ) -> impl Future<Output = Result<ChallengeTry, RepoError>> + Send;

    /// Lets the next try at the challenge in, after a wrong code.
    fn challenge_release(&self, key: &str) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Deletes the challenge; says whether this call did, so that one success wins.
    fn challenge_take(&self, key: &str) -> impl Future<Output = Result<bool, RepoError>> + Send;

    /// Proves the store answers.
    fn ping(&self) -> impl Future<Output = Result<(), RepoError>> + Send;
}

/// The token store chosen at start-up.
#[derive(Debug, Clone)]
pub enum AnyTokenStore {
    Redis(RedisTokenStore),
    Memory(MemoryTokenStore),
}

impl AnyTokenStore {
    /// Connection use, for metrics (`None` for the in-memory store).
    pub fn redis_stats(&self) -> Option<RedisStats> {
        match self {
            AnyTokenStore::Redis(s) => Some(s.stats()),
            AnyTokenStore::Memory(_) => None,
        }
    }

    /// `redis` or `memory`, for logs and `/ready`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyTokenStore::Redis(_) => "redis",
            AnyTokenStore::Memory(_) => "memory",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyTokenStore::Redis(s) => s.$method($($arg),*).await,
            AnyTokenStore::Memory(s) => s.$method($($arg),*).await,
        }
    };
}

impl TokenStore for AnyTokenStore {
    async fn generation(&self, user_id: &str) -> Result<u64, RepoError> {
        delegate!(self, generation(user_id))
    }
    async fn create_session(&self, session: &NewSession) -> Result<bool, RepoError> {
        delegate!(self, create_session(session))
    }
    async fn authenticate(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
    ) -> Result<Option<String>, RepoError> {
        delegate!(self, authenticate(user_id, session_id, access_jti))
    }
    async fn rotate(&self, request: &RotationRequest) -> Result<Rotation, RepoError> {
        delegate!(self, rotate(request))
    }
    async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        delegate!(self, revoke(user_id, session_id))
    }
    async fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> Result<bool, RepoError> {
        delegate!(self, logout(user_id, session_id, access_jti, grace, now_ms))
    }
    async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, RepoError> {
        delegate!(self, revoke_all(user_id, keep))
    }
    async fn list(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>, RepoError> {
        delegate!(self, list(user_id, now))
    }
    async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        delegate!(self, rate_peek(keys))
    }
    async fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<RateCount>, RepoError> {
        delegate!(self, rate_hit(keys, window))
    }
    async fn rate_clear(&self, key: &str) -> Result<(), RepoError> {
        delegate!(self, rate_clear(key))
    }
    async fn rate_forgive(&self, key: &str, window: u64) -> Result<(), RepoError> {
        delegate!(self, rate_forgive(key, window))
    }
    async fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> Result<(), RepoError> {
        delegate!(self, rate_settle(clear, forgive))
    }
    async fn challenge_put(
        &self,
        key: &str,
        challenge: &MfaChallenge,
        ttl: Duration,
    ) -> Result<(), RepoError> {
        delegate!(self, challenge_put(key, challenge, ttl))
    }
    async fn challenge_try(&self, key: &str, max_tries: u64) -> Result<ChallengeTry, RepoError> {
        delegate!(self, challenge_try(key, max_tries))
    }
    async fn challenge_release(&self, key: &str) -> Result<(), RepoError> {
        delegate!(self, challenge_release(key))
    }
    async fn challenge_take(&self, key: &str) -> Result<bool, RepoError> {
        delegate!(self, challenge_take(key))
    }
    async fn ping(&self) -> Result<(), RepoError> {
        delegate!(self, ping())
    }
}

/// The fixed-size name a counter is stored under: 32 hex digits of the SHA-256 of the name
/// the caller gave. Whatever a client sends as a username, a counter costs the same bytes.
pub fn counter_digest(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

/// New expiry times of a pair issued at `issued_at`, never past the session's end.
pub(crate) fn pair_expiry(
    issued_at: i64,
    access_ttl: Duration,
    refresh_ttl: Duration,
    session_end: i64,
) -> (i64, i64) {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    (
        issued_at.saturating_add(secs(access_ttl)).min(session_end),
        issued_at.saturating_add(secs(refresh_ttl)).min(session_end),
    )
}
