//! The token-store operations on Redis: each one script or pipeline, mostly on one key.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::{
    parse_i64, parse_pair, rate_count, secs, RedisTokenStore, FORGIVE, GENERATION_TTL_MS, HIT,
};
use crate::token_store::{
    ChallengeTry, MfaChallenge, NewSession, RateCount, Rotation, RotationRequest, SessionInfo,
    TokenStore,
};
use crate::RepoError;

/// Lets the next try at a challenge in, if the challenge is still there.
const RELEASE: &str =
    "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'busy', '0') end";

impl TokenStore for RedisTokenStore {
    async fn generation(&self, user_id: &str) -> Result<u64, RepoError> {
        let key = self.generation_key(user_id);
        let n: Option<u64> = self
            .run("generation", |mut c| async move {
                redis::cmd("GET").arg(&key).query_async(&mut c).await
            })
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn create_session(&self, s: &NewSession) -> Result<bool, RepoError> {
        let keys = [
            self.session_key(&s.user_id, &s.session_id),
            self.user_key(&s.user_id),
            self.generation_key(&s.user_id),
        ];
        let script = Arc::clone(&self.create);
        let stored: i64 = self
            .run("create_session", |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(s.generation)
                    .arg(&s.session_id)
                    .arg(s.pair.issued_at)
                    .arg(s.expires_at)
                    .arg(s.expires_at.saturating_mul(1000))
                    .arg(s.pair.refresh_expires_at.saturating_mul(1000))
                    .arg("uid")
                    .arg(&s.user_id)
                    .arg("ajti")
                    .arg(&s.pair.access_jti)
                    .arg("rjti")
                    .arg(&s.pair.refresh_jti)
                    .arg("prjti")
                    .arg("")
                    .arg("rot")
                    .arg(0)
                    .arg("iat")
                    .arg(s.pair.issued_at)
                    .arg("aexp")
                    .arg(s.pair.access_expires_at)
                    .arg("rexp")
                    .arg(s.pair.refresh_expires_at)
                    .arg("cap")
                    .arg(s.expires_at)
                    .arg("created")
                    .arg(s.pair.issued_at)
                    .arg("ua")
                    .arg(s.user_agent.as_deref().unwrap_or(""))
                    .arg("ip")
                    .arg(s.ip.as_deref().unwrap_or(""))
                    .arg("mfa")
                    .arg(u8::from(s.second_factor))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(stored == 1)
    }

    async fn authenticate(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
    ) -> Result<Option<String>, RepoError> {
        let key = self.session_key(user_id, session_id);
        let route = self.route(&key, true);
        let (uid, ajti): (Option<String>, Option<String>) = self
            .conn
            .run("authenticate", route, |mut c| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("uid")
                    .arg("ajti")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(match (uid, ajti) {
            (Some(uid), Some(ajti)) if ajti == access_jti => Some(uid),
            _ => None,
        })
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<Rotation, RepoError> {
        let keys = [
            self.session_key(&r.user_id, &r.session_id),
            self.user_key(&r.user_id),
        ];
        let grace_ms = u64::try_from(r.grace.as_millis()).unwrap_or(u64::MAX);
        let script = Arc::clone(&self.rotate);
        let route = self.route(&keys[0], false);
        let reply: Vec<String> = self
            .conn
            .run("rotate", route, |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(&r.presented_jti)
                    .arg(&r.new_access_jti)
                    .arg(&r.new_refresh_jti)
                    .arg(r.now_ms)
                    .arg(grace_ms)
                    .arg(secs(r.access_ttl))
                    .arg(secs(r.refresh_ttl))
                    .arg(&r.session_id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match reply.first().map(String::as_str) {
            Some("missing") => Ok(Rotation::Missing),
            Some("rotated") => {
                parse_pair(&reply).map(|(user_id, pair)| Rotation::Rotated { user_id, pair })
            }
            Some("grace") => {
                parse_pair(&reply).map(|(user_id, pair)| Rotation::Grace { user_id, pair })
            }
            Some("reused") => Ok(Rotation::Reused {
                user_id: reply.get(1).cloned().unwrap_or_default(),
            }),
            _ => Err(RepoError::TokenStore(format!(
                "unexpected rotate reply {reply:?}"
            ))),
        }
    }

    async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        let keys = [
            self.session_key(user_id, session_id),
            self.user_key(user_id),
        ];
        let script = Arc::clone(&self.revoke);
        let deleted: i64 = self
            .run("revoke", |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(user_id)
                    .arg(session_id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> Result<bool, RepoError> {
        let keys = [
            self.session_key(user_id, session_id),
            self.user_key(user_id),
        ];
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        let script = Arc::clone(&self.logout);
        let deleted: i64 = self
            .run("logout", |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(user_id)
                    .arg(access_jti)
                    .arg(grace_ms)
                    .arg(now_ms)
                    .arg(session_id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, RepoError> {
        let keys = [self.user_key(user_id), self.generation_key(user_id)];
        let prefix = self.session_prefix(user_id);
        let script = Arc::clone(&self.revoke_all);
        let deleted: u64 = self
            .run("revoke_all", |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(keep.unwrap_or(""))
                    .arg(&prefix)
                    .arg(GENERATION_TTL_MS)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    async fn list(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>, RepoError> {
        let key = self.user_key(user_id);
        let prefix = self.session_prefix(user_id);
        let script = Arc::clone(&self.list);
        let flat: Vec<String> = self
            .run("list", |mut c| async move {
                script
                    .key(&key)
                    .arg(now)
                    .arg(&prefix)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let mut out = Vec::new();
        for row in flat.chunks(8) {
            let [id, uid, created, iat, cap, ua, ip, mfa] = row else {
                return Err(RepoError::TokenStore("short session list reply".into()));
            };
            if uid != user_id {
                continue;
            }
            out.push(SessionInfo {
                session_id: id.clone(),
                user_id: user_id.to_owned(),
                created_at: parse_i64(Some(created))?,
                refreshed_at: parse_i64(Some(iat))?,
                expires_at: parse_i64(Some(cap))?,
                user_agent: Some(ua.clone()).filter(|v| !v.is_empty()),
                ip: Some(ip.clone()).filter(|v| !v.is_empty()),
                second_factor: mfa == "1",
            });
        }
        out.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        Ok(out)
    }

    async fn rate_peek(&self, keys: &[String]) -> Result<Vec<RateCount>, RepoError> {
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

    async fn challenge_put(
        &self,
        key: &str,
        challenge: &MfaChallenge,
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
                MfaChallenge {
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

    /// On a cluster, every primary of its slot map must answer.
    async fn ping(&self) -> Result<(), RepoError> {
        self.on_every_primary("ping", redis::cmd("PING"))
            .await
            .map(drop)
    }
}
