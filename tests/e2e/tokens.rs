//! Attacks on bearer tokens: missing, malformed, crossed kinds, forged algorithm, key,
//! issuer, audience or times. Forged tokens reuse a live session's claims, so the only
//! thing wrong with each is the one thing the case changes (a control proves the forger
//! signs exactly as the service does).

use reqwest::Method;
use serde_json::{json, Value};

use crate::forge::{self, Keys};
use crate::http::{Api, Body};
use crate::{Case, Ctx, Tokens};

pub const CASES: &[Case] = testkit::cases![
    missing_authorization_header_is_401_token_missing_with_a_bearer_challenge,
    basic_scheme_and_garbage_bearer_tokens_are_401_token_invalid,
    a_refresh_token_is_never_accepted_as_an_access_token,
    an_access_token_is_never_accepted_at_refresh,
    a_token_forged_with_the_right_key_and_claims_is_accepted,
    alg_none_and_other_algorithms_are_rejected,
    a_token_signed_with_a_wrong_key_or_tampered_is_rejected,
    a_wrong_issuer_or_audience_is_rejected,
    exp_beyond_the_leeway_is_token_expired_and_within_it_is_accepted,
    an_expired_refresh_token_is_token_expired,
    a_token_not_yet_valid_is_rejected,
    tokens_of_the_previous_secret_still_verify_after_a_rotation,
];

/// A fresh session and the claims of its access token.
fn session(api: &Api<'_>) -> (Tokens, Value) {
    let (_, t) = api.user_with_session();
    let claims = forge::claims(&t.access);
    assert_eq!(claims["typ"], "access", "{claims}");
    assert_eq!(claims["sid"], t.session_id.as_str(), "{claims}");
    (t, claims)
}

fn missing_authorization_header_is_401_token_missing_with_a_bearer_challenge(ctx: &Ctx) {
    let api = ctx.api();
    for (method, path) in [
        (Method::GET, "/api/users/me"),
        (
            Method::GET,
            "/api/users/0193a1b2-7c3d-7e4f-8a5b-6c7d8e9fa0b1",
        ),
        (Method::GET, "/api/tasks"),
        (
            Method::GET,
            "/api/tasks/0193a1b2-7c3d-7e4f-8a5b-6c7d8e9fa0b1",
        ),
        (Method::POST, "/api/auth/logout"),
        (Method::POST, "/api/auth/logout-all"),
        (Method::GET, "/api/auth/sessions"),
        (
            Method::DELETE,
            "/api/auth/sessions/0193a1b2-7c3d-7e4f-8a5b-6c7d8e9fa0b1",
        ),
    ] {
        api.call(method, path, None, Body::None)
            .unauthorized("token_missing");
    }
    api.post("/api/tasks", None, json!({ "title": "x" }))
        .unauthorized("token_missing");
}

fn basic_scheme_and_garbage_bearer_tokens_are_401_token_invalid(ctx: &Ctx) {
    let api = ctx.api();
    let (t, _) = session(&api);
    for header in [
        "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
        format!("Basic {}", t.access),
        "Bearer garbage".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer".to_owned(),
        format!("Token {}", t.access),
        format!("Bearer {}x", t.access),
    ] {
        api.send(
            Method::GET,
            "/api/users/me",
            &[("authorization", header.as_str())],
            Body::None,
        )
        .unauthorized("token_invalid");
    }
    // The session itself is fine.
    api.me(&t.access).ok(200);
}

fn a_refresh_token_is_never_accepted_as_an_access_token(ctx: &Ctx) {
    let api = ctx.api();
    let (t, _) = session(&api);
    api.me(&t.refresh).unauthorized("token_invalid");
    api.get("/api/tasks", Some(&t.refresh))
        .unauthorized("token_invalid");
    api.post_empty("/api/auth/logout", Some(&t.refresh))
        .unauthorized("token_invalid");
    api.me(&t.access).ok(200);
}

fn an_access_token_is_never_accepted_at_refresh(ctx: &Ctx) {
    let api = ctx.api();
    let (t, _) = session(&api);
    api.refresh(&t.access).unauthorized("token_invalid");
    api.refresh("garbage").unauthorized("token_invalid");
    // Nothing rotated: the pair still works.
    api.me(&t.access).ok(200);
    Tokens::from_body(&api.refresh(&t.refresh).ok(200));
}

fn a_token_forged_with_the_right_key_and_claims_is_accepted(ctx: &Ctx) {
    let api = ctx.api();
    let (t, claims) = session(&api);
    let keys = Keys::test();
    assert_eq!(forge::header(&t.access)["kid"], keys.kid.as_str());
    let forged = forge::hs256(&keys.header(), &claims, &keys.access);
    api.me(&forged).ok(200);
    let refresh_claims = forge::claims(&t.refresh);
    let forged_refresh = forge::hs256(&keys.header(), &refresh_claims, &keys.refresh);
    Tokens::from_body(&api.refresh(&forged_refresh).ok(200));
}

fn alg_none_and_other_algorithms_are_rejected(ctx: &Ctx) {
    let api = ctx.api();
    let (t, claims) = session(&api);
    let keys = Keys::test();
    for alg in ["none", "None", "NONE"] {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": keys.kid });
        api.me(&forge::unsigned(&header, &claims))
            .unauthorized("token_invalid");
        // With a signature that is right for HS256, still refused for what it claims.
        api.me(&forge::hs256(&header, &claims, &keys.access))
            .unauthorized("token_invalid");
    }
    let hs512 = json!({ "alg": "HS512", "typ": "JWT", "kid": keys.kid });
    api.me(&forge::hs512(&hs512, &claims, &keys.access))
        .unauthorized("token_invalid");
    // A correct HS256 token with its signature stripped.
    let unsigned_part = t
        .access
        .rsplit_once('.')
        .map(|(h, _)| h)
        .unwrap_or_default();
    let stripped = format!("{unsigned_part}.");
    api.me(&stripped).unauthorized("token_invalid");
    api.me(&t.access).ok(200);
}

fn a_token_signed_with_a_wrong_key_or_tampered_is_rejected(ctx: &Ctx) {
    let api = ctx.api();
    let (t, claims) = session(&api);
    let ours = Keys::test();
    let stranger = Keys::of(forge::STRANGER_SECRET);
    // Another secret's key, under our key id and under its own.
    api.me(&forge::hs256(&ours.header(), &claims, &stranger.access))
        .unauthorized("token_invalid");
    api.me(&forge::hs256(&stranger.header(), &claims, &stranger.access))
        .unauthorized("token_invalid");
    // Our refresh key signing access claims.
    api.me(&forge::hs256(&ours.header(), &claims, &ours.refresh))
        .unauthorized("token_invalid");
    // The raw secret instead of the derived key.
    let raw = hex::decode(strata_e2e::SECRET).unwrap_or_default();
    api.me(&forge::hs256(&ours.header(), &claims, &raw))
        .unauthorized("token_invalid");
    // A real signature over changed claims (another user's id).
    let (_, other) = session(&api);
    let tampered_claims = forge::with(&claims, json!({ "sub": other["sub"] }));
    let mut parts: Vec<String> = t.access.split('.').map(str::to_owned).collect();
    let tampered = forge::hs256(&ours.header(), &tampered_claims, &ours.access);
    parts[1] = tampered.split('.').nth(1).unwrap_or_default().to_owned();
    api.me(&parts.join(".")).unauthorized("token_invalid");
    api.me(&t.access).ok(200);
}

fn a_wrong_issuer_or_audience_is_rejected(ctx: &Ctx) {
    let api = ctx.api();
    let (t, claims) = session(&api);
    let keys = Keys::test();
    for changes in [
        json!({ "iss": "evil" }),
        json!({ "iss": "" }),
        json!({ "aud": "another-api" }),
        json!({ "aud": "" }),
        json!({ "iss": "evil", "aud": "another-api" }),
    ] {
        let bad = forge::with(&claims, changes.clone());
        let res = api.me(&forge::hs256(&keys.header(), &bad, &keys.access));
        assert_eq!(res.status, 401, "{changes}: {}", res.text);
        res.unauthorized("token_invalid");
    }
    api.me(&t.access).ok(200);
}

fn exp_beyond_the_leeway_is_token_expired_and_within_it_is_accepted(ctx: &Ctx) {
    let api = ctx.api();
    let (_, claims) = session(&api);
    let keys = Keys::test();
    let now = forge::now();
    let sign = |iat: i64, exp: i64| {
        let c = forge::with(&claims, json!({ "iat": iat, "nbf": iat, "exp": exp }));
        forge::hs256(&keys.header(), &c, &keys.access)
    };
    // Expired two minutes ago: beyond the 30 s leeway.
    api.me(&sign(now - 1000, now - 120))
        .unauthorized("token_expired");
    api.me(&sign(now - 7200, now - 3600))
        .unauthorized("token_expired");
    // Expired a few seconds ago: within the leeway (clock skew), still accepted.
    api.me(&sign(now - 600, now - 5)).ok(200);
}

fn an_expired_refresh_token_is_token_expired(ctx: &Ctx) {
    let api = ctx.api();
    let (t, _) = session(&api);
    let keys = Keys::test();
    let now = forge::now();
    let claims = forge::with(
        &forge::claims(&t.refresh),
        json!({ "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600 }),
    );
    api.refresh(&forge::hs256(&keys.header(), &claims, &keys.refresh))
        .unauthorized("token_expired");
}

fn a_token_not_yet_valid_is_rejected(ctx: &Ctx) {
    let api = ctx.api();
    let (_, claims) = session(&api);
    let keys = Keys::test();
    let now = forge::now();
    let c = forge::with(
        &claims,
        json!({ "iat": now + 3600, "nbf": now + 3600, "exp": now + 7200 }),
    );
    api.me(&forge::hs256(&keys.header(), &c, &keys.access))
        .unauthorized("token_invalid");
}

fn tokens_of_the_previous_secret_still_verify_after_a_rotation(ctx: &Ctx) {
    // The rotated app signs with NEW_SECRET and still verifies the test secret.
    let api = ctx.on(&ctx.rotated);
    let (t, claims) = session(&api);
    let new = Keys::of(forge::NEW_SECRET);
    let old = Keys::test();
    assert_eq!(
        forge::header(&t.access)["kid"],
        new.kid.as_str(),
        "new tokens carry the new key id"
    );
    // The same session's token, signed before the rotation.
    api.me(&forge::hs256(&old.header(), &claims, &old.access))
        .ok(200);
    // A secret that was never configured is still refused.
    let stranger = Keys::of(forge::STRANGER_SECRET);
    api.me(&forge::hs256(&stranger.header(), &claims, &stranger.access))
        .unauthorized("token_invalid");
    // The main app has not rotated: it does not know the new key.
    ctx.api().me(&t.access).unauthorized("token_invalid");
}
