//! Sign-ins waiting for their second factor, in memory: held to the counters' cap, tried
//! one at a time up to their limit, taken once.

use std::time::{Duration, Instant};

use super::{MemoryTokenStore, FULL_SWEEP_EVERY};
use crate::token_store::{ChallengeTry, SignInChallenge, SignInChallenges};
use crate::RepoError;

impl SignInChallenges for MemoryTokenStore {
    /// Stores a challenge; an outage (503) when the store holds its cap of them.
    async fn challenge_put(
        &self,
        key: &str,
        challenge: &SignInChallenge,
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

    async fn challenge_try(&self, key: &str, max_tries: u64) -> Result<ChallengeTry, RepoError> {
        let mut inner = self.lock();
        let Some((challenge, tries, busy, until)) = inner.challenges.get_mut(key) else {
            return Ok(ChallengeTry::Gone);
        };
        if *until <= Instant::now() {
            inner.challenges.remove(key);
            return Ok(ChallengeTry::Gone);
        }
        if *busy {
            return Ok(ChallengeTry::Busy);
        }
        if *tries >= max_tries {
            return Ok(ChallengeTry::Gone);
        }
        *tries += 1;
        *busy = true;
        Ok(ChallengeTry::Granted(challenge.clone(), *tries))
    }

    async fn challenge_release(&self, key: &str) -> Result<(), RepoError> {
        if let Some((_, _, busy, _)) = self.lock().challenges.get_mut(key) {
            *busy = false;
        }
        Ok(())
    }

    async fn challenge_take(&self, key: &str) -> Result<bool, RepoError> {
        Ok(self
            .lock()
            .challenges
            .remove(key)
            .is_some_and(|(_, _, _, until)| until > Instant::now()))
    }
}
