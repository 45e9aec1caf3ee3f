//! Access tokens signed by the published keys (`JWT_ALGORITHM=EdDSA` or `ES256`): signing
//! with the current key, and checking a token against the key its `kid` names, with the
//! tokens already checked remembered until they expire.

use std::sync::Arc;

use jsonwebtoken::{decode, decode_header, encode, Algorithm, Header, Validation};
use sha2::{Digest, Sha256};

use super::{expired_or_invalid, Claims, ACCESS_TOKEN_TYP};
use crate::signing::{RingHandle, SigningAlgorithm};
use crate::ServiceError;

/// Verified tokens remembered per instance (a few MB at most).
const VERIFIED_CAPACITY: usize = 16_384;

/// The published keys' side of the token checks.
pub(super) struct PublishedKeys {
    ring: RingHandle,
    /// The checks of a token, per algorithm (each pinned to its own).
    eddsa: Validation,
    es256: Validation,
    leeway: i64,
    /// Tokens a published key verified, by their SHA-256: an Ed25519 or ECDSA check costs
    /// tens of µs, a lookup well under one. A hit counts only while its key still verifies
    /// and the token has not expired; the session check runs on every request regardless.
    verified: quick_cache::sync::Cache<[u8; 32], Arc<(String, Claims)>>,
}

impl PublishedKeys {
    /// Checks as `validation` does (issuer, audience, times), each algorithm pinned.
    pub(super) fn new(validation: &Validation) -> Self {
        let pinned = |alg: Algorithm| {
            let mut v = validation.clone();
            v.algorithms = vec![alg];
            v
        };
        Self {
            ring: RingHandle::default(),
            eddsa: pinned(Algorithm::EdDSA),
            es256: pinned(Algorithm::ES256),
            leeway: i64::try_from(validation.leeway).unwrap_or(i64::MAX),
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }
    }

    /// The keys, as `SigningKeys` fills them.
    pub(super) fn ring(&self) -> RingHandle {
        self.ring.clone()
    }

    /// Whether any published key verifies (an HS256 instance then tries them too).
    pub(super) fn has_keys(&self) -> bool {
        !self.ring.get().verifiers.is_empty()
    }

    /// Signs `claims` with the current key (RFC 9068: `typ: at+jwt`, `kid`).
    pub(super) fn sign(&self, claims: &Claims) -> Result<String, ServiceError> {
        let ring = self.ring.get();
        let signer = ring
            .signer
            .as_ref()
            .ok_or_else(|| ServiceError::internal("no signing key is current"))?;
        let mut header = Header::new(signer.algorithm.jws());
        header.kid = Some(signer.kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        encode(&header, claims, &signer.key)
            .map_err(|e| ServiceError::internal_from("signing a token", e))
    }

    /// An access token signed by a published key: its `kid` names a current or previous
    /// key of the ring, whose algorithm is the only one accepted (no `alg` from the token
    /// chooses how it is checked), and its `typ` is `at+jwt`. An HS256 token (checked by
    /// `hmac`) is one issued before the switch, accepted only if it was issued before the
    /// first key signed.
    pub(super) fn verify(
        &self,
        token: &str,
        hmac: impl FnOnce(&str) -> Result<Claims, ServiceError>,
    ) -> Result<Claims, ServiceError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let ring = self.ring.get();
        if let Some(hit) = self.verified.get(&digest) {
            let (kid, claims) = &*hit;
            if ring.verifiers.contains_key(kid) {
                if claims.exp.saturating_add(self.leeway) < chrono::Utc::now().timestamp() {
                    return Err(ServiceError::TokenExpired);
                }
                return Ok(claims.clone());
            }
        }
        let header = decode_header(token).map_err(|_| ServiceError::TokenInvalid)?;
        if header.alg == Algorithm::HS256 {
            let claims = hmac(token)?;
            return match ring.asymmetric_since {
                Some(since) if claims.iat < since => Ok(claims),
                _ => Err(ServiceError::TokenInvalid),
            };
        }
        let kid = header.kid.ok_or(ServiceError::TokenInvalid)?;
        let verifier = ring.verifiers.get(&kid).ok_or(ServiceError::TokenInvalid)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(ServiceError::TokenInvalid);
        }
        let validation = match verifier.algorithm {
            SigningAlgorithm::EdDsa => &self.eddsa,
            SigningAlgorithm::Es256 => &self.es256,
            SigningAlgorithm::Hs256 => return Err(ServiceError::TokenInvalid),
        };
        let claims = decode::<Claims>(token, &verifier.key, validation)
            .map_err(expired_or_invalid)?
            .claims;
        self.verified
            .insert(digest, Arc::new((kid, claims.clone())));
        Ok(claims)
    }
}
