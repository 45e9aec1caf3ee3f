//! strata's tokens, re-implemented from its design: two HMAC-SHA256 keys derived from the
//! hex `JWT_API_SECRET` (labels "strata access-token key v1" / "strata refresh-token key
//! v1"), a key id from "strata key id v1", HS256 only, the same claims. Tokens the floor
//! signs are accepted by strata and the reverse. With `FLOOR_JWKS` (a JWK set, as strata's
//! `/.well-known/jwks.json` serves it) access tokens are checked as a resource server would:
//! the key named by `kid`, its algorithm pinned, `typ: at+jwt`, on every request.

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The claims of both kinds of token (as in strata's services/src/jwt.rs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub typ: String,
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn typ(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        }
    }
}

/// The keys and validation rules, built once.
pub struct Keys {
    kid: String,
    access_enc: EncodingKey,
    access_dec: DecodingKey,
    refresh_enc: EncodingKey,
    refresh_dec: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Published keys by `kid`, each with its pinned validation (`FLOOR_JWKS`).
    published: HashMap<String, (DecodingKey, Validation)>,
}

fn derive(secret: &[u8], label: &str) -> Result<Vec<u8>, String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(label.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

impl Keys {
    /// Derives the keys from the hex secret.
    pub fn new(hex_secret: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let secret = hex::decode(hex_secret.trim()).map_err(|_| "JWT_API_SECRET is not hex")?;
        if secret.len() < 32 {
            return Err("JWT_API_SECRET must be at least 32 bytes".into());
        }
        let access = derive(&secret, "strata access-token key v1")?;
        let refresh = derive(&secret, "strata refresh-token key v1")?;
        let kid = hex::encode(derive(&secret, "strata key id v1")?.get(..8).unwrap_or(&[]));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 30;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        let key_err = |e: jsonwebtoken::errors::Error| e.to_string();
        Ok(Self {
            kid,
            access_enc: EncodingKey::from_secret(&access).map_err(key_err)?,
            access_dec: DecodingKey::from_secret(&access).map_err(key_err)?,
            refresh_enc: EncodingKey::from_secret(&refresh).map_err(key_err)?,
            refresh_dec: DecodingKey::from_secret(&refresh).map_err(key_err)?,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            published: HashMap::new(),
        })
    }

    /// Access tokens are checked against the keys of the JWK set `jwks` (JSON) instead.
    pub fn with_published(mut self, jwks: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("FLOOR_JWKS: {e}"))?;
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or("FLOOR_JWKS: a key without kid")?;
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("EdDSA") => Algorithm::EdDSA,
                Some("ES256") => Algorithm::ES256,
                other => return Err(format!("FLOOR_JWKS: algorithm {other:?}")),
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
            let mut validation = self.validation.clone();
            validation.algorithms = vec![alg];
            self.published.insert(kid, (key, validation));
        }
        Ok(self)
    }

    /// Signature, algorithm, issuer, audience, times and `typ`; `None` if anything is wrong.
    pub fn verify(&self, kind: Kind, token: &str) -> Option<Claims> {
        if kind == Kind::Access && !self.published.is_empty() {
            let header = decode_header(token).ok()?;
            let (key, validation) = self.published.get(header.kid.as_deref()?)?;
            if header.typ.as_deref() != Some("at+jwt") {
                return None;
            }
            let claims = decode::<Claims>(token, key, validation).ok()?.claims;
            return (claims.typ == kind.typ()).then_some(claims);
        }
        let key = match kind {
            Kind::Access => &self.access_dec,
            Kind::Refresh => &self.refresh_dec,
        };
        let claims = decode::<Claims>(token, key, &self.validation).ok()?.claims;
        (claims.typ == kind.typ()).then_some(claims)
    }

    /// Signs a token the way strata does (with its `kid`).
    pub fn sign(
        &self,
        kind: Kind,
        sub: &str,
        sid: &str,
        jti: &str,
        iat: i64,
        exp: i64,
    ) -> Result<String, String> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            jti: jti.to_owned(),
            iat,
            nbf: iat,
            exp,
            typ: kind.typ().to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let key = match kind {
            Kind::Access => &self.access_enc,
            Kind::Refresh => &self.refresh_enc,
        };
        encode(&header, &claims, key).map_err(|e| e.to_string())
    }
}
