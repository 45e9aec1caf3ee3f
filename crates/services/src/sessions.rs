//! Sessions after sign-in: opening one, signing its token pair, refresh with rotation and
//! reuse detection, the check of a bearer token on every protected request, logout (one,
//! all, or one chosen from the list) and the session list.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use repos::{
    AnyTokenStore, NewSession, PairState, Rotation, RotationRequest, SessionStore, UserRepo,
};

use crate::audit::{event, Audit, AuditKind};
use crate::client::ClientInfo;
use crate::domain::Id;
use crate::jwt::{Claims, JwtKeys, TokenKind};
use crate::outcomes;
use crate::views::{SessionView, TokenPair};
use crate::{AuthSettings, ServiceError};

/// Who is calling: the user and the session their access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub session_id: String,
}

/// How a sign-in proved who it is: its password, then perhaps a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInMethod {
    Password,
    PasswordAndTotp,
    PasswordAndBackupCode,
    /// A passkey whose authenticator verified its user (a PIN, a fingerprint): two
    /// factors in one.
    Passkey,
    /// An OpenID Connect provider's ID token: one factor, as far as strata can tell.
    Provider,
}

impl SignInMethod {
    fn second_factor(self) -> bool {
        !matches!(self, SignInMethod::Password | SignInMethod::Provider)
    }

    fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::PasswordAndTotp => "password_and_totp",
            SignInMethod::PasswordAndBackupCode => "password_and_backup_code",
            SignInMethod::Passkey => "passkey",
            SignInMethod::Provider => "oidc",
        }
    }
}

/// How opening a session after a sign-in ended.
#[derive(Debug)]
pub(crate) enum Opening {
    /// The session is stored; here are its tokens.
    Opened(TokenPair),
    /// The password the sign-in proved is no longer the account's (changed, reset, or the
    /// account deleted meanwhile): nothing is stored, and the sign-in failed.
    Superseded,
}

/// The refusal of a banned account's sign-in, if `user` is banned now.
pub(crate) fn banned(user: &repos::UserRecord) -> Option<ServiceError> {
    user.banned(repos::now_utc())
        .map(|b| ServiceError::AccountBanned {
            until: b.until.map(crate::views::Timestamp::from_utc),
        })
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The sessions of every user.
#[derive(Clone)]
pub struct Sessions {
    users: UserRepo,
    store: AnyTokenStore,
    keys: Arc<JwtKeys>,
    settings: Arc<AuthSettings>,
    audit: Audit,
}

impl Sessions {
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        keys: JwtKeys,
        settings: Arc<AuthSettings>,
        audit: Audit,
    ) -> Self {
        Self {
            users,
            store,
            keys: Arc::new(keys),
            settings,
            audit,
        }
    }

    /// The audit trail the sign-in steps write to.
    pub(crate) fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Records a change made in the token store to `user_id`'s sessions, from `client`.
    async fn record(
        &self,
        kind: AuditKind,
        user_id: &str,
        client: &ClientInfo,
        details: serde_json::Value,
    ) {
        let e = event(kind, Some(user_id), Some(user_id), client, details);
        self.audit.record(e).await;
    }

    /// Opens a session for an account whose password (and second factor, by `method`) was
    /// just proven, unless a logout-all ran since the sign-in read the user's `generation`
    /// (`TokenRevoked`: the user asked for every session to end; `AccountBanned`: an admin
    /// banned the account meanwhile). The sign-in is recorded in the audit trail.
    pub(crate) async fn open(
        &self,
        creds: repos::Credentials,
        client: ClientInfo,
        method: SignInMethod,
        generation: u64,
    ) -> Result<Opening, ServiceError> {
        let s = &self.settings;
        let second_factor = method.second_factor();
        let (user, proven) = (creds.user, creds.password_version);
        let now = Utc::now().timestamp();
        let session_id = Id::random().to_string();
        let expires_at = now.saturating_add(secs(s.session_max_lifetime));
        let pair = PairState {
            access_jti: Id::random().to_string(),
            refresh_jti: Id::random().to_string(),
            issued_at: now,
            access_expires_at: now.saturating_add(secs(s.access_ttl)).min(expires_at),
            refresh_expires_at: now.saturating_add(secs(s.refresh_ttl)).min(expires_at),
        };
        let stored = self
            .store
            .create_session(&NewSession {
                session_id: session_id.clone(),
                user_id: user.id.clone(),
                pair: pair.clone(),
                expires_at,
                user_agent: client
                    .user_agent
                    .as_deref()
                    .map(|ua| ua.chars().take(256).collect()),
                ip: client.ip.clone(),
                second_factor,
                method: method.as_str().to_owned(),
                generation,
            })
            .await?;
        if !stored {
            // A logout-all came first (a password change or an account deletion ends every
            // session that way too: then the password given is no longer the account's).
            outcomes::login("superseded");
            let current = self.users.credentials_by_id(&user.id).await?;
            return match current {
                Some(c) if c.password_version == proven => {
                    Err(banned(&c.user).unwrap_or(ServiceError::TokenRevoked))
                }
                _ => Ok(Opening::Superseded),
            };
        }
        if !self
            .still_current(&user.id, &session_id, proven, second_factor)
            .await?
        {
            return Ok(Opening::Superseded);
        }
        tracing::info!(user_id = %user.id, session_id = %session_id, "login");
        outcomes::login("ok");
        let details = serde_json::json!({ "method": method.as_str(), "session_id": session_id });
        let signed_in = event(
            AuditKind::SignedIn,
            Some(&user.id),
            Some(&user.id),
            &client,
            details,
        );
        self.audit.record(signed_in).await;
        Ok(Opening::Opened(self.pair(&user.id, &session_id, &pair)?))
    }

    /// Closes the race between a login and a password change, an account deletion or a
    /// ban. Each
    /// revokes every session it can find once the new hash is stored (or the user is gone);
    /// a login verifies against the hash it read before, which takes a hash's time, and so
    /// could open its session after that sweep and outlive the old password. The session is
    /// now stored: if the password just proven is still the account's, the change (if any)
    /// comes later and its sweep will find this session (`true`); if not, the session is
    /// withdrawn (`false`). Its tokens have not left the service yet, so even a session the
    /// withdrawal could not reach is one nobody holds a token for.
    async fn still_current(
        &self,
        user_id: &str,
        session_id: &str,
        proven: i64,
        second_factor: bool,
    ) -> Result<bool, ServiceError> {
        let current = self.users.credentials_by_id(user_id).await;
        // A second factor turned on since the account was read is owed too.
        if matches!(&current, Ok(Some(c)) if c.password_version == proven
            && (second_factor || !c.user.mfa_enabled)
            && banned(&c.user).is_none())
        {
            return Ok(true);
        }
        if let Err(e) = self.store.revoke(user_id, session_id).await {
            tracing::warn!(user_id, session_id, error = %e, "could not withdraw a login's session");
        }
        if let Some(refusal) = current?.as_ref().and_then(|c| banned(&c.user)) {
            return Err(refusal);
        }
        outcomes::login("superseded");
        Ok(false)
    }

    /// Signs the tokens of `pair`. The same state always gives the same tokens.
    fn pair(
        &self,
        user_id: &str,
        session_id: &str,
        pair: &PairState,
    ) -> Result<TokenPair, ServiceError> {
        let keys = &self.keys;
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
        let claims = self.keys.verify(TokenKind::Refresh, refresh_token)?;
        let s = &self.settings;
        let rotation = self
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
                outcomes::refresh("reused");
                outcomes::revoked("reuse", 1);
                let details = serde_json::json!({ "session_id": claims.sid });
                self.record(
                    AuditKind::RefreshReuseDetected,
                    &user_id,
                    &ClientInfo::default(),
                    details,
                )
                .await;
                Err(ServiceError::RefreshTokenReused)
            }
            Rotation::Missing => {
                outcomes::refresh("revoked");
                Err(ServiceError::TokenRevoked)
            }
        }
    }

    /// Checks a bearer token: signature and claims locally, then one token-store round trip
    /// proving the session is alive and this is its current access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, ServiceError> {
        let claims = self.live_claims(access_token).await?;
        Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    /// The claims of a live access token: signed, unexpired, and its session's current
    /// one (what introspection tells a resource server).
    pub(crate) async fn live_claims(&self, access_token: &str) -> Result<Claims, ServiceError> {
        let claims = self.keys.verify(TokenKind::Access, access_token)?;
        match self
            .store
            .authenticate(&claims.sub, &claims.sid, &claims.jti)
            .await?
        {
            Some(user_id) if user_id == claims.sub => Ok(claims),
            _ => Err(ServiceError::TokenRevoked),
        }
    }

    /// Ends the session of `access_token`: its access and refresh tokens stop working at
    /// once. The access token a refresh replaced within `REFRESH_REUSE_GRACE` still ends it
    /// (another tab refreshed just before this logout); the user asked for the session to
    /// end, and it must not live on.
    pub async fn logout(
        &self,
        access_token: &str,
        client: &ClientInfo,
    ) -> Result<Principal, ServiceError> {
        let claims = self.keys.verify(TokenKind::Access, access_token)?;
        let ended = self
            .store
            .logout(
                &claims.sub,
                &claims.sid,
                &claims.jti,
                self.settings.refresh_reuse_grace,
                Utc::now().timestamp_millis(),
            )
            .await?;
        if !ended {
            return Err(ServiceError::TokenRevoked);
        }
        tracing::info!(user_id = %claims.sub, session_id = %claims.sid, "logout");
        let details = serde_json::json!({ "session_id": claims.sid });
        self.record(AuditKind::SignedOut, &claims.sub, client, details)
            .await;
        Ok(Principal {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    /// Ends every session of the caller.
    pub async fn logout_all(
        &self,
        who: &Principal,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let n = self.revoke_all(&who.user_id, None).await?;
        outcomes::revoked("logout_all", n);
        tracing::info!(user_id = %who.user_id, sessions = n, "logout of all sessions");
        let details = serde_json::json!({ "sessions": n });
        self.record(AuditKind::AllSessionsRevoked, &who.user_id, client, details)
            .await;
        Ok(())
    }

    /// Ends every session of `user_id` but `keep`; how many ended.
    pub(crate) async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<usize, ServiceError> {
        Ok(self.store.revoke_all(user_id, keep).await?)
    }

    /// The caller's live sessions, the caller's own marked `current`.
    pub async fn sessions(&self, who: &Principal) -> Result<Vec<SessionView>, ServiceError> {
        let now = Utc::now().timestamp();
        let list = self.store.list(&who.user_id, now).await?;
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
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let Some(id) = Id::parse(session_id) else {
            return Err(ServiceError::NotFound);
        };
        if self.store.revoke(&who.user_id, &id.to_string()).await? {
            let details = serde_json::json!({ "session_id": id.to_string() });
            self.record(AuditKind::SessionRevoked, &who.user_id, client, details)
                .await;
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }
}
