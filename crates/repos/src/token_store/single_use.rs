//! The single-use records contract: state a ceremony leaves between its two requests (a
//! passkey challenge, an OpenID flow, a one-time code), taken back and deleted in one
//! step, so a replay finds nothing; and held to a cap per kind, so a flood fills nothing
//! past it.

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

/// The largest value a single-use record may hold (a ceremony's state is far smaller).
pub const MAX_SINGLE_USE_BYTES: usize = 8 * 1024;

/// Records that can be taken once, each kind held to a cap of live records.
pub trait SingleUse: Send + Sync {
    /// Stores `value` under `key` among the records of `kind`, for `ttl`. When `kind`
    /// already holds `cap` live records, or `value` is over [`MAX_SINGLE_USE_BYTES`],
    /// nothing is stored and the answer is `Unavailable` (a 503): the caller's rate
    /// limits keep honest traffic far below the cap.
    fn single_put(
        &self,
        kind: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
        cap: usize,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Takes the record and deletes it in one step: of any number of concurrent takes,
    /// one gets it. `None` when it is absent, lapsed, or taken already.
    fn single_take(
        &self,
        kind: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, RepoError>> + Send;
}

/// The refusal of a record over the size limit or past its kind's cap.
pub(crate) fn refused(kind: &str, why: String) -> RepoError {
    RepoError::Unavailable {
        what: "token store",
        detail: format!("single-use record of kind {kind} refused: {why}"),
    }
}
