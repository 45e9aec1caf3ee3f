//! The second-factor section: the issuer authenticator apps show, and the keys TOTP secrets
//! are sealed under.

use services::seal::SealingKeys;
use services::MfaSettings;

use super::{AppEnv, Reader};

/// A 32-byte key written as 64 hex digits.
fn key(v: &str) -> Result<[u8; 32], String> {
    hex::decode(v)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| "must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`".into())
}

impl Reader<'_> {
    /// `NAME` and `NAME_PREVIOUS` (which still opens what it sealed, after a rotation): 32
    /// bytes each, as hex. `None` when `NAME` is not set or is refused (with its error).
    pub(super) fn sealing_keys(&mut self, name: &str) -> Option<SealingKeys> {
        let previous_name = format!("{name}_PREVIOUS");
        let current = self.raw(name).map(|v| key(&v));
        let previous = self.raw(&previous_name).map(|v| key(&v));
        match (current, previous) {
            (Some(Ok(current)), previous) => {
                let previous = match previous {
                    Some(Ok(k)) => Some(k),
                    Some(Err(e)) => {
                        self.errors.push(format!("{previous_name}: {e}"));
                        None
                    }
                    None => None,
                };
                Some(SealingKeys { current, previous })
            }
            (Some(Err(e)), _) => {
                self.errors.push(format!("{name}: {e}"));
                None
            }
            (None, Some(_)) => {
                self.errors
                    .push(format!("{previous_name}: set without {name}"));
                None
            }
            (None, None) => None,
        }
    }

    /// `MFA_ISSUER`, `MFA_ENCRYPTION_KEY` (required in production) and
    /// `MFA_ENCRYPTION_KEY_PREVIOUS` (still opens what it sealed, after a rotation).
    pub(super) fn mfa(&mut self, app_env: AppEnv) -> MfaSettings {
        let d = MfaSettings::default();
        let issuer = self.parse("MFA_ISSUER", d.issuer.clone(), |v| {
            if v.chars().count() > 64 || v.contains(':') {
                Err("must be at most 64 characters, without ':'".into())
            } else {
                Ok(v.to_owned())
            }
        });
        let keys = self.sealing_keys("MFA_ENCRYPTION_KEY");
        if keys.is_none() && app_env == AppEnv::Production && !self.has("MFA_ENCRYPTION_KEY") {
            self.errors.push(
                "MFA_ENCRYPTION_KEY: required when APP_ENV=production (64 hex digits; TOTP secrets are sealed under it)".into(),
            );
        }
        MfaSettings { issuer, keys, ..d }
    }
}
