//! The in-memory token store: one process, no server. Same contracts as Redis; a mutex
//! makes each operation atomic, as a Lua script does there. The store and its data here,
//! one module per contract (`sessions`, `counters`, `challenges`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{pair_expiry, PairState, SignInChallenge};
use crate::RepoError;

mod challenges;
mod counters;
mod marks;
mod sessions;
mod single_use;

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
    method: String,
}

/// A sign-in waiting for its second factor: the tries so far, whether one is being
/// checked, and when it ends.
type Challenge = (SignInChallenge, u64, bool, Instant);

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
    /// Each user's last write position and until when it is held (see `WriteMarks`).
    marks: HashMap<String, (u64, Instant)>,
    /// Single-use records by kind, then key: the value and when it lapses.
    single_use: HashMap<String, HashMap<String, (Vec<u8>, Instant)>>,
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
                marks: HashMap::new(),
                single_use: HashMap::new(),
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
        self.marks.retain(|_, (_, until)| *until > instant);
        for records in self.single_use.values_mut() {
            records.retain(|_, (_, until)| *until > instant);
        }
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
}

impl MemoryTokenStore {
    /// Proves the store answers (it always does).
    pub async fn ping(&self) -> Result<(), RepoError> {
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
