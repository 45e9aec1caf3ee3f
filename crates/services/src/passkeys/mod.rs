//! Passkeys: registering a WebAuthn credential on the password again, listing, renaming
//! and deleting them ([`Passkeys`]), and signing in with one, usernameless ([`signin`]).
//!
//! Each ceremony's state is a single-use record in the token store, taken back and deleted
//! in one step: a replayed or second use of a challenge finds nothing.

mod settings;
mod stored;

pub(crate) use crate::ceremonies::Ceremonies;
pub mod signin;

use std::sync::Arc;
use std::time::Duration;

use repos::{Added, PasskeyRecord, PasskeyRepo, UserRepo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Uuid};
use webauthn_rs::Webauthn;

pub use settings::PasskeySettings;
pub use signin::PasskeySignIn;
pub use webauthn_rs::prelude::Url;

use crate::audit::{event, Audit, AuditKind};
use crate::client::ClientInfo;
use crate::domain::{FieldError, Id, Parsed};
use crate::mail::{MailKind, Mailer};
use crate::proofs::Proofs;
use crate::sessions::Principal;
use crate::views::Timestamp;
use crate::ServiceError;

/// How long a ceremony's challenge may be answered unless `WEBAUTHN_TIMEOUT` says
/// otherwise (WebAuthn's recommended 5 minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Most ceremonies of one kind waiting at once, on every instance together, unless
/// `PASSKEY_CHALLENGES_MAX` says otherwise (each is under 2 KiB).
pub const DEFAULT_MAX_WAITING: usize = 50_000;

/// The token-store kind of waiting registrations.
pub(crate) const REGISTRATION: &str = "passkey-registration";

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The authenticator may sync it (a password manager, a platform account).
    pub backup_eligible: bool,
    /// It is synced now.
    pub backed_up: bool,
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(p: PasskeyRecord) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: Timestamp::from_utc(p.created_at),
            last_used_at: p.last_used_at.map(Timestamp::from_utc),
            backup_eligible: p.backup_eligible,
            backed_up: p.backed_up,
        }
    }
}

/// A ceremony's first step: the id to answer under, and the options for the browser's
/// `navigator.credentials.create()` or `.get()`, as WebAuthn JSON.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ceremony {
    pub challenge_id: String,
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// A registration waiting for its credential: whose, and webauthn-rs's state.
#[derive(Serialize, Deserialize)]
struct Waiting {
    user_id: String,
    state: PasskeyRegistration,
}

/// Registration and management of an account's passkeys.
#[derive(Clone)]
pub struct Passkeys {
    pub(crate) webauthn: Option<Arc<Webauthn>>,
    pub(crate) repo: PasskeyRepo,
    pub(crate) users: UserRepo,
    /// Registrations waiting for their credential.
    pub(crate) waiting: Ceremonies,
    pub(crate) proofs: Proofs,
    pub(crate) audit: Audit,
    pub(crate) mailer: Mailer,
    pub(crate) max_per_account: u32,
}

impl Passkeys {
    fn webauthn(&self) -> Result<&Webauthn, ServiceError> {
        self.webauthn.as_deref().ok_or(ServiceError::PasskeysOff)
    }

    /// Starts a registration on the password again, for an account with a proven address
    /// and room for one more: the creation options (a discoverable credential, user
    /// verification required, the account's passkeys excluded).
    pub async fn begin(&self, who: &Principal, password: &str) -> Result<Ceremony, ServiceError> {
        let webauthn = self.webauthn()?;
        let creds = self
            .users
            .credentials_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        if !creds.user.email_verified {
            return Err(ServiceError::EmailUnverified);
        }
        self.proofs
            .password(&creds.user.id, password, creds.password_hash.as_ref())
            .await?;
        let held = self.repo.for_user(&who.user_id).await?;
        if held.len() >= self.max_per_account as usize {
            return Err(ServiceError::PasskeyLimit(self.max_per_account));
        }
        let exclude = held
            .iter()
            .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        let user_handle =
            Uuid::parse_str(&creds.user.id).map_err(|_| ServiceError::TokenRevoked)?;
        let (options, state) = webauthn
            .start_passkey_registration(
                user_handle,
                &creds.user.username,
                &creds.user.username,
                Some(exclude),
            )
            .map_err(|e| ServiceError::internal_from("starting a passkey registration", e))?;
        let waiting = Waiting {
            user_id: who.user_id.clone(),
            state,
        };
        let challenge_id = self.waiting.wait(&waiting).await?;
        let mut options = serde_json::to_value(options)
            .map_err(|e| ServiceError::internal_from("the creation options", e))?;
        require_discoverable(&mut options);
        Ok(Ceremony {
            challenge_id,
            options,
        })
    }

    /// Finishes a registration with the browser's credential and stores the passkey under
    /// `name`. A challenge is used once, by the account that asked for it.
    pub async fn finish(
        &self,
        who: &Principal,
        challenge_id: &str,
        credential: serde_json::Value,
        name: &str,
        client: &ClientInfo,
    ) -> Result<PasskeyView, ServiceError> {
        let webauthn = self.webauthn()?;
        let (name, challenge_id, credential) = (
            passkey_name(name),
            challenge_field(challenge_id),
            serde_json::from_value::<RegisterPublicKeyCredential>(credential)
                .map_err(|_| FieldError::new("credential", "is not a WebAuthn credential")),
        )
            .all()?;
        let waiting = self
            .waiting
            .take::<Waiting>(challenge_id)
            .await?
            .filter(|w| w.user_id == who.user_id)
            .ok_or(ServiceError::InvalidPasskey)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &waiting.state)
            .map_err(|e| {
                tracing::info!(user_id = %who.user_id, error = %e, "passkey registration refused");
                ServiceError::InvalidPasskey
            })?;
        let row = record(&who.user_id, &name, &passkey)?;
        let owner = self
            .users
            .find_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        let params = serde_json::json!({ "username": owner.username, "name": row.name });
        let notice = self
            .mailer
            .notice(MailKind::PasskeyAdded, &owner.email, params)
            .await?;
        match self
            .repo
            .add(row.clone(), self.max_per_account, notice.clone())
            .await
        {
            Ok(Added::Stored) => {}
            Ok(Added::Full) => return Err(ServiceError::PasskeyLimit(self.max_per_account)),
            Err(repos::RepoError::Conflict(repos::Unique::Credential)) => {
                return Err(ServiceError::InvalidPasskey)
            }
            Err(e) => return Err(e.into()),
        }
        self.mailer.queued(&notice);
        tracing::info!(user_id = %who.user_id, passkey_id = %row.id, "passkey added");
        let details = serde_json::json!({ "passkey_id": row.id, "name": row.name });
        let me = Some(who.user_id.as_str());
        let added = event(AuditKind::PasskeyAdded, me, me, client, details);
        self.audit.record(added).await;
        Ok(row.into())
    }

    /// The caller's passkeys, oldest first.
    pub async fn list(&self, who: &Principal) -> Result<Vec<PasskeyView>, ServiceError> {
        let rows = self.repo.for_user(&who.user_id).await?;
        Ok(rows.into_iter().map(PasskeyView::from).collect())
    }

    /// Renames one of the caller's passkeys.
    pub async fn rename(
        &self,
        who: &Principal,
        id: &str,
        name: &str,
    ) -> Result<PasskeyView, ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        let (name,) = (passkey_name(name),).all()?;
        Ok(self.repo.rename(&who.user_id, &id, &name).await?.into())
    }

    /// Deletes one of the caller's passkeys, on the password again.
    pub async fn delete(
        &self,
        who: &Principal,
        id: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        let id = id.as_str();
        // Another's passkey, or none, is "not found" before the password is asked for.
        let held = self.repo.for_user(&who.user_id).await?;
        let Some(passkey) = held.into_iter().find(|p| p.id == id) else {
            return Err(ServiceError::NotFound);
        };
        let creds = self
            .users
            .credentials_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)?;
        self.proofs
            .password(&creds.user.id, password, creds.password_hash.as_ref())
            .await?;
        let params = serde_json::json!({ "username": creds.user.username, "name": passkey.name });
        let notice = self
            .mailer
            .notice(MailKind::PasskeyRemoved, &creds.user.email, params)
            .await?;
        self.repo.delete(&who.user_id, id, notice.clone()).await?;
        self.mailer.queued(&notice);
        tracing::info!(user_id = %who.user_id, passkey_id = %id, "passkey removed");
        let me = Some(who.user_id.as_str());
        let details = serde_json::json!({ "passkey_id": id });
        let removed = event(AuditKind::PasskeyRemoved, me, me, client, details);
        self.audit.record(removed).await;
        Ok(())
    }
}

/// Asks for a discoverable credential: sign-in names no user, so the authenticator must
/// find the credential itself.
fn require_discoverable(options: &mut serde_json::Value) {
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = "required".into();
    selection["requireResidentKey"] = true.into();
}

/// The row of a new passkey: its credential as webauthn-rs serialises it, and its flags.
fn record(user_id: &str, name: &str, passkey: &Passkey) -> Result<PasskeyRecord, ServiceError> {
    let credential = serde_json::to_string(passkey)
        .map_err(|e| ServiceError::internal_from("saving a passkey", e))?;
    let flags: serde_json::Value = serde_json::from_str(&credential).unwrap_or_default();
    let flag = |k: &str| flags["cred"][k].as_bool().unwrap_or(false);
    Ok(PasskeyRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        credential_id: signin::credential_id_text(passkey.cred_id().as_ref()),
        name: name.to_owned(),
        backup_eligible: flag("backup_eligible"),
        backed_up: flag("backup_state"),
        credential,
        created_at: repos::now_utc(),
        last_used_at: None,
    })
}

/// A passkey's name: 1 to 64 characters once trimmed.
fn passkey_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    match name.chars().count() {
        1..=64 => Ok(name.to_owned()),
        _ => Err(FieldError::new("name", "must be 1 to 64 characters")),
    }
}

/// A `challenge_id` within the documented length (whether the options handed it out is
/// for the ceremony to find: [`bounded`]).
pub(crate) fn challenge_field(challenge_id: &str) -> Result<&str, FieldError> {
    if challenge_id.len() <= 64 {
        Ok(challenge_id)
    } else {
        Err(FieldError::new(
            "challenge_id",
            "must be at most 64 characters",
        ))
    }
}
