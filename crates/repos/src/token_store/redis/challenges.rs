//! Sign-ins waiting for their second factor, on Redis: one hash per challenge.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::RedisTokenStore;
use crate::token_store::{ChallengeTry, SignInChallenge, SignInChallenges};
use crate::RepoError;

/// Lets the next try at a challenge in, if the challenge is still there.
const RELEASE: &str = include_str!("../lua/challenge_release.lua");

impl SignInChallenges for RedisTokenStore {
    async fn challenge_put(
        &self,
        key: &str,
        challenge: &SignInChallenge,
        ttl: Duration,
    ) -> Result<(), RepoError> {
        let key = self.challenge_key(key);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HSET")
            .arg(&key)
            .arg("uid")
            .arg(&challenge.user_id)
            .arg("proof")
            .arg(&challenge.proof)
            .arg("gen")
            .arg(challenge.generation)
            .arg("tries")
            .arg(0)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms)
            .ignore();
        self.run("challenge_put", |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    async fn challenge_try(&self, key: &str, max_tries: u64) -> Result<ChallengeTry, RepoError> {
        let key = self.challenge_key(key);
        let script = Arc::clone(&self.challenge);
        let reply: Vec<String> = self
            .run("challenge_try", |mut c| async move {
                script.key(&key).arg(max_tries).invoke_async(&mut c).await
            })
            .await?;
        match reply.as_slice() {
            [] => Ok(ChallengeTry::Gone),
            [busy] if busy == "busy" => Ok(ChallengeTry::Busy),
            [user_id, proof, generation, tries] => Ok(ChallengeTry::Granted(
                SignInChallenge {
                    user_id: user_id.clone(),
                    proof: proof.clone(),
                    generation: generation.parse().unwrap_or(u64::MAX),
                },
                tries.parse().unwrap_or(u64::MAX),
            )),
            _ => Err(RepoError::TokenStore("malformed challenge record".into())),
        }
    }

    async fn challenge_release(&self, key: &str) -> Result<(), RepoError> {
        let key = self.challenge_key(key);
        // HSET on a key that expired meanwhile would bring it back without an expiry.
        self.run("challenge_release", |mut c| async move {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&key)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn challenge_take(&self, key: &str) -> Result<bool, RepoError> {
        let key = self.challenge_key(key);
        let deleted: i64 = self
            .run("challenge_take", |mut c| async move {
                redis::cmd("DEL").arg(&key).query_async(&mut c).await
            })
            .await?;
        Ok(deleted > 0)
    }
}
