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

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::domain::Password;
use crate::ServiceError;
use repos::PasswordHash;

/// bcrypt's input limit; longer passwords are refused at registration and never match.
const MAX_BYTES: usize = Password::MAX_BYTES;

/// Slots and a bounded queue for one kind of password work.
struct Lane {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// One place in a lane's queue, given back however the wait ends (a slot, or the request
/// dropped while it waited).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Lane {
    fn new(slots: usize, max_waiting: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A slot of this lane: at once if one is free, after a wait if fewer than
    /// `max_waiting` are already waiting, `Overloaded` otherwise. The slot is owned, so it
    /// can go with the work to the blocking thread and is freed only when the work ends.
    async fn enter(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let place = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            drop(place);
            metrics::counter!("strata_password_work_refused_total").increment(1);
            return Err(ServiceError::Overloaded);
        }
        let permit = Arc::clone(&self.slots).acquire_owned().await;
        drop(place);
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
        let lane = match work {
            Work::NewHash => Some(self.new_hashes.enter().await?),
            Work::Check => None,
        };
        let slot = self.all.enter().await?;
        // The slots go with the work: a request dropped while bcrypt runs (its client
        // gone) does not free them before the hash is done.
        tokio::task::spawn_blocking(move || {
            let _held = (lane, slot);
            f()
        })
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

    /// Yields until `f` holds (it is about tasks this test spawned).
    async fn until(f: impl Fn() -> bool) {
        while !f() {
            tokio::task::yield_now().await;
        }
    }

    fn waiting(lane: &Lane) -> usize {
        lane.waiting.load(Ordering::Acquire)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_bound_new_hashes_are_refused_at_once() {
        let p = Passwords::with_slots(4, 2, 3);
        // The one new-hash slot is taken: three may wait, the fourth is refused.
        let held = Arc::clone(&p.new_hashes.slots).try_acquire_owned();
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(&password()).await })
            })
            .collect();
        until(|| waiting(&p.new_hashes) == 3).await;
        assert!(matches!(
            p.hash(&password()).await,
            Err(ServiceError::Overloaded)
        ));
        drop(held);
        for t in queued {
            assert!(matches!(t.await, Ok(Ok(_))));
        }
        assert_eq!(waiting(&p.new_hashes), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_it_waits_gives_its_place_back() {
        let p = Passwords::with_slots(4, 2, 1);
        let held = Arc::clone(&p.new_hashes.slots).try_acquire_owned();
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.hash(&password()).await })
        };
        until(|| waiting(&p.new_hashes) == 1).await;
        waiter.abort();
        assert!(waiter.await.is_err(), "cancelled");
        assert_eq!(waiting(&p.new_hashes), 0, "the place is free again");
        drop(held);
        assert!(p.hash(&password()).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_bcrypt_runs_keeps_its_slot_until_the_hash_ends() {
        // Cost 14: about a second of bcrypt, far longer than the checks below.
        let p = Passwords::with_slots(14, 2, 4);
        let cheap = bcrypt::hash("a password", 4).unwrap_or_default();
        let hash = PasswordHash::new(cheap.replacen("$04$", "$14$", 1));
        let running = {
            let p = p.clone();
            tokio::spawn(async move { p.verify("a guess", &hash).await })
        };
        until(|| p.all.slots.available_permits() == 1).await;
        running.abort();
        assert!(running.await.is_err(), "cancelled");
        assert_eq!(
            p.all.slots.available_permits(),
            1,
            "the bcrypt still running holds its slot"
        );
        until(|| p.all.slots.available_permits() == 2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn new_hashes_cannot_take_every_slot_from_checks() {
        let p = Passwords::with_slots(4, 2, 64);
        let hash = p
            .hash(&password())
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        // The new-hash lane full: its one slot held, seven waiting behind it.
        let held = Arc::clone(&p.new_hashes.slots).try_acquire_owned();
        let shared = Arc::clone(&p.all.slots).try_acquire_owned();
        let flood: Vec<_> = (0..7)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(&password()).await })
            })
            .collect();
        until(|| waiting(&p.new_hashes) == 7).await;
        // The other shared slot is free for checks: a login is not queued behind them.
        assert_eq!(p.all.slots.available_permits(), 1);
        assert!(p
            .verify("correct horse battery", &hash)
            .await
            .unwrap_or(false));
        drop((held, shared));
        for t in flood {
            assert!(matches!(t.await, Ok(Ok(_))));
        }
    }
}
