//! An account's identities at providers, from a signed-in session: listing them, linking
//! one more (the password again, or a sign-in of the last ten minutes for an account
//! without one; then the same flow as a sign-in, whose end links instead of signing in),
//! and unlinking one unless it is the account's last way to sign in. Each link and unlink
//! mails a notice and is an audit event.

use chrono::Utc;
use repos::{Linked, ProviderAccount, RepoError, SessionStore, Unique, Unlinked};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Failure, Oidc, Started};
use crate::audit::{event, AuditKind};
use crate::client::ClientInfo;
use crate::domain::Id;
use crate::mail::MailKind;
use crate::sessions::Principal;
use crate::views::Timestamp;
use crate::ServiceError;

/// How recent a sign-in stands in for the password of an account without one.
const RECENT_SIGN_IN: i64 = 600;

/// One of the account's identities at a provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    #[schema(example = "google")]
    pub provider: String,
    /// The address the provider gave at the last sign-in.
    pub email: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<repos::IdentityRecord> for IdentityView {
    fn from(i: repos::IdentityRecord) -> Self {
        Self {
            id: i.id,
            provider: i.provider,
            email: i.email,
            created_at: Timestamp::from_utc(i.created_at),
            last_used_at: i.last_used_at.map(Timestamp::from_utc),
        }
    }
}

impl Oidc {
    /// The caller's identities, oldest first.
    pub async fn identities(&self, who: &Principal) -> Result<Vec<IdentityView>, ServiceError> {
        let rows = self.identities.for_user(&who.user_id).await?;
        Ok(rows.into_iter().map(IdentityView::from).collect())
    }

    /// Starts linking an account at `provider` to the caller's, proven by the password
    /// (or, for an account without one, a sign-in of the last ten minutes).
    pub async fn start_link(
        &self,
        who: &Principal,
        provider: &str,
        password: Option<&str>,
        return_to: Option<&str>,
    ) -> Result<Started, ServiceError> {
        super::return_path(return_to)?;
        self.providers.ready(provider)?;
        let creds = self
            .users
            .credentials_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        match (&creds.password_hash, password) {
            (Some(hash), Some(password)) => {
                self.proofs
                    .password(&creds.user.id, password, Some(hash))
                    .await?
            }
            (None, _) if self.signed_in_lately(who).await? => {}
            _ => return Err(ServiceError::InvalidCredentials),
        }
        self.start_flow(provider, return_to, Some(who.user_id.clone()))
            .await
    }

    async fn signed_in_lately(&self, who: &Principal) -> Result<bool, ServiceError> {
        let now = Utc::now().timestamp();
        let sessions = self.store.list(&who.user_id, now).await?;
        Ok(sessions
            .iter()
            .any(|s| s.session_id == who.session_id && now - s.created_at <= RECENT_SIGN_IN))
    }

    /// Links the provider's account to `user_id` at the end of a link's flow.
    pub(super) async fn link(
        &self,
        user_id: &str,
        account: ProviderAccount,
    ) -> Result<(), Failure> {
        let owner = self
            .users
            .find_by_id(user_id)
            .await
            .map_err(|e| Failure::from_service(e.into()))?
            .ok_or(Failure::State)?;
        let params =
            serde_json::json!({ "username": owner.username, "provider": account.provider });
        let notice = self
            .mailer
            .notice(MailKind::IdentityLinked, &owner.email, params)
            .await
            .map_err(Failure::from_service)?;
        let provider = account.provider.clone();
        match self.identities.link(user_id, account, notice.clone()).await {
            Ok(Linked::Stored(identity)) => {
                self.mailer.queued(&notice);
                let details =
                    serde_json::json!({ "provider": provider, "identity_id": identity.id });
                let linked = event(
                    AuditKind::IdentityLinked,
                    Some(user_id),
                    Some(user_id),
                    &ClientInfo::default(),
                    details,
                );
                self.audit.record(linked).await;
                Ok(())
            }
            Ok(Linked::Already(_)) => Ok(()),
            Err(RepoError::Conflict(Unique::Identity)) => Err(Failure::IdentityTaken),
            Err(RepoError::OwnerGone) => Err(Failure::State),
            Err(e) => Err(Failure::from_service(e.into())),
        }
    }

    /// Unlinks one of the caller's identities, unless it is the account's last way to
    /// sign in (409 `last_sign_in_method`).
    pub async fn unlink(
        &self,
        who: &Principal,
        id: &str,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        let mine = self.identities.for_user(&who.user_id).await?;
        let Some(identity) = mine.into_iter().find(|i| i.id == id) else {
            return Err(ServiceError::NotFound);
        };
        let owner = self
            .users
            .find_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        let params =
            serde_json::json!({ "username": owner.username, "provider": identity.provider });
        let notice = self
            .mailer
            .notice(MailKind::IdentityUnlinked, &owner.email, params)
            .await?;
        match self
            .identities
            .unlink(&who.user_id, &id, notice.clone())
            .await?
        {
            (_, Unlinked::LastMethod) => Err(ServiceError::LastSignInMethod),
            (gone, Unlinked::Removed) => {
                self.mailer.queued(&notice);
                let details =
                    serde_json::json!({ "provider": gone.provider, "identity_id": gone.id });
                let unlinked = event(
                    AuditKind::IdentityUnlinked,
                    Some(&who.user_id),
                    Some(&who.user_id),
                    client,
                    details,
                );
                self.audit.record(unlinked).await;
                Ok(())
            }
        }
    }
}
