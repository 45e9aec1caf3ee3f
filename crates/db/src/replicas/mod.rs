//! Read replicas: which one may serve a read, and what the watch last saw of each.
//!
//! A replica serves a read only while the watch has seen it answer within
//! [`STALE_AFTER`], no further behind than the lag limit, and past the reader's own last
//! write. Otherwise the read goes to the primary. A replica that fails a read, or does not
//! finish it within [`READ_WITHIN`], is taken out of service at once and that read is
//! served by the primary.

mod position;
mod timeline;
mod watch;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) use position::{replayed, written};
pub use position::{Freshness, WalPosition};
use timeline::Timeline;

use crate::lane::Lane;

/// How often the watch reads the primary's and each replica's position.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long the watch waits for one answer before it counts the server as silent.
pub const CHECK_WITHIN: Duration = Duration::from_secs(1);

/// A replica the watch has not heard from for this long gets no reads; a timeline whose
/// last sample is older than this counts the time since as lag.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// How long a read waits for a replica (a thread, a connection, the answer) before it
/// goes to the primary.
pub const READ_WITHIN: Duration = Duration::from_secs(2);

/// How long a user's reads stay with positions after their write (see
/// [`crate::Database::hold_after_write`]): past it, every replica that still lacks the
/// write is further behind than the lag limit and gets no reads anyway.
pub(crate) fn hold_after_write(max_lag: Duration) -> Duration {
    max_lag + STALE_AFTER + 4 * CHECK_EVERY
}

/// One replica: its pool for reads, its own connection for the watch, and what the watch
/// last saw of it.
pub(crate) struct Replica {
    /// Its place in `DATABASE_REPLICA_URLS`, from 0 (what `/ready` and metrics show).
    pub(crate) index: usize,
    /// Its URL without the password, for logs.
    pub(crate) name: String,
    pub(crate) lane: Lane,
    pub(crate) watch: Lane,
    seen: Mutex<Seen>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    /// When it last answered the watch, and how far it had replayed then.
    answered: Option<(Instant, WalPosition)>,
    /// Its lag at that answer; `None` until the primary has been sampled.
    lag: Option<Duration>,
    /// Its last check, or a read on it, failed.
    down: bool,
}

/// What `/ready` and the metrics say of a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Its place in `DATABASE_REPLICA_URLS`, from 0.
    pub index: usize,
    pub state: ReplicaState,
}

/// A replica's state as the watch last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Serving reads; this far behind the primary.
    Serving { lag: Duration },
    /// Answering, but further behind than the lag limit: no reads until it catches up.
    Lagging { lag: Duration },
    /// Not answering, or not measured yet: no reads.
    Down,
}

impl ReplicaState {
    /// `serving`, `lagging` or `down`.
    pub fn label(self) -> &'static str {
        match self {
            ReplicaState::Serving { .. } => "serving",
            ReplicaState::Lagging { .. } => "lagging",
            ReplicaState::Down => "down",
        }
    }
}

/// The replicas, their lag limit, and the primary's recent positions with the connection
/// the watch reads them on.
pub(crate) struct ReplicaSet {
    pub(crate) members: Vec<Replica>,
    pub(crate) primary_watch: Lane,
    max_lag: Duration,
    timeline: Mutex<Timeline>,
    /// Where the next read starts looking, so reads spread over the replicas.
    next: AtomicUsize,
}

impl ReplicaSet {
    /// `members`: each replica's name, read lane and watch lane, in configured order.
    pub(crate) fn new(
        members: Vec<(String, Lane, Lane)>,
        primary_watch: Lane,
        max_lag: Duration,
    ) -> Self {
        Self {
            members: members
                .into_iter()
                .enumerate()
                .map(|(index, (name, lane, watch))| Replica {
                    index,
                    name,
                    lane,
                    watch,
                    seen: Mutex::new(Seen {
                        down: true,
                        ..Seen::default()
                    }),
                })
                .collect(),
            primary_watch,
            max_lag,
            timeline: Mutex::new(Timeline::new(max_lag * 2 + STALE_AFTER)),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// A replica that may serve a read needing `floor`, if one may.
    pub(crate) fn pick(&self, floor: WalPosition) -> Option<&Replica> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        (0..n)
            .filter_map(|i| self.members.get((start + i) % n))
            .find(|r| r.serves(now, self.max_lag, floor))
    }

    /// Records where the primary was at `at` (taken before asking, so lag is never
    /// understated).
    pub(crate) fn primary_at(&self, at: Instant, position: WalPosition) {
        lock(&self.timeline).record(at, position);
    }

    /// Records a replica's answer to the watch, and logs a change of state.
    pub(crate) fn answered(&self, replica: &Replica, position: WalPosition) {
        let now = Instant::now();
        let lag = lock(&self.timeline).lag(position, now, STALE_AFTER);
        let before = replica.state_at(now, self.max_lag);
        {
            let mut seen = lock(&replica.seen);
            seen.answered = Some((now, position));
            seen.lag = lag;
            seen.down = false;
        }
        self.log_change(replica, before, replica.state_at(now, self.max_lag));
    }

    /// Takes a replica out of service after a failed check or read, saying why once.
    pub(crate) fn failed(&self, replica: &Replica, why: &dyn std::fmt::Display) {
        let now = Instant::now();
        let before = replica.state_at(now, self.max_lag);
        lock(&replica.seen).down = true;
        if before != ReplicaState::Down {
            tracing::warn!(replica = %replica.name, error = %why,
                "a read replica is down; its reads go to the primary until it answers again");
        }
    }

    /// Every replica's state, for `/ready` and the metrics.
    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        let now = Instant::now();
        self.members
            .iter()
            .map(|r| ReplicaStatus {
                index: r.index,
                state: r.state_at(now, self.max_lag),
            })
            .collect()
    }

    fn log_change(&self, replica: &Replica, before: ReplicaState, after: ReplicaState) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match (before, after) {
            (ReplicaState::Serving { .. }, ReplicaState::Serving { .. })
            | (ReplicaState::Lagging { .. }, ReplicaState::Lagging { .. })
            | (_, ReplicaState::Down) => {}
            (_, ReplicaState::Serving { lag }) => tracing::info!(replica = %replica.name,
                lag_ms = ms(lag), "a read replica serves reads"),
            (_, ReplicaState::Lagging { lag }) => tracing::warn!(replica = %replica.name,
                lag_ms = ms(lag), max_lag_ms = ms(self.max_lag),
                "a read replica is behind the lag limit; its reads go to the primary"),
        }
    }
}

impl Replica {
    /// Its state as of `now`: what the watch last saw, unless that is too old.
    fn state_at(&self, now: Instant, max_lag: Duration) -> ReplicaState {
        let seen = *lock(&self.seen);
        match (seen.answered, seen.lag) {
            (Some((at, _)), Some(lag))
                if !seen.down && now.saturating_duration_since(at) <= STALE_AFTER =>
            {
                if lag <= max_lag {
                    ReplicaState::Serving { lag }
                } else {
                    ReplicaState::Lagging { lag }
                }
            }
            _ => ReplicaState::Down,
        }
    }

    /// Whether it may serve a read that needs `floor` replayed.
    fn serves(&self, now: Instant, max_lag: Duration, floor: WalPosition) -> bool {
        let replayed = lock(&self.seen).answered.map(|(_, p)| p);
        matches!(self.state_at(now, max_lag), ReplicaState::Serving { .. })
            && replayed.is_some_and(|p| p >= floor)
    }
}

/// The lock, even if a thread panicked holding it (the data is plain values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
