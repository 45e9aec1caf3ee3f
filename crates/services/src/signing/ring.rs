//! What an instance signs and verifies access tokens with right now: a snapshot of the
//! keys, swapped whole when they change, so a request reads one consistent set.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, EncodingKey};

use super::material::SigningAlgorithm;

/// The key that signs.
pub(crate) struct Signer {
    pub kid: String,
    pub algorithm: SigningAlgorithm,
    pub key: EncodingKey,
}

/// A key that verifies.
pub(crate) struct Verifier {
    pub algorithm: SigningAlgorithm,
    pub key: DecodingKey,
}

/// The keys at one moment.
#[derive(Default)]
pub(crate) struct KeyRing {
    /// The current key; `None` while HS256 signs.
    pub signer: Option<Signer>,
    /// The current and previous keys, by `kid`.
    pub verifiers: HashMap<String, Verifier>,
    /// The published set (next, current, previous) as served, and its ETag.
    pub jwks: String,
    pub etag: String,
    /// When the first asymmetric key began to sign (Unix seconds): HS256 access tokens
    /// issued before it still verify until they expire; none issued after it do.
    pub asymmetric_since: Option<i64>,
    /// The published keys' ids and states as read, oldest first, to notice a change.
    pub states: Vec<(String, String)>,
}

impl KeyRing {
    /// The published set of `set` with its ETag (a digest of the body).
    pub fn published(set: &JwkSet) -> (String, String) {
        use sha2::Digest as _;
        let body = serde_json::to_string(set).unwrap_or_else(|_| r#"{"keys":[]}"#.into());
        let etag = format!("\"{}\"", hex::encode(&sha2::Sha256::digest(&body)[..16]));
        (body, etag)
    }
}

/// The instance's current [`KeyRing`], shared by the token checks and the key refresher.
#[derive(Clone, Default)]
pub struct RingHandle(Arc<RwLock<Arc<KeyRing>>>);

impl RingHandle {
    /// The keys now.
    pub(crate) fn get(&self) -> Arc<KeyRing> {
        match self.0.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the keys.
    pub(crate) fn set(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.0.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// The published key set and its ETag.
    pub fn jwks(&self) -> (String, String) {
        let ring = self.get();
        if ring.jwks.is_empty() {
            KeyRing::published(&JwkSet { keys: Vec::new() })
        } else {
            (ring.jwks.clone(), ring.etag.clone())
        }
    }
}
