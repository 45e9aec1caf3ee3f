//! bcrypt hashing on its own bounded pool: at most one hash per core at a time, on the
//! blocking threads, so logins can neither stall the async workers nor queue database work
//! behind them.

use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;
use crate::ServiceError;
use repos::PasswordHash;

/// bcrypt's input limit; longer passwords are refused at registration and never match.
const MAX_BYTES: usize = 72;

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<PasswordHash>>,
}

impl Passwords {
    /// A hasher at bcrypt `cost`, running as many hashes at once as there are cores.
    pub fn new(cost: u32) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            cost,
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(format!("bcrypt pool closed: {e}")))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ServiceError::Internal(format!("bcrypt task failed: {e}")))
    }

    /// Hashes `password` with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, ServiceError> {
        let (plain, cost) = (password.expose().to_owned(), self.cost);
        self.run(move || bcrypt::hash(plain, cost))
            .await?
            .map(PasswordHash::new)
            .map_err(|e| ServiceError::Internal(format!("bcrypt hash: {e}")))
    }

    /// True if `password` matches `hash`. A malformed hash counts as no match.
    pub async fn verify(&self, password: &str, hash: &PasswordHash) -> Result<bool, ServiceError> {
        if password.len() > MAX_BYTES {
            // bcrypt would compare only the first 72 bytes: a longer password is never the
            // one that was set (those are refused). Spend the same time anyway.
            self.verify_dummy("").await?;
            return Ok(false);
        }
        self.bcrypt_verify(password, hash).await
    }

    async fn bcrypt_verify(
        &self,
        password: &str,
        hash: &PasswordHash,
    ) -> Result<bool, ServiceError> {
        let (plain, hash) = (password.to_owned(), hash.expose().to_owned());
        self.run(move || bcrypt::verify(plain, &hash).unwrap_or(false))
            .await
    }

    /// Spends the same time as a real verification, for a user that does not exist, so
    /// that the answer's timing does not tell whether the account exists.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), ServiceError> {
        let cost = self.cost;
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                self.run(move || bcrypt::hash("strata dummy password", cost))
                    .await?
                    .map(PasswordHash::new)
                    .map_err(|e| ServiceError::Internal(format!("bcrypt hash: {e}")))
            })
            .await?
            .clone();
        let truncated = &password.as_bytes()[..password.len().min(MAX_BYTES)];
        self.bcrypt_verify(&String::from_utf8_lossy(truncated), &dummy)
            .await
            .map(|_| ())
    }
}
