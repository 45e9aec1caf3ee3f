//! The one-time token inside an outbox row, sealed with AES-256-GCM under a key derived
//! from `JWT_API_SECRET` (and readable with the previous secret's key after a rotation):
//! the database never holds a usable token, and the row forgets it once sent.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Seals with the first key, opens with any.
#[derive(Clone)]
pub(crate) struct Sealer {
    keys: Vec<[u8; 32]>,
}

impl Sealer {
    /// `keys`: the current secret's first.
    pub(crate) fn new(keys: Vec<[u8; 32]>) -> Self {
        Self { keys }
    }

    /// `base64url(nonce || ciphertext)`.
    pub(crate) fn seal(&self, token: &str) -> String {
        let key = self.keys.first().copied().unwrap_or_default();
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption into a Vec fails only past 64 GiB.
        let sealed = cipher.encrypt(&nonce, token.as_bytes()).unwrap_or_default();
        URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
    }

    /// The token, if one of the keys sealed it.
    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        self.keys.iter().find_map(|key| {
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
            let plain = cipher.decrypt(Nonce::from_slice(nonce), body).ok()?;
            String::from_utf8(plain).ok()
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
}
