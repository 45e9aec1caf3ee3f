//! Signing in: the password step ([`PasswordSignIn`]) and, for an account with a second
//! factor, the step after it ([`SecondStep`]), which a challenge links. Either ends by
//! opening a session ([`crate::Sessions`]).

mod password;
mod second_step;

use std::time::Duration;

pub(crate) use password::PasswordSignInRules;
pub use password::{LoginInput, PasswordSignIn};
pub use second_step::SecondStep;

/// How the password step of a sign-in ended, when the password was right.
#[derive(Debug)]
pub enum SignIn {
    /// The session is open: its tokens.
    Complete(crate::TokenPair),
    /// The account has a second factor: no session yet; the sign-in goes on at
    /// `POST /api/auth/mfa` with this challenge's token and a code.
    SecondFactor(Challenge),
}

/// A sign-in waiting for its second factor, as the client sees it.
#[derive(Debug)]
pub struct Challenge {
    /// The `mfa_token` of the wire.
    pub token: ChallengeToken,
    /// How long the token lives.
    pub expires_in: Duration,
}

/// The opaque token of a sign-in waiting for its second factor. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeToken(String);

impl ChallengeToken {
    /// The token, for the answer to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ChallengeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChallengeToken(***)")
    }
}
