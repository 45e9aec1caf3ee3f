//! The second factor: TOTP (RFC 6238) with backup codes. Enrolment is in `enrol`, the
//! sign-in step after the password in `crate::signin`; both redeem codes through
//! [`SecondFactor`], where every code is accepted at most once.

mod codes;
mod enrol;
mod totp;

use std::time::Duration;

use chrono::Utc;
use repos::{Credentials, MfaRepo};

use crate::seal::{Sealer, SealingKeys};
use crate::ServiceError;

pub use enrol::MfaService;
use totp::TotpSecret;

/// Longest `code` accepted; a longer one is a 422 (no code is near it).
pub const CODE_MAX_CHARS: usize = 64;

/// A code as sent: trimmed, and refused (422) when empty or too long to be one.
pub(crate) fn checked_code(code: &str) -> Result<&str, ServiceError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(ServiceError::invalid("code", "is required"));
    }
    if code.chars().count() > CODE_MAX_CHARS {
        return Err(ServiceError::invalid(
            "code",
            format!("must be at most {CODE_MAX_CHARS} characters"),
        ));
    }
    Ok(code)
}

/// The second factor's settings.
#[derive(Clone)]
pub struct MfaSettings {
    /// The issuer authenticator apps show (`MFA_ISSUER`).
    pub issuer: String,
    /// `MFA_ENCRYPTION_KEY` then `MFA_ENCRYPTION_KEY_PREVIOUS`; `None`: derived from
    /// `JWT_API_SECRET` (not in production).
    pub keys: Option<SealingKeys>,
    /// How long a sign-in waits for its second factor.
    pub challenge_ttl: Duration,
    /// Wrong codes one sign-in may try.
    pub max_tries: u64,
}

impl std::fmt::Debug for MfaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaSettings")
            .field("issuer", &self.issuer)
            .field(
                "keys",
                &self.keys.as_ref().map(|k| match k.previous {
                    Some(_) => "current and previous",
                    None => "current",
                }),
            )
            .field("challenge_ttl", &self.challenge_ttl)
            .field("max_tries", &self.max_tries)
            .finish()
    }
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            issuer: "strata".into(),
            keys: None,
            challenge_ttl: Duration::from_secs(5 * 60),
            max_tries: 5,
        }
    }
}

/// What a redeemed code was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redeemed {
    Totp,
    BackupCode,
}

/// What a code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redeem {
    /// Right, and now spent.
    Accepted(Redeemed),
    /// A right TOTP code of a step already accepted (sent twice, or a race lost): refused,
    /// but no guess, so it does not count against the account.
    Replayed,
    /// Wrong, or the second factor is off.
    Wrong,
}

/// Checks codes and spends them: a TOTP code's time step, once accepted, is the account's
/// last, so neither it nor an earlier one is accepted again; a backup code is marked used.
/// Both are one conditional UPDATE: of racing requests with one code, one wins.
#[derive(Clone)]
pub(crate) struct SecondFactor {
    repo: MfaRepo,
    sealer: Sealer,
}

impl SecondFactor {
    pub(crate) fn new(repo: MfaRepo, keys: SealingKeys) -> Self {
        Self {
            repo,
            sealer: Sealer::new(keys),
        }
    }

    /// Seals a secret for the account `user_id`.
    fn seal(&self, user_id: &str, secret: &TotpSecret) -> String {
        self.sealer.seal_bound(&secret.base32(), user_id.as_bytes())
    }

    /// Opens the account's sealed secret; also says whether an old key sealed it.
    fn open(&self, user_id: &str, sealed: &str) -> Result<(TotpSecret, bool), ServiceError> {
        self.sealer
            .open_bound(sealed, user_id.as_bytes())
            .and_then(|o| Some((TotpSecret::from_base32(&o.plain)?, o.stale)))
            .ok_or_else(|| {
                ServiceError::internal(
                    "a TOTP secret that no MFA key opens (was MFA_ENCRYPTION_KEY changed without MFA_ENCRYPTION_KEY_PREVIOUS?)",
                )
            })
    }

    /// The time step a code belongs to under `secret`, now.
    fn step_of(secret: &TotpSecret, code: &str) -> Option<i64> {
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
        secret.step_of(code, now)
    }

    /// Redeems `code` (a current TOTP code or an unused backup code) for the account.
    pub(crate) async fn redeem(
        &self,
        creds: &Credentials,
        code: &str,
    ) -> Result<Redeem, ServiceError> {
        let user_id = &creds.user.id;
        let Some(sealed) = &creds.totp.secret else {
            return Ok(Redeem::Wrong);
        };
        let code = code.trim();
        if totp::looks_like_totp(code) {
            let (secret, stale) = self.open(user_id, sealed)?;
            let Some(step) = Self::step_of(&secret, code) else {
                return Ok(Redeem::Wrong);
            };
            if step <= creds.totp.last_step {
                return Ok(Redeem::Replayed);
            }
            // A secret an old key sealed is sealed again under the current one as it is used.
            let reseal = stale.then(|| self.seal(user_id, &secret));
            let won = self.repo.accept_step(user_id, sealed, step, reseal).await?;
            return Ok(if won {
                Redeem::Accepted(Redeemed::Totp)
            } else {
                Redeem::Replayed
            });
        }
        let Some(normal) = codes::normalise(code) else {
            return Ok(Redeem::Wrong);
        };
        let won = self
            .repo
            .use_backup_code(user_id, &codes::hash(&normal))
            .await?;
        Ok(if won {
            Redeem::Accepted(Redeemed::BackupCode)
        } else {
            Redeem::Wrong
        })
    }
}
