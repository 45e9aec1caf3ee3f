//! Signing and checking access and refresh tokens.
//!
//! One hex secret (`JWT_API_SECRET`) yields two HMAC keys, one per token kind, so a
//! refresh token can never pass as an access token or the reverse, even before `typ` is
//! read. Each secret also yields a key id (`kid`); tokens signed with the previous secret
//! (`JWT_API_SECRET_PREVIOUS`) are still verified after a rotation.
//!
//! With `JWT_ALGORITHM=EdDSA` or `ES256`, access tokens are signed by the current key of
//! [`crate::signing`] instead (RFC 9068: header `typ: at+jwt`, `kid` naming a published
//! key), so other services verify them from the JWK set alone. Refresh tokens stay HMAC:
//! strata's own, never published. HS256 access tokens issued before the first key signed
//! still verify until they expire, so switching logs nobody out.

use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, Header, TokenData, Validation};
use serde::{Deserialize, Serialize};

mod published;
mod secret;

use published::PublishedKeys;
use secret::KeySet;
pub use secret::SecretError;

use crate::seal::SealingKeys;
use crate::signing::RingHandle;
use crate::{AuthSettings, ServiceError};

/// The JWS `typ` of an access token signed by a published key (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The two kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// The claims of both kinds of token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// This token's id; the session record names the current one.
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// `access` or `refresh`.
    pub typ: String,
}

/// `TokenExpired` for an expired token, `TokenInvalid` for anything else wrong.
fn expired_or_invalid(e: jsonwebtoken::errors::Error) -> ServiceError {
    match e.kind() {
        ErrorKind::ExpiredSignature => ServiceError::TokenExpired,
        _ => ServiceError::TokenInvalid,
    }
}

/// The signing keys and the rules tokens are checked against. `Debug` shows only key ids.
pub struct JwtKeys {
    current: KeySet,
    previous: Option<KeySet>,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Access tokens are signed by the published keys (not HS256).
    asymmetric: bool,
    published: PublishedKeys,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.current.kid)
            .field("previous_kid", &self.previous.as_ref().map(|k| &k.kid))
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// The outbox's sealing keys, derived from the current secret and the previous one.
    pub(crate) fn outbox_keys(&self) -> SealingKeys {
        SealingKeys {
            current: self.current.outbox,
            previous: self.previous.as_ref().map(|k| k.outbox),
        }
    }

    /// The keys TOTP secrets are sealed under when `MFA_ENCRYPTION_KEY` is not set,
    /// derived from the signing secrets, the current one's first.
    pub(crate) fn derived_mfa_keys(&self) -> SealingKeys {
        SealingKeys {
            current: self.current.mfa,
            previous: self.previous.as_ref().map(|k| k.mfa),
        }
    }

    /// Derives the keys from the hex secrets. A missing, non-hex or short secret is refused.
    pub fn new(
        secret: &str,
        previous: Option<&str>,
        settings: &AuthSettings,
    ) -> Result<Self, SecretError> {
        let current = KeySet::from_hex("JWT_API_SECRET", secret)?;
        let previous = match previous.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(KeySet::from_hex("JWT_API_SECRET_PREVIOUS", p)?),
            None => None,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Ok(Self {
            current,
            previous,
            published: PublishedKeys::new(&validation),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            asymmetric: settings.signing.algorithm.is_asymmetric(),
        })
    }

    /// The published keys the access tokens are signed with (filled by `SigningKeys`).
    pub fn ring(&self) -> RingHandle {
        self.published.ring()
    }

    /// Signs a token of `kind`. The same inputs always give the same token.
    pub fn sign(
        &self,
        kind: TokenKind,
        user_id: &str,
        session_id: &str,
        jti: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Result<String, ServiceError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            jti: jti.to_owned(),
            iat: issued_at,
            nbf: issued_at,
            exp: expires_at,
            typ: kind.typ().to_owned(),
        };
        if kind == TokenKind::Access && self.asymmetric {
            return self.published.sign(&claims);
        }
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        let key = match kind {
            TokenKind::Access => &self.current.access_enc,
            TokenKind::Refresh => &self.current.refresh_enc,
        };
        encode(&header, &claims, key).map_err(|e| ServiceError::internal_from("signing a token", e))
    }

    /// An HMAC token: the current secret's key, then the previous one's.
    fn verify_hmac(&self, kind: TokenKind, token: &str) -> Result<TokenData<Claims>, ServiceError> {
        // One pass: `decode` checks the algorithm against `validation` itself. The `kid` is
        // not read first (that would parse the header twice): a token that fails the
        // current key's signature is tried against the previous key, when there is one.
        let mut result = decode::<Claims>(token, self.current.decoding(kind), &self.validation);
        if let (Err(e), Some(previous)) = (&result, &self.previous) {
            if *e.kind() == ErrorKind::InvalidSignature {
                result = decode::<Claims>(token, previous.decoding(kind), &self.validation);
            }
        }
        result.map_err(expired_or_invalid)
    }

    /// Checks signature, algorithm, issuer, audience, `exp`, `nbf`, `iat` and `typ`; returns the
    /// claims. An expired token is `TokenExpired`; anything else wrong is `TokenInvalid`.
    pub fn verify(&self, kind: TokenKind, token: &str) -> Result<Claims, ServiceError> {
        if token.len() > 4096 {
            return Err(ServiceError::TokenInvalid);
        }
        let hmac = |t: &str| self.verify_hmac(TokenKind::Access, t).map(|d| d.claims);
        let claims = if kind == TokenKind::Access && self.asymmetric {
            self.published.verify(token, hmac)?
        } else {
            match self.verify_hmac(kind, token) {
                // An instance still on HS256 in a fleet switching to published keys (or
                // back) verifies the others' tokens too, once it has read their keys.
                Err(ServiceError::TokenInvalid)
                    if kind == TokenKind::Access && self.published.has_keys() =>
                {
                    self.published.verify(token, hmac)?
                }
                other => other?.claims,
            }
        };
        if claims.typ != kind.typ() {
            return Err(ServiceError::TokenInvalid);
        }
        // jsonwebtoken checks `exp` and `nbf` only: a token issued in the future (past the
        // clock-skew allowance) was not issued by this service's clock.
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(i64::MAX);
        if claims.iat > chrono::Utc::now().timestamp().saturating_add(leeway) {
            return Err(ServiceError::TokenInvalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningAlgorithm;
    use jsonwebtoken::{decode_header, EncodingKey};

    const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn keys(secret: &str, previous: Option<&str>) -> JwtKeys {
        match JwtKeys::new(secret, previous, &AuthSettings::default()) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn token(k: &JwtKeys, kind: TokenKind, iat: i64, exp: i64) -> String {
        k.sign(kind, "user", "session", "jti", iat, exp)
            .unwrap_or_default()
    }

    #[test]
    fn secrets_must_be_long_hex() {
        let s = AuthSettings::default();
        assert_eq!(
            JwtKeys::new("", None, &s).err(),
            Some(SecretError::Missing("JWT_API_SECRET"))
        );
        assert_eq!(
            JwtKeys::new("not hex at all", None, &s).err(),
            Some(SecretError::NotHex("JWT_API_SECRET"))
        );
        assert_eq!(
            JwtKeys::new("abcd", None, &s).err(),
            Some(SecretError::TooShort {
                name: "JWT_API_SECRET",
                bytes: 2
            })
        );
        assert!(JwtKeys::new(SECRET, Some("zz"), &s).is_err());
    }

    #[test]
    fn a_signed_token_verifies_and_is_deterministic() {
        let k = keys(SECRET, None);
        let t = token(&k, TokenKind::Access, now(), now() + 60);
        assert_eq!(t, token(&k, TokenKind::Access, now(), now() + 60));
        let c = k.verify(TokenKind::Access, &t).ok();
        assert_eq!(
            c.map(|c| (c.sub, c.sid, c.typ)),
            Some(("user".into(), "session".into(), "access".into()))
        );
    }

    #[test]
    fn kinds_do_not_cross() {
        let k = keys(SECRET, None);
        let access = token(&k, TokenKind::Access, now(), now() + 60);
        let refresh = token(&k, TokenKind::Refresh, now(), now() + 60);
        assert!(matches!(
            k.verify(TokenKind::Refresh, &access),
            Err(ServiceError::TokenInvalid)
        ));
        assert!(matches!(
            k.verify(TokenKind::Access, &refresh),
            Err(ServiceError::TokenInvalid)
        ));
    }

    #[test]
    fn expired_is_told_apart_from_invalid() {
        let k = keys(SECRET, None);
        let old = token(&k, TokenKind::Access, now() - 7200, now() - 3600);
        assert!(matches!(
            k.verify(TokenKind::Access, &old),
            Err(ServiceError::TokenExpired)
        ));
        let future = token(&k, TokenKind::Access, now() + 3600, now() + 7200);
        assert!(matches!(
            k.verify(TokenKind::Access, &future),
            Err(ServiceError::TokenInvalid)
        ));
    }

    #[test]
    fn a_token_issued_in_the_future_past_the_leeway_is_invalid() {
        let k = keys(SECRET, None);
        // Valid from now (nbf) but claiming to be issued in the future: only `iat` is wrong.
        let signed = |iat: i64| {
            let claims = Claims {
                iss: k.issuer.clone(),
                aud: k.audience.clone(),
                sub: "user".into(),
                sid: "session".into(),
                jti: "jti".into(),
                iat,
                nbf: now() - 10,
                exp: now() + 3600,
                typ: "access".into(),
            };
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &k.current.access_enc,
            )
            .unwrap_or_default()
        };
        let leeway = AuthSettings::default().leeway.as_secs() as i64;
        assert!(matches!(
            k.verify(TokenKind::Access, &signed(now() + leeway + 60)),
            Err(ServiceError::TokenInvalid)
        ));
        assert!(k
            .verify(TokenKind::Access, &signed(now() + leeway - 5))
            .is_ok());
    }

    #[test]
    fn another_secret_is_refused_unless_it_is_the_previous_one() {
        let old = keys(OTHER, None);
        let t = token(&old, TokenKind::Access, now(), now() + 60);
        assert!(matches!(
            keys(SECRET, None).verify(TokenKind::Access, &t),
            Err(ServiceError::TokenInvalid)
        ));
        assert!(keys(SECRET, Some(OTHER))
            .verify(TokenKind::Access, &t)
            .is_ok());
    }

    #[test]
    fn alg_none_and_garbage_are_refused() {
        let k = keys(SECRET, None);
        let t = token(&k, TokenKind::Access, now(), now() + 60);
        let payload = t.split('.').nth(1).unwrap_or_default();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        for bad in [none.as_str(), "", "a.b.c", "....", &"x".repeat(5000)] {
            assert!(
                matches!(
                    k.verify(TokenKind::Access, bad),
                    Err(ServiceError::TokenInvalid)
                ),
                "{bad:.40}"
            );
        }
    }

    /// Keys signing with a fresh `alg` key, the ring holding it (and `also` as a verifier),
    /// HS256 access tokens issued before `since` still accepted.
    fn published(alg: SigningAlgorithm, since: i64) -> (JwtKeys, String) {
        use crate::signing::testing::ring_of;
        let mut settings = AuthSettings::default();
        settings.signing.algorithm = alg;
        let k = match JwtKeys::new(SECRET, None, &settings) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let kid = ring_of(&k.ring(), alg, since);
        (k, kid)
    }

    fn header_of(t: &str) -> Header {
        match decode_header(t) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_published_key_signs_access_tokens_as_rfc_9068_says_and_hmac_keeps_refresh() {
        for alg in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let (k, kid) = published(alg, now() - 3600);
            let access = token(&k, TokenKind::Access, now(), now() + 60);
            let h = header_of(&access);
            assert_eq!(
                (h.alg, h.kid.as_deref(), h.typ.as_deref()),
                (alg.jws(), Some(kid.as_str()), Some("at+jwt"))
            );
            assert!(k.verify(TokenKind::Access, &access).is_ok(), "{alg:?}");
            let refresh = token(&k, TokenKind::Refresh, now(), now() + 60);
            assert_eq!(header_of(&refresh).alg, Algorithm::HS256, "never published");
            assert!(k.verify(TokenKind::Refresh, &refresh).is_ok());
            assert!(k.verify(TokenKind::Access, &refresh).is_err());
        }
    }

    #[test]
    fn hs256_access_tokens_verify_only_if_issued_before_the_first_key_signed() {
        let hs = keys(SECRET, None);
        let before = token(&hs, TokenKind::Access, now() - 100, now() + 60);
        let after = token(&hs, TokenKind::Access, now() - 10, now() + 60);
        let (k, _) = published(SigningAlgorithm::EdDsa, now() - 50);
        assert!(k.verify(TokenKind::Access, &before).is_ok());
        assert!(matches!(
            k.verify(TokenKind::Access, &after),
            Err(ServiceError::TokenInvalid)
        ));
    }

    #[test]
    fn forged_access_tokens_are_refused_whatever_their_header_says() {
        let (k, kid) = published(SigningAlgorithm::EdDsa, now() - 3600);
        let good = token(&k, TokenKind::Access, now(), now() + 60);
        let claims = match k.verify(TokenKind::Access, &good) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        };
        let b64 = |v: &serde_json::Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let body = b64(&serde_json::to_value(&claims).unwrap_or_default());
        let (_, signature) = good.rsplit_once('.').unwrap_or_default();
        let public = k.ring().jwks().0;
        let forged =
            |header: serde_json::Value, sig: &str| format!("{}.{body}.{sig}", b64(&header));
        // alg confusion: HS256 keyed with the published key; `none`; an unknown kid; a
        // JWK embedded in the header; the real signature under another typ.
        let hmac = {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid.clone());
            h.typ = Some("at+jwt".into());
            EncodingKey::from_secret(public.as_bytes())
                .and_then(|key| encode(&h, &claims, &key))
                .unwrap_or_default()
        };
        for t in [
            hmac,
            forged(
                serde_json::json!({"alg": "none", "kid": kid, "typ": "at+jwt"}),
                "",
            ),
            forged(
                serde_json::json!({"alg": "EdDSA", "kid": "unknown", "typ": "at+jwt"}),
                signature,
            ),
            forged(
                serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "jwk": serde_json::from_str::<serde_json::Value>(&public).unwrap_or_default()["keys"][0]}),
                signature,
            ),
            forged(
                serde_json::json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"}),
                signature,
            ),
            forged(
                serde_json::json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"}),
                signature,
            ),
        ] {
            assert!(
                matches!(
                    k.verify(TokenKind::Access, &t),
                    Err(ServiceError::TokenInvalid)
                ),
                "{t}"
            );
        }
    }

    #[test]
    fn a_remembered_token_stops_verifying_with_its_key() {
        let (k, _) = published(SigningAlgorithm::EdDsa, now() - 3600);
        let access = token(&k, TokenKind::Access, now(), now() + 60);
        assert!(k.verify(TokenKind::Access, &access).is_ok());
        assert!(k.verify(TokenKind::Access, &access).is_ok(), "remembered");
        // The key is revoked: the ring no longer holds it.
        crate::signing::testing::ring_of(&k.ring(), SigningAlgorithm::EdDsa, now() - 3600);
        assert!(matches!(
            k.verify(TokenKind::Access, &access),
            Err(ServiceError::TokenInvalid)
        ));
    }
}
