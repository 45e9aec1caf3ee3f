//! Password hashing (bcrypt or argon2id, `scheme`) on its own bounded pool, on the blocking
//! threads, so password work can neither stall the async workers nor queue database work
//! behind it.
//!
//! At most one hash per core runs at a time, and under argon2id no more than its memory
//! budget allows. Work comes in two lanes: *checks* (a login, the current password of an
//! account operation) and *new hashes* (registration, a password change, the upgrade of an
//! out-of-date hash). New hashes may hold at most half the slots, so a flood of
//! registrations cannot starve logins. Each lane has a bounded queue: past it the answer is
//! `Overloaded` at once (503 with `Retry-After`), never an ever longer wait.

mod argon;
mod lanes;
mod scheme;

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::domain::Password;
use crate::ServiceError;
use lanes::Lane;
use repos::PasswordHash;
pub use scheme::{PasswordScheme, OWASP_BCRYPT_COST};

/// bcrypt's input limit, kept for argon2id too; longer passwords are refused at
/// registration and never match.
const MAX_BYTES: usize = Password::MAX_BYTES;

/// Which lane a piece of work runs in.
#[derive(Clone, Copy)]
enum Work {
    /// Checking a password someone typed.
    Check,
    /// Hashing a new password.
    NewHash,
    /// Hashing a proven password again: only in slots free right now, never queued ahead
    /// of a registration or a password change.
    Rehash,
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    scheme: PasswordScheme,
    /// Every hash runs in one of these: one per core, within the memory budget.
    all: Arc<Lane>,
    /// New hashes pass this first: at most half of them.
    new_hashes: Arc<Lane>,
    dummy: Arc<OnceCell<PasswordHash>>,
    /// argon2id's memory, kept between hashes.
    memory: argon::MemoryPool,
}

impl Passwords {
    /// A hasher by `scheme`, running as many hashes at once as there are cores (fewer if
    /// argon2id's memory times the cores would pass `memory_budget_kib`), with at most
    /// `max_waiting` waiting in each lane.
    pub fn new(scheme: PasswordScheme, memory_budget_kib: u64, max_waiting: usize) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self::with_slots(
            scheme,
            slots_within(cores, scheme, memory_budget_kib),
            max_waiting,
        )
    }

    /// As [`Passwords::new`], with `slots` hashes at once.
    pub fn with_slots(scheme: PasswordScheme, slots: usize, max_waiting: usize) -> Self {
        let slots = slots.max(1);
        Self {
            scheme,
            all: Arc::new(Lane::new(slots, max_waiting)),
            new_hashes: Arc::new(Lane::new((slots / 2).max(1), max_waiting)),
            dummy: Arc::new(OnceCell::new()),
            memory: argon::MemoryPool::default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: Work,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        // A new hash holds its lane's slot while it waits for a shared one, so at most
        // half the shared slots ever go to new hashes, waiting or running.
        let (lane, slot) = match work {
            Work::NewHash => (
                Some(self.new_hashes.enter().await?),
                self.all.enter().await?,
            ),
            Work::Check => (None, self.all.enter().await?),
            Work::Rehash => {
                let lane = self
                    .new_hashes
                    .try_enter()
                    .ok_or(ServiceError::Overloaded)?;
                (
                    Some(lane),
                    self.all.try_enter().ok_or(ServiceError::Overloaded)?,
                )
            }
        };
        // The slots go with the work: a request dropped while the hash runs (its client
        // gone) does not free them before the hash is done.
        tokio::task::spawn_blocking(move || {
            let _held = (lane, slot);
            f()
        })
        .await
        .map_err(|e| ServiceError::internal_from("the password hash task", e))
    }

    /// Hashes `password` with a fresh salt, by the current scheme.
    pub async fn hash(&self, password: &Password) -> Result<PasswordHash, ServiceError> {
        self.hash_plain(password.expose().to_owned()).await
    }

    async fn hash_plain(&self, plain: String) -> Result<PasswordHash, ServiceError> {
        self.hash_as(Work::NewHash, plain).await
    }

    async fn hash_as(&self, work: Work, plain: String) -> Result<PasswordHash, ServiceError> {
        let (scheme, memory) = (self.scheme, self.memory.clone());
        self.run(work, move || scheme.hash_with(&memory, &plain))
            .await?
            .map(PasswordHash::new)
            .map_err(|why| ServiceError::internal(format!("hashing a password: {why}")))
    }

    /// True if `password` matches `hash`, whichever scheme made it. A malformed hash
    /// counts as no match, and so does an account without a password (`None`), after the
    /// time a real check takes.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, ServiceError> {
        let Some(hash) = hash else {
            self.verify_dummy(password).await?;
            return Ok(false);
        };
        if password.len() > MAX_BYTES {
            // bcrypt would compare only the first 72 bytes: a longer password is never the
            // one that was set (those are refused). Spend the same time anyway.
            self.verify_dummy("").await?;
            return Ok(false);
        }
        self.check(password, hash).await
    }

    async fn check(&self, password: &str, hash: &PasswordHash) -> Result<bool, ServiceError> {
        let (plain, hash, scheme) = (password.to_owned(), hash.expose().to_owned(), self.scheme);
        let memory = self.memory.clone();
        self.run(Work::Check, move || scheme.verify(&memory, &plain, &hash))
            .await
    }

    /// True if `hash` was not made by the current scheme and parameters: a login that
    /// proved the password hashes it again ([`Passwords::rehash`]).
    pub fn is_out_of_date(&self, hash: &PasswordHash) -> bool {
        !self.scheme.is_current(hash.expose())
    }

    /// The hash of a password just proven against an out-of-date hash, by the current
    /// scheme. It takes new-hash slots only if they are free right now (`Overloaded`
    /// otherwise, at once): a rehash can wait for the next login, a registration cannot.
    pub async fn rehash(&self, password: &str) -> Result<PasswordHash, ServiceError> {
        self.hash_as(Work::Rehash, password.to_owned()).await
    }

    /// Spends the same time as a real verification under the current scheme, for a user
    /// that does not exist, so that the answer's timing does not tell whether the account
    /// exists.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), ServiceError> {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash_plain("strata dummy password".into()))
            .await?
            .clone();
        let truncated = &password.as_bytes()[..password.len().min(MAX_BYTES)];
        self.check(&String::from_utf8_lossy(truncated), &dummy)
            .await
            .map(|_| ())
    }
}

/// Hashes at once: one per core, and no more argon2id hashes than fit in the budget (at
/// least one).
pub fn slots_within(cores: usize, scheme: PasswordScheme, memory_budget_kib: u64) -> usize {
    match u64::from(scheme.memory_kib()) {
        0 => cores,
        each => cores.min(usize::try_from(memory_budget_kib / each).unwrap_or(usize::MAX)),
    }
    .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn bcrypt(cost: u32) -> PasswordScheme {
        PasswordScheme::Bcrypt { cost }
    }

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
    async fn an_unknown_user_is_checked_against_a_dummy_made_by_the_current_setting() {
        let argon2 = PasswordScheme::Argon2id {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        for scheme in [bcrypt(5), argon2] {
            let p = Passwords::with_slots(scheme, 2, 4);
            assert!(p.verify_dummy("a guess").await.is_ok());
            let dummy = p.dummy.get().map(|h| h.expose().to_owned());
            assert!(
                dummy.as_deref().is_some_and(|d| scheme.is_current(d)),
                "{scheme:?}: the dummy costs what a known account's hash does"
            );
        }
    }

    #[test]
    fn argon2id_runs_no_more_hashes_at_once_than_its_memory_budget_holds() {
        let owasp = PasswordScheme::ARGON2ID_OWASP;
        // 19 MiB each: a 64 MiB budget holds three of them, whatever the cores.
        assert_eq!(slots_within(16, owasp, 64 * 1024), 3);
        assert_eq!(slots_within(2, owasp, 64 * 1024), 2);
        // One always runs, and bcrypt's few KiB are not counted.
        assert_eq!(slots_within(16, owasp, 1024), 1);
        assert_eq!(slots_within(16, bcrypt(12), 1024), 16);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rehash_runs_only_in_a_free_slot_and_never_queues() {
        let p = Passwords::with_slots(bcrypt(4), 2, 8);
        let held = Arc::clone(&p.new_hashes.slots).try_acquire_owned();
        assert!(matches!(
            p.rehash("correct horse battery").await,
            Err(ServiceError::Overloaded)
        ));
        assert_eq!(waiting(&p.new_hashes), 0, "it took no place in the queue");
        drop(held);
        let rehashed = p.rehash("correct horse battery").await;
        assert!(rehashed.is_ok_and(|h| !p.is_out_of_date(&h)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_bound_new_hashes_are_refused_at_once() {
        let p = Passwords::with_slots(bcrypt(4), 2, 3);
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
        let p = Passwords::with_slots(bcrypt(4), 2, 1);
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
        let p = Passwords::with_slots(bcrypt(14), 2, 4);
        let cheap = bcrypt::hash("a password", 4).unwrap_or_default();
        let hash = PasswordHash::new(cheap.replacen("$04$", "$14$", 1));
        let running = {
            let p = p.clone();
            tokio::spawn(async move { p.verify("a guess", Some(&hash)).await })
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
        let p = Passwords::with_slots(bcrypt(4), 2, 64);
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
            .verify("correct horse battery", Some(&hash))
            .await
            .unwrap_or(false));
        drop((held, shared));
        for t in flood {
            assert!(matches!(t.await, Ok(Ok(_))));
        }
    }
}
