//! Sign-ins waiting for their second factor, in memory: held to the counters' cap, tried
//! one at a time up to their limit, taken once.

use std::time::{Duration, Instant};

use super::{MemoryTokenStore, FULL_SWEEP_EVERY};
use crate::token_store::{ChallengeTry, MfaChallenge};
use crate::RepoError;

impl MemoryTokenStore {
    /// Stores a challenge; an outage (503) when the store holds its cap of them.
    pub(super) fn put_challenge(
        &self,
        key: &str,
        challenge: &MfaChallenge,
        ttl: Duration,
    ) -> Result<(), RepoError> {
        let mut inner = self.lock();
        if inner.challenges.len() >= inner.max_counters {
            if inner.last_sweep.elapsed() >= FULL_SWEEP_EVERY {
                inner.sweep();
            }
            if inner.challenges.len() >= inner.max_counters {
                return Err(RepoError::Unavailable {
                    what: "token store",
                    detail: format!(
                        "{} sign-ins waiting for a second factor",
                        inner.challenges.len()
                    ),
                });
            }
        }
        let until = Instant::now() + ttl;
        inner
            .challenges
            .insert(key.to_owned(), (challenge.clone(), 0, false, until));
        Ok(())
    }

    /// One try, as `TokenStore::challenge_try` says.
    pub(super) fn try_challenge(&self, key: &str, max_tries: u64) -> ChallengeTry {
        let mut inner = self.lock();
        let Some((challenge, tries, busy, until)) = inner.challenges.get_mut(key) else {
            return ChallengeTry::Gone;
        };
        if *until <= Instant::now() {
            inner.challenges.remove(key);
            return ChallengeTry::Gone;
        }
        if *busy {
            return ChallengeTry::Busy;
        }
        if *tries >= max_tries {
            return ChallengeTry::Gone;
        }
        *tries += 1;
        *busy = true;
        ChallengeTry::Granted(challenge.clone(), *tries)
    }

    /// Lets the next try in.
    pub(super) fn release_challenge(&self, key: &str) {
        if let Some((_, _, busy, _)) = self.lock().challenges.get_mut(key) {
            *busy = false;
        }
    }

    /// Deletes the challenge; whether this call did, while it was live.
    pub(super) fn take_challenge(&self, key: &str) -> bool {
        self.lock()
            .challenges
            .remove(key)
            .is_some_and(|(_, _, _, until)| until > Instant::now())
    }
}
