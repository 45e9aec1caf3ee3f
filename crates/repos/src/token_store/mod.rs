//! The token store, in three contracts: sessions ([`SessionStore`]), failed-attempt
//! counters ([`RateCounters`]), sign-ins waiting for their second factor
//! ([`SignInChallenges`]), users' last writes ([`WriteMarks`]) and records taken once
//! ([`SingleUse`]: a ceremony's state between its two requests).
//!
//! Two implementations pass one contract suite: [`RedisTokenStore`] for any number of
//! processes, [`MemoryTokenStore`] for a single process. [`AnyTokenStore`] picks one at run
//! time without boxing futures.

use std::time::Duration;

mod any;
mod challenges;
mod counters;
mod marks;
mod memory;
mod redis;
mod sessions;
mod single_use;

pub use any::AnyTokenStore;
pub use challenges::{ChallengeTry, SignInChallenge, SignInChallenges};
pub use counters::{counter_digest, RateCount, RateCounters};
pub use marks::WriteMarks;
pub use memory::{MemoryTokenStore, MAX_COUNTERS};
pub use redis::{RedisOptions, RedisStats, RedisTokenStore};
pub use sessions::{NewSession, PairState, Rotation, RotationRequest, SessionInfo, SessionStore};
pub use single_use::{SingleUse, MAX_SINGLE_USE_BYTES};

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
