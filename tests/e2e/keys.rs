//! `keys::` cases: access tokens signed by published keys. Another service verifies them
//! from the JWK set alone; a rotation publishes the new key before it signs and never
//! fails a live token; a revoked key's tokens fail on every instance.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use services::signing::{Rotation, SigningAlgorithm, SigningSettings};

use crate::http::str_of;
use crate::{Case, Ctx};

/// The seal of the signing keys in these apps: 32 bytes, hex.
const KEK: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// The eddsa apps' settings: a new key may sign a second after it is published, and the
/// instances refresh only hourly, so what they pick up within the test's bounds they owe
/// to their watch for changes made elsewhere.
pub const EDDSA: &[(&str, &str)] = &[
    ("JWT_ALGORITHM", "EdDSA"),
    ("SIGNING_KEY_ENCRYPTION_KEY", KEK),
    ("JWKS_MAX_AGE", "1s"),
    ("JWT_KEYS_REFRESH", "1h"),
];

pub const CASES: &[Case] =
    testkit::cases![signing_keys_are_published_verified_elsewhere_rotated_and_revoked,];

/// Waits for `ok`, checking every 100 ms, up to a generous bound.
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn jwks(ctx: &Ctx, base: &str) -> JwkSet {
    let body = ctx.on(base).get("/.well-known/jwks.json", None).ok(200);
    serde_json::from_value(body).unwrap()
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

fn kid_of(token: &str) -> String {
    decode_header(token).unwrap().kid.unwrap_or_default()
}

/// What a resource server does: the key named by `kid`, from the JWK set alone, the
/// algorithm pinned, `iss`, `aud`, `exp` and `typ` checked.
fn verify_elsewhere(set: &JwkSet, token: &str) -> Result<Value, String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(format!("typ {:?}", header.typ));
    }
    let jwk = set
        .find(&header.kid.unwrap_or_default())
        .ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&["strata"]);
    v.set_audience(&["strata-api"]);
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// PyJWT, given only the JWK set's URL, accepts `token` and refuses forgeries of it: a
/// changed claim, another `typ`, HS256 keyed with the published key, `alg: none`.
fn pyjwt_agrees(base: &str, token: &str) {
    use strata_e2e::jwt_verifier::{available, verify};
    if !available() {
        assert!(
            !testkit::require_all_backends(),
            "PyJWT is missing: apt-get install python3-jwt (or set STRATA_TEST_PYTHON)"
        );
        eprintln!("skipped: PyJWT is not installed (apt-get install python3-jwt)");
        return;
    }
    let url = format!("{base}/.well-known/jwks.json");
    let check = |t: &str| verify(&url, "strata", "strata-api", t);
    assert!(check(token).is_ok(), "{:?}", check(token));
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    let mut claims = verify_claims(parts[1]);
    claims["sub"] = Value::from("someone-else");
    let mut other_typ = header.clone();
    other_typ["typ"] = Value::from("JWT");
    let mut none = header.clone();
    none["alg"] = Value::from("none");
    let mut hs = header.clone();
    hs["alg"] = Value::from("HS256");
    for forged in [
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2]),
        format!("{}.{}.{}", b64(&other_typ), parts[1], parts[2]),
        format!("{}.{}.", b64(&none), parts[1]),
        format!("{}.{}.{}", b64(&hs), parts[1], parts[2]),
    ] {
        assert!(
            check(&forged).is_err(),
            "PyJWT accepted a forgery: {forged}"
        );
    }
}

fn verify_claims(part: &str) -> Value {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// The life cycle's own `api keys` calls, on the apps' database.
fn key_admin(ctx: &Ctx) -> services::signing::SigningKeys {
    let auth = services::AuthSettings {
        signing: SigningSettings {
            algorithm: SigningAlgorithm::EdDsa,
            sealing: Some(services::seal::SealingKeys {
                current: hex::decode(KEK).unwrap().try_into().unwrap(),
                previous: None,
            }),
            jwks_max_age: Duration::from_secs(1),
            refresh: Duration::from_secs(1),
            rotation: None,
        },
        ..Default::default()
    };
    let infra = services::Infra {
        database: ctx.database_config.clone(),
        redis: None,
    };
    ctx.rt
        .block_on(services::bootstrap::signing_keys(infra, auth))
        .unwrap()
}

fn signing_keys_are_published_verified_elsewhere_rotated_and_revoked(ctx: &Ctx) {
    let apps = &ctx.eddsa;
    let api = ctx.on(&apps[0]);
    let (user, t) = api.user_with_session();

    // Published: only public halves, cached, with an ETag.
    let res = api.get("/.well-known/jwks.json", None);
    let body = res.ok(200);
    assert_eq!(
        res.header("cache-control").as_deref(),
        Some("public, max-age=1")
    );
    let etag = res.header("etag").unwrap_or_default();
    for key in body["keys"].as_array().unwrap() {
        assert!(
            key.get("d").is_none() && key.get("k").is_none(),
            "private: {key}"
        );
        assert_eq!(
            (key["kty"].as_str(), key["use"].as_str()),
            (Some("OKP"), Some("sig"))
        );
    }
    let again = api.send(
        reqwest::Method::GET,
        "/.well-known/jwks.json",
        &[("if-none-match", etag.as_str())],
        crate::http::Body::None,
    );
    assert_eq!(again.status, 304, "{}", again.text);
    let meta = api
        .get("/.well-known/oauth-authorization-server", None)
        .ok(200);
    assert_eq!(meta["issuer"], "strata");
    assert!(
        str_of(&meta, "jwks_uri").ends_with("/.well-known/jwks.json"),
        "{meta}"
    );

    // Verified elsewhere, from the JWK set alone.
    let set = jwks(ctx, &apps[0]);
    let first = kid_of(&t.access);
    assert!(
        kids(&set).contains(&first),
        "{first} not in {:?}",
        kids(&set)
    );
    let claims = verify_elsewhere(&set, &t.access).unwrap();
    assert_eq!(claims["sub"], Value::from(user.id.clone()));
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "sid"] {
        assert!(claims.get(claim).is_some(), "{claim} missing: {claims}");
    }

    // An instance still on HS256 (on the Redis plans, where sessions are shared) verifies
    // it too once it has read the published keys: a fleet switches with a rolling restart.
    if ctx.second.is_some() {
        eventually("an HS256 instance verifying the published key", || {
            ctx.api().me(&t.access).status == 200
        });
    }

    // And by another language's library, from the JWK set's URL alone.
    pyjwt_agrees(&apps[0], &t.access);

    // Rotated by the CLI: the new key is published first, and every instance sees it.
    let admin = key_admin(ctx);
    let Rotation::Published { kid: next, .. } = ctx.rt.block_on(admin.rotate()).unwrap() else {
        panic!("the first rotation publishes a key");
    };
    for app in apps {
        eventually("the next key published", || {
            kids(&jwks(ctx, app)).contains(&next)
        });
    }
    // Once published for JWKS_MAX_AGE, the CLI's next rotation makes it sign, every
    // instance signs with it, and the token of the key before still works everywhere.
    eventually("the next key promoted", || {
        match ctx.rt.block_on(admin.rotate()).unwrap() {
            Rotation::Promoted { kid, previous } => {
                assert_eq!((kid, previous), (next.clone(), Some(first.clone())));
                true
            }
            Rotation::Waiting { .. } => false,
            Rotation::Published { kid, .. } => panic!("{kid} published: the next key vanished"),
        }
    });
    for app in apps {
        let other = ctx.on(app);
        eventually("the next key signing", || {
            kid_of(&other.login(&user).access) == next
        });
        other.me(&t.access).ok(200);
    }
    let fresh = api.login(&user);
    assert!(verify_elsewhere(&jwks(ctx, &apps[0]), &fresh.access).is_ok());

    // Revoked: the old key's tokens fail on every instance; the new key's still work.
    assert!(ctx.rt.block_on(admin.revoke(&first)).unwrap());
    for app in apps {
        let other = ctx.on(app);
        eventually("the revoked key's token refused", || {
            other.me(&t.access).status == 401
        });
        other.me(&fresh.access).ok(200);
        assert!(!kids(&jwks(ctx, app)).contains(&first), "still published");
    }
    assert!(!ctx.rt.block_on(admin.revoke(&first)).unwrap(), "once");
}
