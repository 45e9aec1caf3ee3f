//! The in-memory token store: one process, no server. Same contract as Redis; a mutex
//! makes each operation atomic, as a Lua script does there.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{
    counter_digest, pair_expiry, ChallengeTry, MfaChallenge, NewSession, PairState, RateCount,
    Rotation, RotationRequest, SessionInfo, TokenStore,
};
use crate::RepoError;

mod challenges;

/// How often expired entries are swept out, so memory stays flat.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Most failed-attempt counters held at once (about 150 bytes each). Past it, once the
/// expired ones are swept, a new counter is refused as an outage (503), the way a full
/// Redis refuses it: attempts fail closed and memory stays bounded.
pub const MAX_COUNTERS: usize = 100_000;

/// How long a user's generation is kept after a revoke-all (as on Redis).
const GENERATION_KEPT: Duration = Duration::from_secs(3600);

/// How often a full store may sweep to make room.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Session {
    user_id: String,
    pair: PairState,
    previous_refresh_jti: Option<String>,
    rotated_at_ms: i64,
    created_at: i64,
    expires_at: i64,
    user_agent: Option<String>,
    ip: Option<String>,
    /// The access token a refresh replaced, for a logout racing that refresh.
    previous_access_jti: Option<String>,
    second_factor: bool,
}

/// A sign-in waiting for its second factor: the tries so far, whether one is being
/// checked, and when it ends.
type Challenge = (MfaChallenge, u64, bool, Instant);

/// A counter: its count and when its window ends.
type Counter = (u64, Instant);

#[derive(Debug)]
struct Inner {
    sessions: HashMap<String, Session>,
    by_user: HashMap<String, HashSet<String>>,
    /// Keyed by [`counter_digest`], so a counter's size does not depend on its name.
    rates: HashMap<String, Counter>,
    /// Held to the same cap as the counters.
    challenges: HashMap<String, Challenge>,
    /// Each user's generation, moved on by every revoke-all (absent: 0), and until when it
    /// is kept: as on Redis, an hour after the last revoke-all, far longer than a login.
    generations: HashMap<String, (u64, Instant)>,
    /// The last generation handed out, to any user: values are never reused, even after
    /// a user's entry is swept.
    last_generation: u64,
    max_counters: usize,
    last_sweep: Instant,
}

/// A token store in this process's memory. Clones share the same data.
#[derive(Debug, Clone)]
pub struct MemoryTokenStore {
    inner: Arc<Mutex<Inner>>,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl MemoryTokenStore {
    /// An empty store holding at most [`MAX_COUNTERS`] counters.
    pub fn new() -> Self {
        Self::with_counter_cap(MAX_COUNTERS)
    }

    /// An empty store holding at most `max_counters` counters.
    pub fn with_counter_cap(max_counters: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                sessions: HashMap::new(),
                by_user: HashMap::new(),
                rates: HashMap::new(),
                challenges: HashMap::new(),
                generations: HashMap::new(),
                last_generation: 0,
                max_counters,
                last_sweep: Instant::now(),
            })),
        }
    }

    /// Locks the store, sweeping expired entries now and then. A panic while locked cannot
    /// leave the maps half-updated (each operation is a few map calls), so a poisoned lock
    /// is taken over rather than turned into an outage.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.last_sweep.elapsed() >= SWEEP_EVERY {
            inner.sweep();
        }
        inner
    }

    /// How many sessions and counters are held (tests check that memory stays flat).
    pub fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.sessions.len(), inner.rates.len())
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl Inner {
    fn sweep(&mut self) {
        let now = unix_now();
        let dead: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.pair.refresh_expires_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            self.remove(&id);
        }
        let instant = Instant::now();
        self.rates.retain(|_, (_, until)| *until > instant);
        self.challenges
            .retain(|_, (_, _, _, until)| *until > instant);
        self.generations.retain(|_, (_, until)| *until > instant);
        self.last_sweep = instant;
    }

    /// The user's generation (0 when none is kept).
    fn generation(&self, user_id: &str) -> u64 {
        match self.generations.get(user_id) {
            Some((n, until)) if *until > Instant::now() => *n,
            _ => 0,
        }
    }

    /// The session if it has not expired.
    fn live(&mut self, session_id: &str) -> Option<&mut Session> {
        let expired = match self.sessions.get(session_id) {
            None => return None,
            Some(s) => s.pair.refresh_expires_at <= unix_now(),
        };
        if expired {
            self.remove(session_id);
            return None;
        }
        self.sessions.get_mut(session_id)
    }

    fn remove(&mut self, session_id: &str) -> Option<Session> {
        let session = self.sessions.remove(session_id)?;
        if let Some(set) = self.by_user.get_mut(&session.user_id) {
            set.remove(session_id);
            if set.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
        Some(session)
    }

    fn rate(&mut self, key: &str) -> RateCount {
        let now = Instant::now();
        match self.rates.get(&counter_digest(key)) {
            Some((count, until)) if *until > now => RateCount {
                count: *count,
                resets_in: *until - now,
                window: window_id(*until),
            },
            _ => RateCount {
                count: 0,
                resets_in: Duration::ZERO,
                window: 0,
            },
        }
    }
}

impl TokenStore for MemoryTokenStore {
    async fn generation(&self, user_id: &str) -> Result<u64, RepoError> {
        Ok(self.lock().generation(user_id))
    }

    async fn create_session(&self, s: &NewSession) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        if inner.generation(&s.user_id) != s.generation {
            return Ok(false);
        }
        inner
            .by_user
            .entry(s.user_id.clone())
            .or_default()
            .insert(s.session_id.clone());
        inner.sessions.insert(
            s.session_id.clone(),
            Session {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
                previous_refresh_jti: None,
                rotated_at_ms: 0,
                created_at: s.pair.issued_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
                previous_access_jti: None,
                second_factor: s.second_factor,
            },
        );
        Ok(true)
    }

    async fn authenticate(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
    ) -> Result<Option<String>, RepoError> {
        let mut inner = self.lock();
        Ok(inner
            .live(session_id)
            .filter(|s| s.user_id == user_id && s.pair.access_jti == access_jti)
            .map(|s| s.user_id.clone()))
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<Rotation, RepoError> {
        let mut inner = self.lock();
        let Some(s) = inner.live(&r.session_id).filter(|s| s.user_id == r.user_id) else {
            return Ok(Rotation::Missing);
        };
        if s.pair.refresh_jti == r.presented_jti {
            let issued_at = r.now_ms.div_euclid(1000);
            if issued_at >= s.expires_at {
                inner.remove(&r.session_id);
                return Ok(Rotation::Missing);
            }
            let (access_expires_at, refresh_expires_at) =
                pair_expiry(issued_at, r.access_ttl, r.refresh_ttl, s.expires_at);
            s.previous_refresh_jti = Some(std::mem::take(&mut s.pair.refresh_jti));
            s.previous_access_jti = Some(std::mem::take(&mut s.pair.access_jti));
            s.rotated_at_ms = r.now_ms;
            s.pair = PairState {
                access_jti: r.new_access_jti.clone(),
                refresh_jti: r.new_refresh_jti.clone(),
                issued_at,
                access_expires_at,
                refresh_expires_at,
            };
            return Ok(Rotation::Rotated {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
            });
        }
        let grace_ms = i64::try_from(r.grace.as_millis()).unwrap_or(i64::MAX);
        if s.previous_refresh_jti.as_deref() == Some(r.presented_jti.as_str())
            && r.now_ms - s.rotated_at_ms <= grace_ms
        {
            return Ok(Rotation::Grace {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
            });
        }
        let user_id = s.user_id.clone();
        inner.remove(&r.session_id);
        Ok(Rotation::Reused { user_id })
    }

    async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        let owned = inner.live(session_id).is_some_and(|s| s.user_id == user_id);
        if owned {
            inner.remove(session_id);
        }
        Ok(owned)
    }

    async fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let allowed = inner.live(session_id).is_some_and(|s| {
            s.user_id == user_id
                && (s.pair.access_jti == access_jti
                    || (s.previous_access_jti.as_deref() == Some(access_jti)
                        && now_ms - s.rotated_at_ms <= grace_ms))
        });
        if allowed {
            inner.remove(session_id);
        }
        Ok(allowed)
    }

    async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, RepoError> {
        let mut inner = self.lock();
        inner.last_generation += 1;
        let next = inner.last_generation;
        let until = Instant::now() + GENERATION_KEPT;
        inner.generations.insert(user_id.to_owned(), (next, until));
        let ids: Vec<String> = inner
            .by_user
            .get(user_id)
            .map(|set| {
                set.iter()
                    .filter(|id| Some(id.as_str()) != keep)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut n = 0;
        for id in ids {
            if inner
                .remove(&id)
                .is_some_and(|s| s.pair.refresh_expires_at > unix_now())
            {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>, RepoError> {
        let inner = self.lock();
        let mut out: Vec<SessionInfo> = inner
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| inner.sessions.get(id).map(|s| (id, s)))
            .filter(|(_, s)| s.pair.refresh_expires_at > now)
            .map(|(id, s)| SessionInfo {
                session_id: id.clone(),
                user_id: s.user_id.clone(),
                created_at: s.created_at,
                refreshed_at: s.pair.issued_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
                second_factor: s.second_factor,
            })
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        Ok(out)
    }

    async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        let mut inner = self.lock();
        Ok(keys.iter().map(|k| inner.rate(k)).collect())
    }

    async fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<RateCount>, RepoError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let digests: Vec<String> = keys.iter().map(|k| counter_digest(k)).collect();
        let new = digests
            .iter()
            .filter(|d| !inner.rates.contains_key(*d))
            .count();
        if new > 0 && inner.rates.len() + new > inner.max_counters {
            // A sweep walks everything under the lock: at most one a second while full.
            if inner.last_sweep.elapsed() >= FULL_SWEEP_EVERY {
                inner.sweep();
            }
            if inner.rates.len() + new > inner.max_counters {
                return Err(RepoError::Unavailable {
                    what: "token store",
                    detail: format!("{} failed-attempt counters held", inner.rates.len()),
                });
            }
        }
        Ok(digests
            .into_iter()
            .map(|d| {
                let entry = inner.rates.entry(d).or_insert((0, now + window));
                if entry.1 <= now {
                    *entry = (0, now + window);
                }
                entry.0 += 1;
                RateCount {
                    count: entry.0,
                    resets_in: entry.1 - now,
                    window: window_id(entry.1),
                }
            })
            .collect())
    }

    async fn rate_clear(&self, key: &str) -> Result<(), RepoError> {
        self.lock().rates.remove(&counter_digest(key));
        Ok(())
    }

    async fn rate_forgive(&self, key: &str, window: u64) -> Result<(), RepoError> {
        let mut inner = self.lock();
        let digest = counter_digest(key);
        let Some((count, until)) = inner.rates.get_mut(&digest) else {
            return Ok(());
        };
        if *until > Instant::now() && window_id(*until) == window {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.rates.remove(&digest);
            }
        }
        Ok(())
    }

    async fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> Result<(), RepoError> {
        for k in clear {
            self.rate_clear(k).await?;
        }
        for (k, window) in forgive {
            self.rate_forgive(k, *window).await?;
        }
        Ok(())
    }

    async fn challenge_put(
        &self,
        key: &str,
        challenge: &MfaChallenge,
        ttl: Duration,
    ) -> Result<(), RepoError> {
        self.put_challenge(key, challenge, ttl)
    }

    async fn challenge_try(&self, key: &str, max_tries: u64) -> Result<ChallengeTry, RepoError> {
        Ok(self.try_challenge(key, max_tries))
    }

    async fn challenge_release(&self, key: &str) -> Result<(), RepoError> {
        self.release_challenge(key);
        Ok(())
    }

    async fn challenge_take(&self, key: &str) -> Result<bool, RepoError> {
        Ok(self.take_challenge(key))
    }

    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

/// A window's id: when it ends, in nanoseconds since the first time this was asked (every
/// window ends after that, and a later window of a counter always ends later). Never 0,
/// which means "no window".
fn window_id(until: Instant) -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(until.saturating_duration_since(base).as_nanos())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}
