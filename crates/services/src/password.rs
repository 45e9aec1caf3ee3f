//! bcrypt hashing on its own bounded pool, on the blocking threads, so password work can
//! neither stall the async workers nor queue database work behind it.
//!
//! At most one hash per core runs at a time. Work comes in two lanes: *checks* (a login,
//! the current password of an account operation) and *new hashes* (registration, a password
//! change). New hashes may hold at most half the slots, so a flood of registrations cannot
//! starve logins. Each lane has a bounded queue: past it the answer is `Overloaded` at
//! once (503 with `Retry-After`), never an ever longer wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::domain::Password;
use crate::ServiceError;
use repos::PasswordHash;

/// bcrypt's input limit; longer passwords are refused at registration and never match.
const MAX_BYTES: usize = 72;

/// Slots and a bounded queue for one kind of password work.
struct Lane {
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Lane {
    fn new(slots: usize, max_waiting: usize) -> Self {
        Self {
            slots: Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A slot of this lane: at once if one is free, after a wait if fewer than
    /// `max_waiting` are already waiting, `Overloaded` otherwise.
    async fn enter(&self) -> Result<SemaphorePermit<'_>, ServiceError> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("strata_password_work_refused_total").increment(1);
            return Err(ServiceError::Overloaded);
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|e| ServiceError::Internal(format!("bcrypt pool closed: {e}")))
    }
}

/// Which lane a piece of work runs in.
#[derive(Clone, Copy)]
enum Work {
    /// Checking a password someone typed.
    Check,
    /// Hashing a new password.
    NewHash,
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    /// Every hash runs in one of these: one per core.
    all: Arc<Lane>,
    /// New hashes pass this first: at most half the cores.
    new_hashes: Arc<Lane>,
    dummy: Arc<OnceCell<PasswordHash>>,
}

impl Passwords {
    /// A hasher at bcrypt `cost`, running as many hashes at once as there are cores, with
    /// at most `max_waiting` waiting in each lane.
    pub fn new(cost: u32, max_waiting: usize) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self::with_slots(cost, cores, max_waiting)
    }

    /// As [`Passwords::new`], with `slots` hashes at once.
    pub fn with_slots(cost: u32, slots: usize, max_waiting: usize) -> Self {
        let slots = slots.max(2);
        Self {
            cost,
            all: Arc::new(Lane::new(slots, max_waiting)),
            new_hashes: Arc::new(Lane::new(slots / 2, max_waiting)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: Work,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        // A new hash holds its lane's slot while it waits for a shared one, so at most
        // half the shared slots ever go to new hashes, waiting or running.
        let _lane = match work {
            Work::NewHash => Some(self.new_hashes.enter().await?),
            Work::Check => None,
        };
        let _slot = self.all.enter().await?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ServiceError::Internal(format!("bcrypt task failed: {e}")))
    }

    /// Hashes `password` with a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, ServiceError> {
        let (plain, cost) = (password.expose().to_owned(), self.cost);
        self.run(Work::NewHash, move || bcrypt::hash(plain, cost))
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
        self.run(Work::Check, move || {
            bcrypt::verify(plain, &hash).unwrap_or(false)
        })
        .await
    }

    /// Spends the same time as a real verification, for a user that does not exist, so
    /// that the answer's timing does not tell whether the account exists.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), ServiceError> {
        let cost = self.cost;
        let dummy = self
            .dummy
            .get_or_try_init(|| async {
                self.run(Work::Check, move || {
                    bcrypt::hash("strata dummy password", cost)
                })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn password() -> Password {
        match Password::parse("correct horse battery", "password") {
            Ok(p) => p,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// Runs `n` new hashes at once on a hasher with 2 slots and `max_waiting`, and says how
    /// many were refused as overloaded.
    async fn refused_of(n: usize, max_waiting: usize) -> usize {
        let p = Passwords::with_slots(8, 2, max_waiting);
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(&password()).await })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            match t.await {
                Ok(Err(ServiceError::Overloaded)) => refused += 1,
                Ok(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        refused
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_bound_new_hashes_are_refused_at_once() {
        // One slot for new hashes, two may wait: of ten at once, seven are refused.
        assert_eq!(refused_of(10, 2).await, 7);
        assert_eq!(refused_of(3, 2).await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_hashes_cannot_take_every_slot_from_checks() {
        let p = Passwords::with_slots(12, 2, 64);
        let hash = p
            .hash(&password())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        // Fill the new-hash lane: one running, seven waiting.
        let flood: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(&password()).await })
            })
            .collect();
        while p.new_hashes.waiting.load(Ordering::Acquire) < 7 {
            tokio::task::yield_now().await;
        }
        // The other shared slot is free for checks: a login is not queued behind them.
        assert_eq!(p.all.slots.available_permits(), 1);
        assert!(p
            .verify("correct horse battery", &hash)
            .await
            .unwrap_or(false));
        assert!(
            flood.iter().any(|t| !t.is_finished()),
            "the check waited for the whole flood"
        );
        for t in flood {
            assert!(matches!(t.await, Ok(Ok(_))));
        }
    }
}
