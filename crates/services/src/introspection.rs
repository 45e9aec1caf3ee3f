//! RFC 7662 token introspection, for resource servers that need strata's instant
//! revocation rather than an offline check of the signature: is this access token live
//! right now, and whose is it? Only configured clients may ask (HTTP Basic,
//! `INTROSPECTION_CLIENTS`), each within a rate limit of its own.

use std::time::Duration;

use repos::{AnyTokenStore, RateCounters, UserRepo};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::sessions::Sessions;
use crate::ServiceError;

/// A client allowed to introspect: its id and the SHA-256 of its secret.
#[derive(Clone)]
pub struct IntrospectionClient {
    pub id: String,
    secret_digest: [u8; 32],
}

impl IntrospectionClient {
    /// The client `id` with `secret`; only the secret's digest is kept.
    pub fn new(id: &str, secret: &str) -> Self {
        Self {
            id: id.to_owned(),
            secret_digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Introspection's settings.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// `INTROSPECTION_CLIENTS`; none: every call is refused.
    pub clients: Vec<IntrospectionClient>,
    /// Calls allowed per client per minute.
    pub per_minute: u64,
}

impl Default for IntrospectionSettings {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            per_minute: 6000,
        }
    }
}

/// What introspection answers (RFC 7662 §2.2): `active` and, for a live access token,
/// its claims and the account's username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Introspected {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

impl Introspected {
    fn inactive() -> Self {
        Self {
            active: false,
            sub: None,
            username: None,
            sid: None,
            iss: None,
            aud: None,
            iat: None,
            exp: None,
            token_type: None,
        }
    }
}

/// Introspection.
#[derive(Clone)]
pub struct Introspection {
    settings: IntrospectionSettings,
    sessions: Sessions,
    users: UserRepo,
    store: AnyTokenStore,
}

impl Introspection {
    pub(crate) fn new(
        settings: IntrospectionSettings,
        sessions: Sessions,
        users: UserRepo,
        store: AnyTokenStore,
    ) -> Self {
        Self {
            settings,
            sessions,
            users,
            store,
        }
    }

    /// Checks the caller's credentials in constant time: a wrong secret, an unknown id and
    /// no credentials are the same `InvalidClient`.
    pub fn client(&self, id: &str, secret: &str) -> Result<&IntrospectionClient, ServiceError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut found = None;
        for c in &self.settings.clients {
            let same = c.id.as_bytes().ct_eq(id.as_bytes()) & c.secret_digest.ct_eq(&digest);
            if bool::from(same) {
                found = Some(c);
            }
        }
        found.ok_or(ServiceError::InvalidClient)
    }

    /// Whether `token` is a live access token, for `client` (from [`Introspection::client`]).
    pub async fn introspect(
        &self,
        client: &IntrospectionClient,
        token: &str,
    ) -> Result<Introspected, ServiceError> {
        let key = format!("introspect:client:{}", client.id);
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), Duration::from_secs(60))
            .await?;
        if let Some(c) = counts
            .first()
            .filter(|c| c.count > self.settings.per_minute)
        {
            return Err(ServiceError::RateLimited {
                retry_after: c.resets_in.max(Duration::from_secs(1)),
            });
        }
        let claims = match self.sessions.live_claims(token).await {
            Ok(claims) => claims,
            Err(ServiceError::Unavailable { what, detail }) => {
                return Err(ServiceError::Unavailable { what, detail })
            }
            Err(_) => return Ok(Introspected::inactive()),
        };
        let Some(user) = self.users.find_by_id(&claims.sub).await? else {
            return Ok(Introspected::inactive());
        };
        Ok(Introspected {
            active: true,
            sub: Some(claims.sub),
            username: Some(user.username),
            sid: Some(claims.sid),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            iat: Some(claims.iat),
            exp: Some(claims.exp),
            token_type: Some("Bearer"),
        })
    }
}
