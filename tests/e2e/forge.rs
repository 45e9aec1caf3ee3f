//! Forging tokens the way `services/src/jwt.rs` signs them: from one hex secret, the access
//! key is HMAC-SHA256(secret, "strata access-token key v1"), the refresh key the same with
//! "refresh-token", and the `kid` the hex of the first 8 bytes of HMAC(secret, "strata key
//! id v1"). With these, a case can sign a token with the right key but wrong claims, or
//! with a wrong key but the right claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Sha256, Sha512};

/// The rotated app's current secret (the test secret is its previous one).
pub const NEW_SECRET: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A secret no app knows.
pub const STRANGER_SECRET: &str =
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn hmac256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac512(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// The keys one secret yields.
pub struct Keys {
    pub kid: String,
    pub access: Vec<u8>,
    pub refresh: Vec<u8>,
}

impl Keys {
    /// Derives the keys of a hex secret.
    pub fn of(secret_hex: &str) -> Self {
        let secret = hex::decode(secret_hex).expect("a hex secret");
        Keys {
            kid: hex::encode(&hmac256(&secret, b"strata key id v1")[..8]),
            access: hmac256(&secret, b"strata access-token key v1"),
            refresh: hmac256(&secret, b"strata refresh-token key v1"),
        }
    }

    /// The keys of the secret every test app signs with.
    pub fn test() -> Self {
        Self::of(strata_e2e::SECRET)
    }

    /// An HS256 header naming this key set.
    pub fn header(&self) -> Value {
        json!({ "alg": "HS256", "typ": "JWT", "kid": self.kid })
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A token signed with HMAC-SHA256 and `key`, whatever `header` says.
pub fn hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = signing_input(header, claims);
    let sig = hmac256(key, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// A token signed with HMAC-SHA512 and `key`.
pub fn hs512(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = signing_input(header, claims);
    let sig = hmac512(key, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// A token with no signature at all (`alg: none` style).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

fn part(token: &str, i: usize) -> Value {
    let seg = token.split('.').nth(i).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(seg).expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON part")
}

/// The claims of a token (not verified).
pub fn claims(token: &str) -> Value {
    part(token, 1)
}

/// The header of a token (not verified).
pub fn header(token: &str) -> Value {
    part(token, 0)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `claims` with some members replaced.
pub fn with(claims: &Value, changes: Value) -> Value {
    let mut c = claims.clone();
    if let (Some(obj), Some(ch)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in ch {
            obj.insert(k.clone(), v.clone());
        }
    }
    c
}
