//! One asymmetric key: made fresh, or read back from its PKCS#8 form; its public half as a
//! JWK whose `kid` is its RFC 7638 thumbprint.

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// An algorithm an access token may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// HMAC-SHA256 under a key derived from `JWT_API_SECRET`: only strata can verify.
    Hs256,
    /// Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl SigningAlgorithm {
    /// `JWT_ALGORITHM`'s spelling (and the JWS `alg`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Reads `HS256`, `EdDSA` or `ES256`.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Hs256, Self::EdDsa, Self::Es256]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(raw.trim()))
    }

    /// Whether its keys are published (a public half others can verify with).
    pub fn is_asymmetric(self) -> bool {
        self != Self::Hs256
    }

    pub(crate) fn jws(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Es256 => Algorithm::ES256,
        }
    }
}

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyError(pub String);

fn fail(e: impl std::fmt::Display) -> KeyError {
    KeyError(e.to_string())
}

/// An asymmetric key pair, ready to sign and verify.
pub(crate) struct KeyMaterial {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    /// The public half, with `kid`, `alg` and `use: sig`.
    pub jwk: Jwk,
    pub encoding: EncodingKey,
}

impl KeyMaterial {
    /// A fresh key and its private half in PKCS#8 DER (to be sealed before it is stored).
    pub fn generate(algorithm: SigningAlgorithm) -> Result<(Self, Vec<u8>), KeyError> {
        let der = match algorithm {
            SigningAlgorithm::EdDsa => {
                // PKCS#8 v1 (the seed alone): the form jsonwebtoken reads an Ed25519 key in.
                let pair = ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: rand::random(),
                    public_key: None,
                };
                pair.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec()
            }
            SigningAlgorithm::Es256 => {
                use p256::pkcs8::EncodePrivateKey as _;
                // A random scalar is below the group order but for a 2^-128 chance.
                let key = loop {
                    let bytes: [u8; 32] = rand::random();
                    if let Ok(key) = p256::SecretKey::from_slice(&bytes) {
                        break key;
                    }
                };
                key.to_pkcs8_der().map_err(fail)?.as_bytes().to_vec()
            }
            SigningAlgorithm::Hs256 => return Err(KeyError("HS256 keys are not stored".into())),
        };
        Ok((Self::from_der(algorithm, &der)?, der))
    }

    /// The key whose private half is `der` (PKCS#8).
    pub fn from_der(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, KeyError> {
        let encoding = match algorithm {
            SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(der),
            SigningAlgorithm::Es256 => EncodingKey::from_ec_der(der),
            SigningAlgorithm::Hs256 => return Err(KeyError("HS256 keys are not stored".into())),
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm.jws()).map_err(fail)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(fail)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            kid,
            algorithm,
            jwk,
            encoding,
        })
    }
}

/// The verifying key of a published JWK.
pub(crate) fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, KeyError> {
    DecodingKey::from_jwk(jwk).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_from_its_der_with_the_same_thumbprint() {
        for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let (key, der) = match KeyMaterial::generate(alg) {
                Ok(made) => made,
                Err(e) => panic!("generating {alg:?}: {e}"),
            };
            let again = KeyMaterial::from_der(alg, &der).map(|k| (k.kid, k.jwk));
            assert_eq!(again.ok(), Some((key.kid.clone(), key.jwk.clone())));
            // RFC 7638 SHA-256 thumbprints are 43 base64url characters.
            assert_eq!(key.kid.len(), 43, "{}", key.kid);
            assert!(decoding_key(&key.jwk).is_ok());
        }
        assert_eq!(
            SigningAlgorithm::parse("eddsa"),
            Some(SigningAlgorithm::EdDsa)
        );
        assert_eq!(SigningAlgorithm::parse("RS256"), None);
    }
}
