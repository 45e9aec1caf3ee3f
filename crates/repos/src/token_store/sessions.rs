//! The sessions contract: one record per login session (who, which access and refresh
//! token ids are current, the previous refresh id and when it was rotated), indexed under
//! its user, with a generation per user that every revoke-all moves on.

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

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
    /// How the sign-in was made (`password`, `passkey`, …), as the session list shows it.
    pub method: String,
    /// The user's generation when the login began ([`SessionStore::generation`]): a
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
    /// How the sign-in was made; `None` for a session stored before the method was kept.
    pub method: Option<String>,
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

/// The sessions of every user. Each operation costs one round trip to Redis and is atomic on
/// its user (the user's keys share one hash tag).
pub trait SessionStore: Send + Sync {
    /// The user's generation: it moves on with every revoke-all. A login reads it when it
    /// begins and hands it to [`SessionStore::create_session`].
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
}
