//! Secrets the database holds but must not be able to read: AES-256-GCM under keys of the
//! service's own. The outbox seals its one-time tokens under a key derived from
//! `JWT_API_SECRET`; the second factor seals TOTP secrets under `MFA_ENCRYPTION_KEY`, bound
//! to their account. After a rotation the previous key still opens what it sealed.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Seals with the first key, opens with any.
#[derive(Clone)]
pub(crate) struct Sealer {
    keys: Vec<[u8; 32]>,
}

/// What [`Sealer::open_bound`] found: the plain text, and whether a previous key sealed it
/// (then it is worth sealing again under the current one).
pub(crate) struct Opened {
    pub plain: String,
    pub stale: bool,
}

impl Sealer {
    /// `keys`: the current one first.
    pub(crate) fn new(keys: Vec<[u8; 32]>) -> Self {
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
        let key = self.keys.first().copied().unwrap_or_default();
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
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
        self.keys.iter().enumerate().find_map(|(i, key)| {
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

    #[test]
    fn a_sealed_token_opens_with_its_key_or_after_a_rotation_only() {
        let (old, new, other) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let sealed = Sealer::new(vec![old]).seal("the token");
        assert!(!sealed.contains("the token"));
        assert_eq!(
            Sealer::new(vec![old]).open(&sealed).as_deref(),
            Some("the token")
        );
        assert_eq!(
            Sealer::new(vec![new, old]).open(&sealed).as_deref(),
            Some("the token")
        );
        assert_eq!(Sealer::new(vec![other]).open(&sealed), None);
        assert_eq!(Sealer::new(vec![old]).open("not sealed"), None);
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap_or_default();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            Sealer::new(vec![old]).open(&URL_SAFE_NO_PAD.encode(tampered)),
            None
        );
    }

    #[test]
    fn a_bound_secret_opens_only_for_its_account_and_says_when_an_old_key_sealed_it() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let sealed = Sealer::new(vec![old]).seal_bound("JBSWY3DPEHPK3PXP", b"alice");
        assert!(Sealer::new(vec![old]).open_bound(&sealed, b"bob").is_none());
        let fresh = Sealer::new(vec![old]).open_bound(&sealed, b"alice");
        assert!(fresh.as_ref().is_some_and(|o| !o.stale));
        let rotated = Sealer::new(vec![new, old]).open_bound(&sealed, b"alice");
        assert!(rotated
            .as_ref()
            .is_some_and(|o| o.stale && o.plain == "JBSWY3DPEHPK3PXP"));
    }
}
