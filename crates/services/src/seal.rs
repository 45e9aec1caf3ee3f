//! Secrets the database holds but must not be able to read: AES-256-GCM under keys of the
//! service's own. The outbox seals its mailed tokens under a key derived from
//! `JWT_API_SECRET`; the second factor seals TOTP secrets under `MFA_ENCRYPTION_KEY`, bound
//! to their account. After a rotation the previous key still opens what it sealed.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The keys a sealer works with: the current one, which seals, and the one before a
/// rotation, which still opens. There is always a current key. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKeys {
    pub current: [u8; 32],
    pub previous: Option<[u8; 32]>,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKeys")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// Seals with the current key, opens with either.
#[derive(Clone)]
pub(crate) struct Sealer {
    keys: SealingKeys,
}

/// What [`Sealer::open_bound`] found: the plain text, and whether a previous key sealed it
/// (then it is worth sealing again under the current one).
pub(crate) struct Opened {
    pub plain: String,
    pub stale: bool,
}

impl Sealer {
    pub(crate) fn new(keys: SealingKeys) -> Self {
        Self { keys }
    }

    /// `base64url(nonce || ciphertext)`.
    pub(crate) fn seal(&self, plain: &str) -> String {
        self.seal_bound(plain, b"")
    }

    /// The text, if one of the keys sealed it.
    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        self.open_bound(sealed, b"").map(|o| o.plain)
    }

    /// Seals `plain` bound to `context` (an account id): it opens only with that context.
    pub(crate) fn seal_bound(&self, plain: &str, context: &[u8]) -> String {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.keys.current));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: context,
        };
        // Encryption into a Vec fails only past 64 GiB.
        let sealed = cipher.encrypt(&nonce, payload).unwrap_or_default();
        URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
    }

    /// The text sealed bound to `context`, if one of the keys sealed it.
    pub(crate) fn open_bound(&self, sealed: &str, context: &[u8]) -> Option<Opened> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let keys = std::iter::once(&self.keys.current).chain(&self.keys.previous);
        keys.enumerate().find_map(|(i, key)| {
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
            let payload = Payload {
                msg: body,
                aad: context,
            };
            let plain = cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
            Some(Opened {
                plain: String::from_utf8(plain).ok()?,
                stale: i > 0,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: [u8; 32], previous: Option<[u8; 32]>) -> SealingKeys {
        SealingKeys { current, previous }
    }

    #[test]
    fn a_sealed_token_opens_with_its_key_or_after_a_rotation_only() {
        let (old, new, other) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let sealed = Sealer::new(keys(old, None)).seal("the token");
        assert!(!sealed.contains("the token"));
        assert_eq!(
            Sealer::new(keys(old, None)).open(&sealed).as_deref(),
            Some("the token")
        );
        assert_eq!(
            Sealer::new(keys(new, Some(old))).open(&sealed).as_deref(),
            Some("the token")
        );
        assert_eq!(Sealer::new(keys(other, None)).open(&sealed), None);
        assert_eq!(Sealer::new(keys(old, None)).open("not sealed"), None);
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap_or_default();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            Sealer::new(keys(old, None)).open(&URL_SAFE_NO_PAD.encode(tampered)),
            None
        );
    }

    #[test]
    fn a_bound_secret_opens_only_for_its_account_and_says_when_an_old_key_sealed_it() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let sealed = Sealer::new(keys(old, None)).seal_bound("JBSWY3DPEHPK3PXP", b"alice");
        assert!(Sealer::new(keys(old, None))
            .open_bound(&sealed, b"bob")
            .is_none());
        let fresh = Sealer::new(keys(old, None)).open_bound(&sealed, b"alice");
        assert!(fresh.as_ref().is_some_and(|o| !o.stale));
        let rotated = Sealer::new(keys(new, Some(old))).open_bound(&sealed, b"alice");
        assert!(rotated
            .as_ref()
            .is_some_and(|o| o.stale && o.plain == "JBSWY3DPEHPK3PXP"));
    }
}
