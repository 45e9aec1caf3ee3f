//! The failed-attempt counters contract: a counter per name and window, counted before an
//! attempt is checked and settled once its outcome is known (see `services::attempts`).

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

/// A failed-login counter: how many in the window, and when the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCount {
    pub count: u64,
    pub resets_in: Duration,
    /// Which window the count belongs to: an opaque id, different for every window of a
    /// counter; 0 when there is none.
    pub window: u64,
}

/// Counters of attempts in a window. Each call is one round trip to Redis.
pub trait RateCounters: Send + Sync {
    /// Counts one more attempt on each counter and returns the new counts; a counter's window
    /// starts at its first hit.
    fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> impl Future<Output = Result<Vec<RateCount>, RepoError>> + Send;

    /// Settles an attempt once its check has run, in one round trip: forgets the counters
    /// `clear`, and takes one hit back from each of `forgive` (a name and the window its hit
    /// was counted in, from [`RateCount::window`]), keeping the window. A hit is taken back
    /// only while its window lasts; a counter brought back to zero is deleted, so refused
    /// attempts leave nothing behind.
    fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> impl Future<Output = Result<(), RepoError>> + Send;
}

/// The fixed-size name a counter is stored under: 32 hex digits of the SHA-256 of the name
/// the caller gave. Whatever a client sends as a username, a counter costs the same bytes.
pub fn counter_digest(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}
