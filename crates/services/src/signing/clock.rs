//! The time the key life cycle reads: the system's, or one a test moves by hand so a whole
//! rotation runs in milliseconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

/// The system clock, or a hand-moved one ([`Clock::manual`]).
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<Mutex<NaiveDateTime>>>);

impl Clock {
    /// The system clock (UTC).
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: NaiveDateTime) -> Self {
        Self(Some(Arc::new(Mutex::new(start))))
    }

    /// The time now, in UTC.
    pub fn now(&self) -> NaiveDateTime {
        match &self.0 {
            None => repos::now_utc(),
            Some(t) => *t.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Moves a manual clock on by `by`; the system clock moves by itself.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            *t += TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        }
    }
}
