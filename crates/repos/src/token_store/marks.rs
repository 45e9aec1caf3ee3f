//! The write marks contract: after a user's write, how far the primary's log had gone, so
//! that the user's reads on any instance skip replicas that have not replayed that far.

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

/// The last write of each user, as a position in the primary's log, for a while.
pub trait WriteMarks: Send + Sync {
    /// Records that `user_id` wrote at `position`, for `hold`. A lower position than the
    /// one held (a concurrent write that finished first) leaves the higher one.
    fn mark_write(
        &self,
        user_id: &str,
        position: u64,
        hold: Duration,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// The position of the user's last write, if it is still held.
    fn last_write(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<u64>, RepoError>> + Send;
}
