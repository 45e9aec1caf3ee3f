//! A stored credential as a sign-in checks it. webauthn-rs refuses an assertion whose
//! backup-eligible flag differs from the stored one before it checks the signature;
//! strata takes the flag from the assertion instead, so the signature check (which covers
//! the flags) decides. Why: docs/decisions.md, "Passkey backup flags that change".

use webauthn_rs::prelude::Passkey;

/// The backup-eligible bit (BE) of the flags byte in authenticator data.
const BACKUP_ELIGIBLE: u8 = 1 << 3;

/// The flags byte follows the 32-byte RP id hash.
const FLAGS_AT: usize = 32;

/// The backup-eligible flag an assertion's authenticator data claims (`None` if too short
/// to hold one: the library refuses such an assertion anyway).
pub(crate) fn asserted_backup_eligible(authenticator_data: &[u8]) -> Option<bool> {
    authenticator_data
        .get(FLAGS_AT)
        .map(|flags| flags & BACKUP_ELIGIBLE != 0)
}

/// The stored credential with its backup-eligible flag set to `eligible`, ready for
/// `finish_discoverable_authentication`; `None` if the stored text is not a credential.
pub(crate) fn aligned(credential: &str, eligible: Option<bool>) -> Option<Passkey> {
    let mut value: serde_json::Value = serde_json::from_str(credential).ok()?;
    if let (Some(eligible), Some(cred)) = (eligible, value.get_mut("cred")) {
        cred["backup_eligible"] = eligible.into();
    }
    serde_json::from_value(value).ok()
}

/// The signature counter a stored credential holds (0: the authenticator keeps none).
pub(crate) fn counter(credential: &str) -> u32 {
    serde_json::from_str::<serde_json::Value>(credential)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}
