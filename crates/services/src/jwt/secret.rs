//! One hex secret, `JWT_API_SECRET` (or its predecessor): the HMAC keys it yields for each
//! kind of token, its key id, and the sealing keys derived from it.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::Sha256;

use super::TokenKind;

/// Why a secret was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("{0} is not set; generate one with `openssl rand -hex 32` or `api gen-secret`")]
    Missing(&'static str),
    #[error("{0} must be hex (0-9, a-f); generate one with `openssl rand -hex 32`")]
    NotHex(&'static str),
    #[error("{name} is {bytes} bytes; it must be at least 32 bytes (64 hex digits)")]
    TooShort { name: &'static str, bytes: usize },
    #[error("the signing keys could not be made: {0}")]
    Unusable(String),
}

fn unusable(e: jsonwebtoken::errors::Error) -> SecretError {
    SecretError::Unusable(e.to_string())
}

/// The keys of one secret.
pub(super) struct KeySet {
    pub(super) kid: String,
    /// Seals the mailed tokens waiting in the mail outbox.
    pub(super) outbox: [u8; 32],
    /// Seals TOTP secrets when `MFA_ENCRYPTION_KEY` is not set (never in production).
    pub(super) mfa: [u8; 32],
    pub(super) access_enc: EncodingKey,
    pub(super) access_dec: DecodingKey,
    pub(super) refresh_enc: EncodingKey,
    pub(super) refresh_dec: DecodingKey,
}

fn derive(secret: &[u8], label: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(label.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl KeySet {
    pub(super) fn from_hex(name: &'static str, hex_secret: &str) -> Result<Self, SecretError> {
        let hex_secret = hex_secret.trim();
        if hex_secret.is_empty() {
            return Err(SecretError::Missing(name));
        }
        let secret = hex::decode(hex_secret).map_err(|_| SecretError::NotHex(name))?;
        if secret.len() < 32 {
            return Err(SecretError::TooShort {
                name,
                bytes: secret.len(),
            });
        }
        let access = derive(&secret, "strata access-token key v1");
        let refresh = derive(&secret, "strata refresh-token key v1");
        Ok(Self {
            kid: hex::encode(&derive(&secret, "strata key id v1")[..8]),
            outbox: derive(&secret, "strata mail outbox key v1")
                .try_into()
                .unwrap_or_default(),
            mfa: derive(&secret, "strata mfa secret key v1")
                .try_into()
                .unwrap_or_default(),
            access_enc: EncodingKey::from_secret(&access).map_err(unusable)?,
            access_dec: DecodingKey::from_secret(&access).map_err(unusable)?,
            refresh_enc: EncodingKey::from_secret(&refresh).map_err(unusable)?,
            refresh_dec: DecodingKey::from_secret(&refresh).map_err(unusable)?,
        })
    }

    pub(super) fn decoding(&self, kind: TokenKind) -> &DecodingKey {
        match kind {
            TokenKind::Access => &self.access_dec,
            TokenKind::Refresh => &self.refresh_dec,
        }
    }
}
