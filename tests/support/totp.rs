//! Second-factor codes as an authenticator app computes them from the secret strata showed
//! (RFC 6238: SHA-1, 30 s, 6 digits), so the tests check the service from outside.

use std::time::{SystemTime, UNIX_EPOCH};

use totp_rs::{Builder, Secret};

/// The time step of now.
pub fn current_step() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    now / 30
}

/// The code of `step` for the base32 `secret`.
pub fn code_at(secret: &str, step: u64) -> String {
    let bytes = Secret::try_from_base32(secret)
        .unwrap_or_else(|e| panic!("the secret {secret:?} is not base32: {e:?}"))
        .as_bytes()
        .to_vec();
    let totp = Builder::new()
        .with_secret(Secret::new(bytes.into_boxed_slice()))
        .build()
        .unwrap_or_else(|e| panic!("a TOTP of the secret: {e:?}"));
    totp.generate(step * 30).to_string()
}

/// The code of now.
pub fn code_now(secret: &str) -> String {
    code_at(secret, current_step())
}
