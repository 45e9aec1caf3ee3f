//! Failed-attempt counters on Redis: each counter its own key (its own slot on a cluster),
//! counted and settled by scripts that read the window in the same atomic step.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::{rate_count, RedisTokenStore, FORGIVE, HIT};
use crate::token_store::{RateCount, RateCounters};
use crate::RepoError;

impl RateCounters for RedisTokenStore {
    async fn rate_hit(
        &self,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<RateCount>, RepoError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        // One script per counter (each is its own hash slot): the count and the window it
        // landed in are read in the same atomic step, never across a window's end.
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("EVAL")
                .arg(HIT)
                .arg(1)
                .arg(self.rate_key(k))
                .arg(window_ms);
        }
        let replies: Vec<(u64, i64, i64)> = if self.conn.is_cluster() {
            // Each counter is its own slot, and a cluster pipeline stays within one.
            let mut replies = Vec::with_capacity(keys.len());
            for k in keys {
                let key = self.rate_key(k);
                replies.push(
                    self.run("rate_hit", |mut c| async move {
                        redis::cmd("EVAL")
                            .arg(HIT)
                            .arg(1)
                            .arg(&key)
                            .arg(window_ms)
                            .query_async(&mut c)
                            .await
                    })
                    .await?,
                );
            }
            replies
        } else {
            self.run(
                "rate_hit",
                |mut c| async move { pipe.query_async(&mut c).await },
            )
            .await?
        };
        Ok(replies
            .into_iter()
            .map(|(count, ttl, ends)| rate_count(count, ttl, ends))
            .collect())
    }

    async fn rate_settle(
        &self,
        clear: &[String],
        forgive: &[(String, u64)],
    ) -> Result<(), RepoError> {
        if clear.is_empty() && forgive.is_empty() {
            return Ok(());
        }
        if self.conn.is_cluster() {
            // Each counter is its own slot, and a cluster pipeline stays within one.
            for k in clear {
                self.rate_clear(k).await?;
            }
            for (k, window) in forgive {
                self.rate_forgive(k, *window).await?;
            }
            return Ok(());
        }
        // One command per counter (each is its own hash slot), all in one pipeline.
        let mut pipe = redis::pipe();
        for k in clear {
            pipe.cmd("DEL").arg(self.rate_key(k)).ignore();
        }
        for (k, window) in forgive {
            pipe.cmd("EVAL")
                .arg(FORGIVE)
                .arg(1)
                .arg(self.rate_key(k))
                .arg(*window)
                .ignore();
        }
        self.run("rate_settle", |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }
}

impl RedisTokenStore {
    async fn rate_clear(&self, key: &str) -> Result<(), RepoError> {
        let key = self.rate_key(key);
        self.run("rate_clear", |mut c| async move {
            redis::cmd("DEL").arg(&key).query_async::<()>(&mut c).await
        })
        .await
    }

    async fn rate_forgive(&self, key: &str, window: u64) -> Result<(), RepoError> {
        let key = self.rate_key(key);
        let script = Arc::clone(&self.forgive);
        self.run("rate_forgive", |mut c| async move {
            script
                .key(&key)
                .arg(window)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(drop)
    }

    /// The current count of each counter, without counting (for tests).
    #[cfg(feature = "test-support")]
    pub async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
        // One pipeline, or on a cluster one per counter (a cluster pipeline stays in a slot).
        let groups: Vec<&[String]> = if self.conn.is_cluster() {
            keys.chunks(1).collect()
        } else {
            vec![keys]
        };
        let mut replies: Vec<(Option<u64>, i64, i64)> = Vec::with_capacity(keys.len());
        for group in groups {
            let mut pipe = redis::pipe();
            for k in group {
                let key = self.rate_key(k);
                pipe.cmd("GET")
                    .arg(&key)
                    .cmd("PTTL")
                    .arg(&key)
                    .cmd("PEXPIRETIME")
                    .arg(&key);
            }
            let got: Vec<(Option<u64>, i64, i64)> = self
                .run("rate_peek", |mut c| async move {
                    pipe.query_async(&mut c).await
                })
                .await?;
            replies.extend(got);
        }
        Ok(replies
            .into_iter()
            .map(|(count, ttl, ends)| rate_count(count.unwrap_or(0), ttl, ends))
            .collect())
    }
}
