//! The token store chosen at start-up, Redis or memory, without boxing futures.

use std::time::Duration;

use super::{
    ChallengeTry, MemoryTokenStore, NewSession, RateCount, RateCounters, RedisStats,
    RedisTokenStore, Rotation, RotationRequest, SessionInfo, SessionStore, SignInChallenge,
    SignInChallenges, SingleUse, WriteMarks,
};
use crate::RepoError;

/// The token store chosen at start-up.
#[derive(Debug, Clone)]
pub enum AnyTokenStore {
    Redis(RedisTokenStore),
    Memory(MemoryTokenStore),
}

macro_rules! delegate {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyTokenStore::Redis(s) => s.$method($($arg),*).await,
            AnyTokenStore::Memory(s) => s.$method($($arg),*).await,
        }
    };
}

impl AnyTokenStore {
    /// Connection use, for metrics (`None` for the in-memory store).
    pub fn redis_stats(&self) -> Option<RedisStats> {
        match self {
            AnyTokenStore::Redis(s) => Some(s.stats()),
            AnyTokenStore::Memory(_) => None,
        }
    }

    /// Proves the store answers.
    pub async fn ping(&self) -> Result<(), RepoError> {
        delegate!(self, ping())
    }

    /// The current count of each counter, without counting (for tests).
    #[cfg(feature = "test-support")]
    pub async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        delegate!(self, rate_peek(keys))
    }

    /// `redis` or `memory`, for logs and `/ready`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyTokenStore::Redis(_) => "redis",
            AnyTokenStore::Memory(_) => "memory",
        }
    }
}

impl SessionStore for AnyTokenStore {
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
}

impl RateCounters for AnyTokenStore {
    async fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<RateCount>, RepoError> {
        delegate!(self, rate_hit(keys, window))
    }
    async fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> Result<(), RepoError> {
        delegate!(self, rate_settle(clear, forgive))
    }
}

impl SignInChallenges for AnyTokenStore {
    async fn challenge_put(
        &self,
        key: &str,
        challenge: &SignInChallenge,
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
}

impl WriteMarks for AnyTokenStore {
    async fn mark_write(
        &self,
        user_id: &str,
        position: u64,
        hold: Duration,
    ) -> Result<(), RepoError> {
        delegate!(self, mark_write(user_id, position, hold))
    }
    async fn last_write(&self, user_id: &str) -> Result<Option<u64>, RepoError> {
        delegate!(self, last_write(user_id))
    }
}

impl SingleUse for AnyTokenStore {
    async fn single_put(
        &self,
        kind: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
        cap: usize,
    ) -> Result<(), RepoError> {
        delegate!(self, single_put(kind, key, value, ttl, cap))
    }
    async fn single_take(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, RepoError> {
        delegate!(self, single_take(kind, key))
    }
}
