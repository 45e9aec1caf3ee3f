//! Signing in with a passkey, usernameless: options that name no account, then the
//! assertion, which names its credential and user. Every refusal (an unknown or stale
//! challenge, a wrong signature, another origin, an unknown credential, a counter gone
//! backwards) is the same `invalid_passkey`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use repos::{
    AnyTokenStore, PasskeyRepo, PasskeyUse, RateCounters, SessionStore, SingleUse, UserRepo,
};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PublicKeyCredential, WebauthnError,
};
use webauthn_rs::Webauthn;

use super::{bounded, challenge_field, Ceremony, CHALLENGE_TTL, MAX_WAITING};
use crate::audit::{event, Audit, AuditKind};
use crate::client::ClientInfo;
use crate::domain::{FieldError, Parsed};
use crate::sessions::{banned, Opening, SignInMethod};
use crate::views::TokenPair;
use crate::{ServiceError, Sessions};

const SIGN_IN: &str = "passkey-sign-in";

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
    /// [`CHALLENGE_TTL`] for one answer.
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
        let challenge_id = webauthn_rs::prelude::Uuid::new_v4().simple().to_string();
        let value = serde_json::to_vec(&state)
            .map_err(|e| ServiceError::internal_from("saving a passkey sign-in", e))?;
        self.store
            .single_put(SIGN_IN, &challenge_id, &value, CHALLENGE_TTL, MAX_WAITING)
            .await?;
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
            .store
            .single_take(SIGN_IN, bounded(challenge_id)?)
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok())
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
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential).map_err(|_| ServiceError::InvalidPasskey)?;
        let stored_counter = counter(&row.credential);
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
        let credential = serde_json::to_string(&passkey)
            .map_err(|e| ServiceError::internal_from("saving a passkey", e))?;
        let change = PasskeyUse {
            credential,
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

/// The signature counter a stored credential holds (0: the authenticator keeps none).
fn counter(credential: &str) -> u32 {
    serde_json::from_str::<serde_json::Value>(credential)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}
