//! Sessions after sign-in: signing a session's token pair, refresh with rotation and reuse
//! detection, the check of a bearer token on every protected request, logout (one, all, or
//! one chosen from the list) and the session list.

use chrono::Utc;
use repos::{PairState, Rotation, RotationRequest, SessionStore};

use crate::auth::{revoked, AuthService, Principal};
use crate::domain::Id;
use crate::jwt::TokenKind;
use crate::views::{SessionView, TokenPair};
use crate::ServiceError;

fn refresh_outcome(outcome: &'static str) {
    metrics::counter!("strata_auth_refreshes_total", "outcome" => outcome).increment(1);
}

impl AuthService {
    /// Signs the tokens of `pair`. The same state always gives the same tokens.
    pub(crate) fn pair(
        &self,
        user_id: &str,
        session_id: &str,
        pair: &PairState,
    ) -> Result<TokenPair, ServiceError> {
        let keys = &self.inner.keys;
        let now = Utc::now().timestamp();
        Ok(TokenPair {
            access_token: keys.sign(
                TokenKind::Access,
                user_id,
                session_id,
                &pair.access_jti,
                pair.issued_at,
                pair.access_expires_at,
            )?,
            refresh_token: keys.sign(
                TokenKind::Refresh,
                user_id,
                session_id,
                &pair.refresh_jti,
                pair.issued_at,
                pair.refresh_expires_at,
            )?,
            token_type: "Bearer",
            expires_in: (pair.access_expires_at - now).max(0),
            refresh_expires_in: (pair.refresh_expires_at - now).max(0),
            session_id: session_id.to_owned(),
        })
    }

    /// Exchanges a refresh token for a new pair. The previous refresh token within the
    /// grace gets the current pair again; any older one revokes the whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Refresh, refresh_token)?;
        let s = &self.inner.settings;
        let rotation = self
            .inner
            .store
            .rotate(&RotationRequest {
                user_id: claims.sub.clone(),
                session_id: claims.sid.clone(),
                presented_jti: claims.jti,
                new_access_jti: Id::random().to_string(),
                new_refresh_jti: Id::random().to_string(),
                now_ms: Utc::now().timestamp_millis(),
                access_ttl: s.access_ttl,
                refresh_ttl: s.refresh_ttl,
                grace: s.refresh_reuse_grace,
            })
            .await?;
        match rotation {
            Rotation::Rotated { user_id, pair } | Rotation::Grace { user_id, pair }
                if user_id == claims.sub =>
            {
                self.pair(&user_id, &claims.sid, &pair)
            }
            Rotation::Rotated { .. } | Rotation::Grace { .. } => Err(ServiceError::TokenInvalid),
            Rotation::Reused { user_id } => {
                tracing::warn!(user_id = %user_id, session_id = %claims.sid, "refresh token reused; session revoked");
                refresh_outcome("reused");
                revoked("reuse", 1);
                Err(ServiceError::RefreshTokenReused)
            }
            Rotation::Missing => {
                refresh_outcome("revoked");
                Err(ServiceError::TokenRevoked)
            }
        }
    }

    /// Checks a bearer token: signature and claims locally, then one token-store round trip
    /// proving the session is alive and this is its current access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Access, access_token)?;
        match self
            .inner
            .store
            .authenticate(&claims.sub, &claims.sid, &claims.jti)
            .await?
        {
            Some(user_id) if user_id == claims.sub => Ok(Principal {
                user_id,
                session_id: claims.sid,
            }),
            _ => Err(ServiceError::TokenRevoked),
        }
    }

    /// Ends the session of `access_token`: its access and refresh tokens stop working at
    /// once. The access token a refresh replaced within `REFRESH_REUSE_GRACE` still ends it
    /// (another tab refreshed just before this logout); the user asked for the session to
    /// end, and it must not live on.
    pub async fn logout(&self, access_token: &str) -> Result<Principal, ServiceError> {
        let claims = self.inner.keys.verify(TokenKind::Access, access_token)?;
        let ended = self
            .inner
            .store
            .logout(
                &claims.sub,
                &claims.sid,
                &claims.jti,
                self.inner.settings.refresh_reuse_grace,
                Utc::now().timestamp_millis(),
            )
            .await?;
        if !ended {
            return Err(ServiceError::TokenRevoked);
        }
        tracing::info!(user_id = %claims.sub, session_id = %claims.sid, "logout");
        Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    /// Ends every session of the caller.
    pub async fn logout_all(&self, who: &Principal) -> Result<(), ServiceError> {
        let n = self.revoke_all(&who.user_id, None).await?;
        revoked("logout_all", n);
        tracing::info!(user_id = %who.user_id, sessions = n, "logout of all sessions");
        Ok(())
    }

    /// Ends every session of `user_id` but `keep`.
    pub(crate) async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<usize, ServiceError> {
        Ok(self.inner.store.revoke_all(user_id, keep).await?)
    }

    /// The caller's live sessions, the caller's own marked `current`.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<SessionView>, ServiceError> {
        let now = Utc::now().timestamp();
        let list = self.inner.store.list(&who.user_id, now).await?;
        Ok(list
            .into_iter()
            .map(|s| SessionView::new(s, &who.session_id))
            .collect())
    }

    /// Ends one of the caller's sessions; another user's or an unknown one is `NotFound`.
    pub async fn revoke_session(
        &self,
        who: &Principal,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let Some(id) = Id::parse(session_id) else {
            return Err(ServiceError::NotFound);
        };
        if self
            .inner
            .store
            .revoke(&who.user_id, &id.to_string())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }
}
