//! The sign-in step after the password: a login whose password was right, for an account
//! with the second factor on, gets an `mfa_token` instead of tokens; the token and a code
//! open the session. The token is single-use, lives 5 minutes and dies after 5 wrong codes;
//! wrong codes also count against the account's failed-login limits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::time::Duration;

use repos::{
    ChallengeTry, Credentials, MfaChallenge, RateCounters, SessionStore, SignInChallenges,
};
use sha2::{Digest, Sha256};

use super::Redeem;
use crate::attempts::{address_block, Counter};
use crate::auth::{AuthService, ClientInfo};
use crate::views::TokenPair;
use crate::ServiceError;

/// Most sign-ins one account may have waiting for a second factor in one challenge
/// lifetime: a password holder looping the login can neither fill the store nor, with
/// the in-memory store's cap, lock every other account out.
pub(crate) const MAX_LIVE_CHALLENGES: u64 = 20;

/// The opaque token of a sign-in waiting for its second factor. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaToken(String);

impl MfaToken {
    /// The token, for the answer to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for MfaToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaToken(***)")
    }
}

/// Counts second-factor checks, by outcome.
pub(crate) fn code_check(outcome: &'static str) {
    metrics::counter!("strata_auth_mfa_checks_total", "outcome" => outcome).increment(1);
}

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

impl AuthService {
    /// The counters a wrong code counts on: the account's, by id alone (a password thief
    /// spread over many addresses still gets only so many guesses) and, at sign-in, the
    /// failed-login counters of the account at this address and of the address.
    pub(crate) fn code_counters(&self, user_id: &str, client: Option<&ClientInfo>) -> Vec<Counter> {
        let s = &self.inner.settings;
        let account = Counter::cleared(format!("mfa:acct:{user_id}"), s.login_max_per_account);
        let login = client.map(|client| {
            let ip = address_block(client.ip.as_deref());
            [
                Counter::cleared(
                    format!("login:acct:{user_id}|{ip}"),
                    s.login_max_per_account,
                ),
                Counter::kept(format!("login:ip:{ip}"), s.login_max_per_ip),
            ]
        });
        std::iter::once(account)
            .chain(login.into_iter().flatten())
            .collect()
    }

    /// The answer to a right password for an account with the second factor on: a new
    /// challenge, as `MfaRequired` (or the store's error).
    pub(crate) async fn ask_second_factor(
        &self,
        creds: &Credentials,
        generation: u64,
    ) -> ServiceError {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let mfa = &self.inner.settings.mfa;
        let issued = format!("mfa:issued:{}", creds.user.id);
        match self
            .inner
            .store
            .rate_hit(std::slice::from_ref(&issued), mfa.challenge_ttl)
            .await
        {
            Err(e) => return e.into(),
            Ok(counts) => {
                if let Some(c) = counts.first().filter(|c| c.count > MAX_LIVE_CHALLENGES) {
                    crate::auth::login_outcome("limited");
                    return ServiceError::RateLimited {
                        retry_after: c.resets_in.max(Duration::from_secs(1)),
                    };
                }
            }
        }
        let challenge = MfaChallenge {
            user_id: creds.user.id.clone(),
            proof: proof(creds),
            generation,
        };
        let put = self
            .inner
            .store
            .challenge_put(&digest(&token), &challenge, mfa.challenge_ttl)
            .await;
        if let Err(e) = put {
            return e.into();
        }
        tracing::info!(user_id = %creds.user.id, "password right; second factor required");
        crate::auth::login_outcome("mfa_required");
        ServiceError::MfaRequired {
            token: MfaToken(token),
            expires_in: mfa.challenge_ttl,
        }
    }

    /// Completes a sign-in with its `mfa_token` and a code (TOTP or recovery): a new
    /// session, marked as opened with a second factor.
    pub async fn login_second_factor(
        &self,
        mfa_token: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, ServiceError> {
        let code = super::checked_code(code)?;
        if !well_formed(mfa_token) {
            return Err(ServiceError::InvalidMfaToken);
        }
        let key = digest(mfa_token);
        let max = self.inner.settings.mfa.max_tries;
        let challenge = match self.inner.store.challenge_try(&key, max).await? {
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
        let counters = self.code_counters(&challenge.user_id, Some(&client));
        let (this, code) = (self.clone(), code.to_owned());
        let check = async move {
            let creds = this
                .inner
                .users
                .credentials_by_id(&challenge.user_id)
                .await?
                .filter(|c| proof(c) == challenge.proof)
                .ok_or(ServiceError::InvalidMfaToken)?;
            // After a logout-all the session would be refused anyway: spend no code on it.
            if this.inner.store.generation(&creds.user.id).await? != challenge.generation {
                this.inner.store.challenge_take(&key).await?;
                return Err(ServiceError::InvalidMfaToken);
            }
            let redeemed = match this.inner.factor.redeem(&creds, &code).await {
                Ok(Redeem::Accepted(redeemed)) => redeemed,
                outcome => {
                    this.inner.store.challenge_release(&key).await?;
                    return match outcome? {
                        // A code already accepted is no guess: the owner sent it twice.
                        Redeem::Replayed => Err(ServiceError::InvalidMfaCode),
                        _ => Ok(None),
                    };
                }
            };
            if !this.inner.store.challenge_take(&key).await? {
                // A concurrent request with this token won.
                return Err(ServiceError::InvalidMfaToken);
            }
            tracing::info!(user_id = %creds.user.id, method = ?redeemed, "second factor proven");
            match this
                .open_session(creds, client, true, challenge.generation)
                .await
            {
                Ok(pair) => Ok(Some(pair)),
                Err(ServiceError::InvalidCredentials) => Err(ServiceError::InvalidMfaToken),
                Err(e) => Err(e),
            }
        };
        self.counted_code(counters, check).await
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
        assert_eq!(format!("{:?}", MfaToken("x".repeat(43))), "MfaToken(***)");
        assert_ne!(digest("token"), "token");
    }
}
