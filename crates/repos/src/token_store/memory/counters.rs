//! Failed-attempt counters in memory, held to a cap like a full Redis.

use std::time::{Duration, Instant};

use super::{window_id, MemoryTokenStore, FULL_SWEEP_EVERY};
use crate::token_store::{counter_digest, RateCount, RateCounters};
use crate::RepoError;

impl RateCounters for MemoryTokenStore {
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

    async fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> Result<(), RepoError> {
        let mut inner = self.lock();
        for k in clear {
            inner.rates.remove(&counter_digest(k));
        }
        for (k, window) in forgive {
            let digest = counter_digest(k);
            let Some((count, until)) = inner.rates.get_mut(&digest) else {
                continue;
            };
            if *until > Instant::now() && window_id(*until) == *window {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    inner.rates.remove(&digest);
                }
            }
        }
        Ok(())
    }
}

impl MemoryTokenStore {
    /// The current count of each counter, without counting (for tests).
    #[cfg(feature = "test-support")]
    pub async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        let inner = self.lock();
        let now = Instant::now();
        Ok(keys
            .iter()
            .map(|k| match inner.rates.get(&counter_digest(k)) {
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
            })
            .collect())
    }
}
