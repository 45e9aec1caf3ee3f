//! Sessions on Redis: each operation one script (or one command) on the user's slot.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::{parse_i64, parse_pair, secs, RedisTokenStore, GENERATION_TTL_MS};
use crate::token_store::{NewSession, Rotation, RotationRequest, SessionInfo, SessionStore};
use crate::RepoError;

impl SessionStore for RedisTokenStore {
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
                    .arg("how")
                    .arg(&s.method)
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
        let (uid, ajti): (Option<String>, Option<String>) = self
            .run("authenticate", |mut c| async move {
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
        let reply: Vec<String> = self
            .run("rotate", |mut c| async move {
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
        for row in flat.chunks(9) {
            let [id, uid, created, iat, cap, ua, ip, mfa, how] = row else {
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
                method: Some(how.clone()).filter(|v| !v.is_empty()),
            });
        }
        out.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        Ok(out)
    }
}
