//! The slots password work runs in, and their bounded queues.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServiceError;

/// Slots and a bounded queue for one kind of password work.
pub(super) struct Lane {
    pub(super) slots: Arc<Semaphore>,
    pub(super) waiting: AtomicUsize,
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
    pub(super) fn new(slots: usize, max_waiting: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A slot of this lane if one is free right now; no place in the queue otherwise.
    pub(super) fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// A slot of this lane: at once if one is free, after a wait if fewer than
    /// `max_waiting` are already waiting, `Overloaded` otherwise. The slot is owned, so it
    /// can go with the work to the blocking thread and is freed only when the work ends.
    pub(super) async fn enter(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
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
        permit.map_err(|e| ServiceError::internal_from("the password pool", e))
    }
}
