//! Turning the second factor on and off, and replacing the backup codes. Each step but
//! the confirm asks for the password again, so a stolen access token alone can neither
//! enrol a device of its own nor remove the owner's; wrong codes count against the account.

use repos::{Credentials, MfaRepo, UserRepo};

use super::{codes, totp, SecondFactor};
use crate::attempts::Verdict;
use crate::mail::{MailKind, Mailer};
use crate::proofs::Proofs;
use crate::sessions::{Principal, Sessions};
use crate::views::{BackupCodes, Enrolment};
use crate::{outcomes, ServiceError};

/// Enrolment and removal of the second factor.
#[derive(Clone)]
pub struct MfaService {
    users: UserRepo,
    repo: MfaRepo,
    proofs: Proofs,
    sessions: Sessions,
    mailer: Mailer,
    issuer: String,
    reads: crate::reads::Reads,
}

impl MfaService {
    pub(crate) fn new(
        users: UserRepo,
        repo: MfaRepo,
        proofs: Proofs,
        sessions: Sessions,
        mailer: Mailer,
        issuer: String,
        reads: crate::reads::Reads,
    ) -> Self {
        Self {
            users,
            repo,
            proofs,
            sessions,
            mailer,
            issuer,
            reads,
        }
    }

    async fn credentials(&self, who: &Principal) -> Result<Credentials, ServiceError> {
        self.users
            .credentials_by_id(&who.user_id)
            .await?
            .ok_or(ServiceError::TokenRevoked)
    }

    /// Starts an enrolment: a new secret, kept until its first code confirms it (a second
    /// call replaces it). The second factor is not on yet.
    pub async fn begin(&self, who: &Principal, password: &str) -> Result<Enrolment, ServiceError> {
        let creds = self.credentials(who).await?;
        if creds.user.mfa_enabled {
            return Err(ServiceError::MfaAlreadyEnabled);
        }
        proven_address(&creds)?;
        self.proofs
            .password(&creds.user.id, password, creds.password_hash.as_ref())
            .await?;
        let secret = totp::TotpSecret::generate();
        let sealed = self.proofs.factor().seal(&creds.user.id, &secret);
        if !self.repo.start(&creds.user.id, &sealed).await? {
            return Err(ServiceError::MfaAlreadyEnabled);
        }
        let uri = totp::otpauth_uri(&self.issuer, &creds.user.username, &secret);
        tracing::info!(user_id = %creds.user.id, "second factor enrolment started");
        Ok(Enrolment {
            qr_svg: totp::qr_svg(&uri).unwrap_or_default(),
            secret: secret.base32(),
            otpauth_uri: uri,
        })
    }

    /// Turns the second factor on with the first code of the enrolment's secret, and
    /// returns the backup codes (shown this once). The code's time step is spent, and
    /// every other session of the account ends: whoever enrols may suspect one of them.
    pub async fn confirm(&self, who: &Principal, code: &str) -> Result<BackupCodes, ServiceError> {
        let code = super::checked_code(code)?;
        let creds = self.credentials(who).await?;
        if creds.user.mfa_enabled {
            return Err(ServiceError::MfaAlreadyEnabled);
        }
        let Some(pending) = creds.totp.pending.clone() else {
            return Err(ServiceError::MfaNotPending);
        };
        proven_address(&creds)?;
        let (this, code) = (self.clone(), code.to_owned());
        let check = async move {
            let (secret, _) = this.proofs.factor().open(&creds.user.id, &pending)?;
            let step = totp::looks_like_totp(&code)
                .then(|| SecondFactor::step_of(&secret, &code))
                .flatten()
                .filter(|step| *step > creds.totp.last_step);
            let Some(step) = step else {
                return Ok(Verdict::Wrong);
            };
            let set = codes::generate();
            let hashes = set
                .iter()
                .filter_map(|c| codes::normalise(c))
                .map(|c| codes::hash(&c));
            let notice = this.notice(MailKind::MfaEnabled, &creds).await?;
            let on = this
                .repo
                .enable(
                    &creds.user.id,
                    &pending,
                    step,
                    hashes.collect(),
                    notice.clone(),
                )
                .await?;
            Ok(match on {
                true => Verdict::Right((set, notice)),
                // The enrolment changed meanwhile, or the step was used: that code is spent.
                false => Verdict::Wrong,
            })
        };
        let counters = self.proofs.code_counters(&who.user_id, None);
        let (set, notice) = self.proofs.counted_code(counters, check).await?;
        self.mailer.queued(&notice);
        self.reads.wrote(&who.user_id).await;
        let ended = self
            .sessions
            .revoke_all(&who.user_id, Some(&who.session_id))
            .await?;
        outcomes::revoked("mfa_enabled", ended);
        tracing::info!(user_id = %who.user_id, sessions_ended = ended, "second factor turned on");
        Ok(BackupCodes {
            recovery_codes: set,
        })
    }

    /// Replaces the backup codes (the old ones stop working), on the password and a code.
    pub async fn regenerate(
        &self,
        who: &Principal,
        password: &str,
        code: &str,
    ) -> Result<BackupCodes, ServiceError> {
        let creds = self.proven(who, password, code).await?;
        let set = codes::generate();
        let hashes = set
            .iter()
            .filter_map(|c| codes::normalise(c))
            .map(|c| codes::hash(&c));
        if !self
            .repo
            .replace_codes(&creds.user.id, hashes.collect())
            .await?
        {
            return Err(ServiceError::MfaNotEnabled);
        }
        self.reads.wrote(&who.user_id).await;
        tracing::info!(user_id = %who.user_id, "backup codes replaced");
        Ok(BackupCodes {
            recovery_codes: set,
        })
    }

    /// Turns the second factor off, on the password and a code (a backup code will do),
    /// and ends every other session of the account, as turning it on does: whoever turns
    /// it off may suspect one of them, and none of them should outlive the factor that
    /// guarded its sign-in.
    pub async fn disable(
        &self,
        who: &Principal,
        password: &str,
        code: &str,
    ) -> Result<(), ServiceError> {
        let creds = self.proven(who, password, code).await?;
        let notice = self.notice(MailKind::MfaDisabled, &creds).await?;
        let record = crate::audit::event(
            crate::audit::AuditKind::MfaDisabled,
            Some(&who.user_id),
            Some(&who.user_id),
            &crate::ClientInfo::default(),
            serde_json::json!({}),
        );
        if !self
            .repo
            .disable(&creds.user.id, notice.clone(), Some(record))
            .await?
        {
            return Err(ServiceError::MfaNotEnabled);
        }
        self.mailer.queued(&notice);
        self.reads.wrote(&who.user_id).await;
        let ended = self
            .sessions
            .revoke_all(&who.user_id, Some(&who.session_id))
            .await?;
        outcomes::revoked("mfa_disabled", ended);
        tracing::info!(user_id = %who.user_id, sessions_ended = ended, "second factor turned off");
        Ok(())
    }

    /// The account, once its password and a code of its second factor are proven.
    async fn proven(
        &self,
        who: &Principal,
        password: &str,
        code: &str,
    ) -> Result<Credentials, ServiceError> {
        super::checked_code(code)?;
        let creds = self.credentials(who).await?;
        if !creds.user.mfa_enabled {
            return Err(ServiceError::MfaNotEnabled);
        }
        self.proofs
            .password(&creds.user.id, password, creds.password_hash.as_ref())
            .await?;
        self.proofs.code(&creds, code).await?;
        Ok(creds)
    }

    async fn notice(
        &self,
        kind: MailKind,
        creds: &Credentials,
    ) -> Result<Option<repos::NewMail>, ServiceError> {
        let params = serde_json::json!({ "username": creds.user.username });
        self.mailer.notice(kind, &creds.user.email, params).await
    }
}

/// Refuses an enrolment for an address nobody has proven (`EmailUnverified`): whoever
/// registered someone else's address must not be able to put a factor of theirs between
/// the owner and the account the owner later recovers by mail.
fn proven_address(creds: &Credentials) -> Result<(), ServiceError> {
    if creds.user.email_verified {
        Ok(())
    } else {
        Err(ServiceError::EmailUnverified)
    }
}
