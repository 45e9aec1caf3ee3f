//! Sessions in memory: each operation under the store's one lock.

use std::time::{Duration, Instant};

use super::{pair_expiry, unix_now, MemoryTokenStore, Session, GENERATION_KEPT};
use crate::token_store::{
    NewSession, PairState, Rotation, RotationRequest, SessionInfo, SessionStore,
};
use crate::RepoError;

impl SessionStore for MemoryTokenStore {
    async fn generation(&self, user_id: &str) -> Result<u64, RepoError> {
        Ok(self.lock().generation(user_id))
    }

    async fn create_session(&self, s: &NewSession) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        if inner.generation(&s.user_id) != s.generation {
            return Ok(false);
        }
        inner
            .by_user
            .entry(s.user_id.clone())
            .or_default()
            .insert(s.session_id.clone());
        inner.sessions.insert(
            s.session_id.clone(),
            Session {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
                previous_refresh_jti: None,
                rotated_at_ms: 0,
                created_at: s.pair.issued_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
                previous_access_jti: None,
                second_factor: s.second_factor,
                method: s.method.clone(),
            },
        );
        Ok(true)
    }

    async fn authenticate(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
    ) -> Result<Option<String>, RepoError> {
        let mut inner = self.lock();
        Ok(inner
            .live(session_id)
            .filter(|s| s.user_id == user_id && s.pair.access_jti == access_jti)
            .map(|s| s.user_id.clone()))
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<Rotation, RepoError> {
        let mut inner = self.lock();
        let Some(s) = inner.live(&r.session_id).filter(|s| s.user_id == r.user_id) else {
            return Ok(Rotation::Missing);
        };
        if s.pair.refresh_jti == r.presented_jti {
            let issued_at = r.now_ms.div_euclid(1000);
            if issued_at >= s.expires_at {
                inner.remove(&r.session_id);
                return Ok(Rotation::Missing);
            }
            let (access_expires_at, refresh_expires_at) =
                pair_expiry(issued_at, r.access_ttl, r.refresh_ttl, s.expires_at);
            s.previous_refresh_jti = Some(std::mem::take(&mut s.pair.refresh_jti));
            s.previous_access_jti = Some(std::mem::take(&mut s.pair.access_jti));
            s.rotated_at_ms = r.now_ms;
            s.pair = PairState {
                access_jti: r.new_access_jti.clone(),
                refresh_jti: r.new_refresh_jti.clone(),
                issued_at,
                access_expires_at,
                refresh_expires_at,
            };
            return Ok(Rotation::Rotated {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
            });
        }
        let grace_ms = i64::try_from(r.grace.as_millis()).unwrap_or(i64::MAX);
        if s.previous_refresh_jti.as_deref() == Some(r.presented_jti.as_str())
            && r.now_ms - s.rotated_at_ms <= grace_ms
        {
            return Ok(Rotation::Grace {
                user_id: s.user_id.clone(),
                pair: s.pair.clone(),
            });
        }
        let user_id = s.user_id.clone();
        inner.remove(&r.session_id);
        Ok(Rotation::Reused { user_id })
    }

    async fn revoke(&self, user_id: &str, session_id: &str) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        let owned = inner.live(session_id).is_some_and(|s| s.user_id == user_id);
        if owned {
            inner.remove(session_id);
        }
        Ok(owned)
    }

    async fn logout(
        &self,
        user_id: &str,
        session_id: &str,
        access_jti: &str,
        grace: Duration,
        now_ms: i64,
    ) -> Result<bool, RepoError> {
        let mut inner = self.lock();
        let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
        let allowed = inner.live(session_id).is_some_and(|s| {
            s.user_id == user_id
                && (s.pair.access_jti == access_jti
                    || (s.previous_access_jti.as_deref() == Some(access_jti)
                        && now_ms - s.rotated_at_ms <= grace_ms))
        });
        if allowed {
            inner.remove(session_id);
        }
        Ok(allowed)
    }

    async fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<usize, RepoError> {
        let mut inner = self.lock();
        inner.last_generation += 1;
        let next = inner.last_generation;
        let until = Instant::now() + GENERATION_KEPT;
        inner.generations.insert(user_id.to_owned(), (next, until));
        let ids: Vec<String> = inner
            .by_user
            .get(user_id)
            .map(|set| {
                set.iter()
                    .filter(|id| Some(id.as_str()) != keep)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut n = 0;
        for id in ids {
            if inner
                .remove(&id)
                .is_some_and(|s| s.pair.refresh_expires_at > unix_now())
            {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list(&self, user_id: &str, now: i64) -> Result<Vec<SessionInfo>, RepoError> {
        let inner = self.lock();
        let mut out: Vec<SessionInfo> = inner
            .by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|id| inner.sessions.get(id).map(|s| (id, s)))
            .filter(|(_, s)| s.pair.refresh_expires_at > now)
            .map(|(id, s)| SessionInfo {
                session_id: id.clone(),
                user_id: s.user_id.clone(),
                created_at: s.created_at,
                refreshed_at: s.pair.issued_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent.clone(),
                ip: s.ip.clone(),
                second_factor: s.second_factor,
                method: Some(s.method.clone()),
            })
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.session_id).cmp(&(b.created_at, &b.session_id)));
        Ok(out)
    }
}
