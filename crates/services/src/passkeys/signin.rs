//! Signing in with a passkey, usernameless: options that name no account, then the
//! assertion, which names its credential and user. Every refusal (an unknown or stale
//! challenge, a wrong signature, another origin, an unknown credential, a counter gone
//! backwards) is the same `invalid_passkey`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use repos::{AnyTokenStore, PasskeyRepo, PasskeyUse, RateCounters, SessionStore, UserRepo};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, PublicKeyCredential, WebauthnError,
};
use webauthn_rs::Webauthn;

use super::{challenge_field, stored, Ceremonies, Ceremony};
use crate::audit::{event, Audit, AuditKind};
use crate::client::ClientInfo;
use crate::domain::{FieldError, Parsed};
use crate::sessions::{banned, Opening, SignInMethod};
use crate::views::TokenPair;
use crate::{ServiceError, Sessions};

/// The token-store kind of waiting sign-ins.
pub(crate) const SIGN_IN: &str = "passkey-sign-in";

/// The window of the per-address limit on sign-in options.
const OPTIONS_WINDOW: Duration = Duration::from_secs(60);

/// A credential id as stored and looked up: base64url without padding.
pub(crate) fn credential_id_text(id: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// The passkey sign-in.
#[derive(Clone)]
pub struct PasskeySignIn {
    pub(crate) webauthn: Option<Arc<Webauthn>>,
    pub(crate) repo: PasskeyRepo,
    pub(crate) users: UserRepo,
    pub(crate) store: AnyTokenStore,
    /// Sign-ins waiting for their assertion.
    pub(crate) waiting: Ceremonies,
    pub(crate) sessions: Sessions,
    pub(crate) audit: Audit,
    /// `PASSKEY_OPTIONS_PER_MINUTE`, per client address.
    pub(crate) options_per_minute: u64,
}

impl PasskeySignIn {
    fn webauthn(&self) -> Result<&Webauthn, ServiceError> {
        self.webauthn.as_deref().ok_or(ServiceError::PasskeysOff)
    }

    /// The request options of a sign-in, limited per client address; the challenge waits
    /// `WEBAUTHN_TIMEOUT` for one answer.
    pub async fn options(&self, client: &ClientInfo) -> Result<Ceremony, ServiceError> {
        let webauthn = self.webauthn()?;
        let key = format!("passkey-options:ip:{}", client.ip.as_deref().unwrap_or("-"));
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), OPTIONS_WINDOW)
            .await?;
        if let Some(c) = counts.first().filter(|c| c.count > self.options_per_minute) {
            return Err(ServiceError::RateLimited {
                retry_after: c.resets_in.max(Duration::from_secs(1)),
            });
        }
        let (options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| ServiceError::internal_from("starting a passkey sign-in", e))?;
        let challenge_id = self.waiting.wait(&state).await?;
        Ok(Ceremony {
            challenge_id,
            options: serde_json::to_value(options)
                .map_err(|e| ServiceError::internal_from("the request options", e))?,
        })
    }

    /// Checks the assertion against the challenge (taken once) and the stored credential,
    /// stores the credential's new counter and flags, and opens a session that counts as
    /// two factors (the authenticator verified its user).
    pub async fn sign_in(
        &self,
        challenge_id: &str,
        credential: serde_json::Value,
        client: ClientInfo,
    ) -> Result<TokenPair, ServiceError> {
        let webauthn = self.webauthn()?;
        let (challenge_id, credential) = (
            challenge_field(challenge_id),
            serde_json::from_value::<PublicKeyCredential>(credential)
                .map_err(|_| FieldError::new("credential", "is not a WebAuthn assertion")),
        )
            .all()?;
        let state: DiscoverableAuthentication = self
            .waiting
            .take(challenge_id)
            .await?
            .ok_or(ServiceError::InvalidPasskey)?;
        let (user_handle, credential_id) = webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(|_| ServiceError::InvalidPasskey)?;
        let row = self
            .repo
            .by_credential_id(&credential_id_text(credential_id))
            .await?
            .filter(|row| row.user_id == user_handle.to_string())
            .ok_or(ServiceError::InvalidPasskey)?;
        let generation = self.store.generation(&row.user_id).await?;
        let eligible = stored::asserted_backup_eligible(&credential.response.authenticator_data);
        let mut passkey =
            stored::aligned(&row.credential, eligible).ok_or(ServiceError::InvalidPasskey)?;
        let stored_counter = stored::counter(&row.credential);
        #[allow(deprecated)] // _v2 needs the keys in the state; the check is the same
        let checked = webauthn.finish_discoverable_authentication(
            &credential,
            state,
            &[DiscoverableKey::from(&passkey)],
        );
        let result = match checked {
            Ok(result) => result,
            // The signature is good but the counter is not past the stored one: two copies
            // of the key may be in use. Refused, and recorded against the account.
            Err(WebauthnError::CredentialPossibleCompromise) => {
                tracing::warn!(user_id = %row.user_id, passkey_id = %row.id, stored_counter,
                    "a passkey's counter went backwards: a cloned authenticator?");
                let owner = Some(row.user_id.as_str());
                let details =
                    serde_json::json!({ "passkey_id": row.id, "stored_counter": stored_counter });
                let regressed = event(
                    AuditKind::PasskeyCounterRegressed,
                    None,
                    owner,
                    &client,
                    details,
                );
                self.audit.record(regressed).await;
                return Err(ServiceError::InvalidPasskey);
            }
            Err(e) => {
                tracing::info!(user_id = %row.user_id, error = %e, "passkey sign-in refused");
                return Err(ServiceError::InvalidPasskey);
            }
        };
        passkey.update_credential(&result);
        if result.backup_eligible() != row.backup_eligible || result.backup_state() != row.backed_up
        {
            tracing::info!(user_id = %row.user_id, passkey_id = %row.id,
                backup_eligible = result.backup_eligible(), backed_up = result.backup_state(),
                "a passkey's backup flags changed (a synced passkey)");
        }
        let credential = serde_json::to_string(&passkey)
            .map_err(|e| ServiceError::internal_from("saving a passkey", e))?;
        let change = PasskeyUse {
            credential,
            backup_eligible: result.backup_eligible(),
            backed_up: result.backup_state(),
            at: repos::now_utc(),
        };
        self.repo.used(&row.id, change).await?;
        let creds = self
            .users
            .credentials_by_id(&row.user_id)
            .await?
            .ok_or(ServiceError::InvalidPasskey)?;
        if let Some(refusal) = banned(&creds.user) {
            return Err(refusal);
        }
        match self
            .sessions
            .open(creds, client, SignInMethod::Passkey, generation)
            .await?
        {
            Opening::Opened(pair) => Ok(pair),
            Opening::Superseded => Err(ServiceError::InvalidPasskey),
        }
    }
}
