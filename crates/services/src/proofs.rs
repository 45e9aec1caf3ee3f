//! What a user proves, counted like a sign-in: the password again before an account
//! operation, and codes of the second factor (at sign-in and before an account operation).
//! Wrong ones count against the account, so a stolen access token buys no unlimited
//! guesses and keeps no hash slot busy.

use crate::attempts::{address_block, Attempts, Counter, Verdict};
use crate::client::ClientInfo;
use crate::mfa::{checked_code, Redeem, SecondFactor};
use crate::outcomes;
use crate::password::Passwords;
use crate::ServiceError;

/// The failed-attempt limits proofs count against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Wrong passwords or codes per account (and, at sign-in, per account and address).
    pub per_account: u64,
    /// Failures per client address.
    pub per_ip: u64,
}

/// Checks passwords and codes against the attempt counters.
#[derive(Clone)]
pub(crate) struct Proofs {
    attempts: Attempts,
    passwords: Passwords,
    factor: SecondFactor,
    limits: Limits,
}

impl Proofs {
    pub(crate) fn new(
        attempts: Attempts,
        passwords: Passwords,
        factor: SecondFactor,
        limits: Limits,
    ) -> Self {
        Self {
            attempts,
            passwords,
            factor,
            limits,
        }
    }

    /// The second factor's checker.
    pub(crate) fn factor(&self) -> &SecondFactor {
        &self.factor
    }

    /// Checks the password of a signed-in user before an account operation. Wrong ones
    /// count against the account, by user id alone, under the per-account login limit;
    /// past it the answer is `RateLimited` until the window ends, even for the right one.
    pub(crate) async fn password(
        &self,
        user_id: &str,
        password: &str,
        hash: Option<&repos::PasswordHash>,
    ) -> Result<(), ServiceError> {
        let counter = Counter::cleared(format!("password:acct:{user_id}"), self.limits.per_account);
        let passwords = self.passwords.clone();
        let (password, hash) = (password.to_owned(), hash.cloned());
        let check = async move {
            Ok(match passwords.verify(&password, hash.as_ref()).await? {
                true => Verdict::Right(()),
                false => Verdict::Wrong,
            })
        };
        match self.attempts.check(vec![counter], check).await {
            Ok(Verdict::Right(()) | Verdict::Partly(())) => {
                outcomes::password_check("ok");
                Ok(())
            }
            Ok(Verdict::Wrong) => {
                outcomes::password_check("failed");
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    outcomes::password_check("limited");
                }
                Err(e)
            }
        }
    }

    /// Checks a code of the account's second factor before an account operation of a
    /// signed-in user (turning the factor off, changing the address). Wrong codes count
    /// against the account as at sign-in (`InvalidMfaCode`, then `RateLimited`); a code
    /// already accepted is refused without counting (no guess).
    pub(crate) async fn code(
        &self,
        creds: &repos::Credentials,
        code: &str,
    ) -> Result<(), ServiceError> {
        let code = checked_code(code)?.to_owned();
        let counters = self.code_counters(&creds.user.id, None);
        let (factor, account) = (self.factor.clone(), creds.clone());
        let check = async move {
            match factor.redeem(&account, &code).await? {
                Redeem::Accepted(_) => Ok(Verdict::Right(())),
                Redeem::Replayed => Err(ServiceError::InvalidMfaCode),
                Redeem::Wrong => Ok(Verdict::Wrong),
            }
        };
        self.counted_code(counters, check).await
    }

    /// The counters a wrong code counts on: the account's, by id alone (a password thief
    /// spread over many addresses still gets only so many guesses) and, at sign-in, the
    /// failed-login counters of the account at this address and of the address.
    pub(crate) fn code_counters(&self, user_id: &str, client: Option<&ClientInfo>) -> Vec<Counter> {
        let l = self.limits;
        let account = Counter::cleared(format!("mfa:acct:{user_id}"), l.per_account);
        let login = client.map(|client| {
            let ip = address_block(client.ip.as_deref());
            [
                Counter::cleared(format!("login:acct:{user_id}|{ip}"), l.per_account),
                Counter::kept(format!("login:ip:{ip}"), l.per_ip),
            ]
        });
        std::iter::once(account)
            .chain(login.into_iter().flatten())
            .collect()
    }

    /// Runs a code check on `counters` (`InvalidMfaCode` when wrong) and counts its outcome.
    pub(crate) async fn counted_code<T, F>(
        &self,
        counters: Vec<Counter>,
        check: F,
    ) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<Verdict<T>, ServiceError>> + Send + 'static,
    {
        match self.attempts.check(counters, check).await {
            Ok(Verdict::Right(v) | Verdict::Partly(v)) => {
                outcomes::code_check("ok");
                Ok(v)
            }
            Ok(Verdict::Wrong) => {
                outcomes::code_check("failed");
                Err(ServiceError::InvalidMfaCode)
            }
            Err(e) => {
                if matches!(e, ServiceError::RateLimited { .. }) {
                    outcomes::code_check("limited");
                }
                Err(e)
            }
        }
    }
}
