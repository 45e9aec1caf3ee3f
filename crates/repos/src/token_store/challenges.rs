//! The sign-in challenges contract: a sign-in whose password was right, waiting for its
//! second factor, tried one code at a time up to a limit and taken once.

use std::future::Future;
use std::time::Duration;

use crate::RepoError;

/// A sign-in whose password was right, waiting for its second factor.
#[derive(Clone, PartialEq, Eq)]
pub struct SignInChallenge {
    pub user_id: String,
    /// A digest of the password hash the sign-in proved: once the password changes, the
    /// challenge no longer matches the account.
    pub proof: String,
    /// The user's generation when the sign-in began, for the session it opens.
    pub generation: u64,
}

impl std::fmt::Debug for SignInChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInChallenge")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// What a try at a challenge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeTry {
    /// This try may check a code: the challenge, and the tries so far (this one included).
    /// The challenge is busy until [`SignInChallenges::challenge_release`] or a take.
    Granted(SignInChallenge, u64),
    /// Another try on the same challenge is being checked.
    Busy,
    /// No such challenge, or its tries are spent.
    Gone,
}

/// Sign-ins waiting for their second factor, each under a digest of its token.
pub trait SignInChallenges: Send + Sync {
    /// Stores a sign-in waiting for its second factor under `key` (a digest of its token)
    /// for `ttl`.
    fn challenge_put(
        &self,
        key: &str,
        challenge: &SignInChallenge,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Counts one try at the challenge, at most `max_tries` in all and one at a time: a
    /// granted try holds the challenge until it is released (a wrong code) or taken.
    fn challenge_try(
        &self,
        key: &str,
        max_tries: u64,
    ) -> impl Future<Output = Result<ChallengeTry, RepoError>> + Send;

    /// Lets the next try at the challenge in, after a wrong code.
    fn challenge_release(&self, key: &str) -> impl Future<Output = Result<(), RepoError>> + Send;

    /// Deletes the challenge; says whether this call did, so that one success wins.
    fn challenge_take(&self, key: &str) -> impl Future<Output = Result<bool, RepoError>> + Send;
}
