use chrono::{NaiveDateTime, SubsecRound, Utc};

/// The current UTC time truncated to microseconds: the finest precision all three backends
/// store, so a value read back equals the value written.
pub fn now_utc() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
