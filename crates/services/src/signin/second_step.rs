//! The sign-in step after the password: a login whose password was right, for an account
//! with the second factor on, gets a challenge (the wire's `mfa_token`) instead of tokens;
//! the challenge and a code open the session. A challenge is single-use, lives 5 minutes
//! and dies after 5 wrong codes; wrong codes also count against the account's failed-login
//! limits.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use repos::{
    AnyTokenStore, ChallengeTry, Credentials, RateCounters, SessionStore, SignInChallenge,
    SignInChallenges, UserRepo,
};
use sha2::{Digest, Sha256};

use super::{Challenge, ChallengeToken};
use crate::attempts::Verdict;
use crate::client::ClientInfo;
use crate::mfa::{checked_code, MfaSettings, Redeem, Redeemed};
use crate::proofs::Proofs;
use crate::sessions::{Opening, Sessions, SignInMethod};
use crate::views::TokenPair;
use crate::{outcomes, ServiceError};

/// Most sign-ins one account may have waiting for a second factor in one challenge
/// lifetime: a password holder looping the login can neither fill the store nor, with
/// the in-memory store's cap, lock every other account out.
pub(crate) const MAX_LIVE_CHALLENGES: u64 = 20;

/// The store's key of a token: its SHA-256, so the store never holds a usable token.
fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What a challenge keeps of the password the sign-in proved: its version, which a change
/// or reset moves on and a rehash of the same password keeps.
fn proof(creds: &Credentials) -> String {
    creds.password_version.to_string()
}

/// Whether `token` has the shape of ours (32 bytes, base64url): anything else is refused
/// without asking the store.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issues challenges after a right password, and completes them with a code.
#[derive(Clone)]
pub struct SecondStep {
    users: UserRepo,
    store: AnyTokenStore,
    proofs: Proofs,
    sessions: Sessions,
    settings: MfaSettings,
}

impl SecondStep {
    pub(crate) fn new(
        users: UserRepo,
        store: AnyTokenStore,
        proofs: Proofs,
        sessions: Sessions,
        settings: MfaSettings,
    ) -> Self {
        Self {
            users,
            store,
            proofs,
            sessions,
            settings,
        }
    }

    /// A challenge for an account whose password was just proven; `RateLimited` when the
    /// account has too many sign-ins waiting already.
    pub(crate) async fn ask(
        &self,
        creds: &Credentials,
        generation: u64,
    ) -> Result<Challenge, ServiceError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let ttl = self.settings.challenge_ttl;
        let issued = format!("mfa:issued:{}", creds.user.id);
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&issued), ttl)
            .await?;
        if let Some(c) = counts.first().filter(|c| c.count > MAX_LIVE_CHALLENGES) {
            outcomes::login("limited");
            return Err(ServiceError::RateLimited {
                retry_after: c.resets_in.max(Duration::from_secs(1)),
            });
        }
        let challenge = SignInChallenge {
            user_id: creds.user.id.clone(),
            proof: proof(creds),
            generation,
        };
        self.store
            .challenge_put(&digest(&token), &challenge, ttl)
            .await?;
        tracing::info!(user_id = %creds.user.id, "password right; second factor required");
        outcomes::login("mfa_required");
        Ok(Challenge {
            token: ChallengeToken(token),
            expires_in: ttl,
        })
    }

    /// Completes a sign-in with its challenge token and a code (TOTP or backup): a new
    /// session, marked as opened with a second factor.
    pub async fn complete(
        &self,
        token: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, ServiceError> {
        let code = checked_code(code)?;
        if !well_formed(token) {
            return Err(ServiceError::InvalidMfaToken);
        }
        let key = digest(token);
        let challenge = match self
            .store
            .challenge_try(&key, self.settings.max_tries)
            .await?
        {
            ChallengeTry::Granted(challenge, _) => challenge,
            // Codes sent at once on one sign-in are checked one at a time, so that they
            // cannot spend each other.
            ChallengeTry::Busy => {
                return Err(ServiceError::RateLimited {
                    retry_after: Duration::from_secs(1),
                })
            }
            ChallengeTry::Gone => return Err(ServiceError::InvalidMfaToken),
        };
        let counters = self.proofs.code_counters(&challenge.user_id, Some(&client));
        let (this, code) = (self.clone(), code.to_owned());
        let check = async move {
            let creds = this
                .users
                .credentials_by_id(&challenge.user_id)
                .await?
                .filter(|c| proof(c) == challenge.proof)
                .ok_or(ServiceError::InvalidMfaToken)?;
            // After a logout-all the session would be refused anyway: spend no code on it.
            if this.store.generation(&creds.user.id).await? != challenge.generation {
                this.store.challenge_take(&key).await?;
                return Err(ServiceError::InvalidMfaToken);
            }
            let redeemed = match this.proofs.factor().redeem(&creds, &code).await {
                Ok(Redeem::Accepted(redeemed)) => redeemed,
                outcome => {
                    this.store.challenge_release(&key).await?;
                    return match outcome? {
                        // A code already accepted is no guess: the owner sent it twice.
                        Redeem::Replayed => Err(ServiceError::InvalidMfaCode),
                        _ => {
                            let failed = crate::audit::event(
                                crate::audit::AuditKind::SignInFailed,
                                None,
                                Some(&creds.user.id),
                                &client,
                                serde_json::json!({ "step": "second_factor" }),
                            );
                            this.sessions.audit().record_later(failed);
                            Ok(Verdict::Wrong)
                        }
                    };
                }
            };
            if !this.store.challenge_take(&key).await? {
                // A concurrent request with this token won.
                return Err(ServiceError::InvalidMfaToken);
            }
            tracing::info!(user_id = %creds.user.id, method = ?redeemed, "second factor proven");
            let method = match redeemed {
                Redeemed::Totp => SignInMethod::PasswordAndTotp,
                Redeemed::BackupCode => SignInMethod::PasswordAndBackupCode,
            };
            match this
                .sessions
                .open(creds, client, method, challenge.generation)
                .await?
            {
                Opening::Opened(pair) => Ok(Verdict::Right(pair)),
                // The password changed since the challenge was issued.
                Opening::Superseded => Err(ServiceError::InvalidMfaToken),
            }
        };
        self.proofs.counted_code(counters, check).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokens_of_our_shape_reach_the_store_and_none_is_printed() {
        assert!(well_formed(&"a".repeat(43)));
        assert!(!well_formed(&"a".repeat(42)));
        assert!(!well_formed(&format!("{}=", "a".repeat(42))));
        assert_eq!(
            format!("{:?}", ChallengeToken("x".repeat(43))),
            "ChallengeToken(***)"
        );
        assert_ne!(digest("token"), "token");
    }
}
