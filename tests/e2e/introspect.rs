//! `introspect::` cases: RFC 7662 introspection answers `active` exactly for live access
//! tokens, and only to configured clients, each within its own rate limit.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::json;

use crate::http::{keys, Api, Body, Resp};
use crate::{Case, Ctx};

/// The clients every app of the suite knows.
pub const CLIENTS: &str = "orders:orders-secret-0123456789,billing:billing-secret-0123456789";

pub const CASES: &[Case] = testkit::cases![
    introspection_is_active_exactly_for_live_access_tokens,
    introspection_refuses_callers_without_client_credentials,
    introspection_is_rate_limited_per_client,
];

fn ask(api: &Api<'_>, credentials: Option<(&str, &str)>, form: &str) -> Resp {
    let basic = credentials
        .map(|(id, secret)| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    let headers: Vec<(&str, &str)> = basic
        .as_deref()
        .map(|b| vec![("authorization", b)])
        .unwrap_or_default();
    api.send(
        Method::POST,
        "/api/auth/introspect",
        &headers,
        Body::Raw(
            Some("application/x-www-form-urlencoded"),
            form.as_bytes().to_vec(),
        ),
    )
}

fn active(api: &Api<'_>, token: &str) -> serde_json::Value {
    let form = format!("token={}", token);
    ask(api, Some(("orders", "orders-secret-0123456789")), &form).ok(200)
}

fn introspection_is_active_exactly_for_live_access_tokens(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let live = active(&api, &t.access);
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(
        keys(&live),
        [
            "active",
            "aud",
            "exp",
            "iat",
            "iss",
            "sid",
            "sub",
            "token_type",
            "username"
        ]
    );
    assert_eq!(
        (&live["sub"], &live["username"]),
        (&json!(user.id), &json!(user.username))
    );
    assert_eq!(live["sid"], json!(t.session_id));
    let inactive = json!({ "active": false });
    for token in [t.refresh.as_str(), "garbage", "a.b.c"] {
        assert_eq!(active(&api, token), inactive, "{token}");
    }
    // Signed under a secret this app does not have (the rotated app's new one).
    let (_, rotated) = ctx.on(&ctx.rotated).user_with_session();
    assert_eq!(active(&api, &rotated.access), inactive, "another secret");
    api.post_empty("/api/auth/logout", Some(&t.access))
        .no_content();
    assert_eq!(active(&api, &t.access), inactive, "logged out");
}

fn introspection_refuses_callers_without_client_credentials(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let form = format!("token={}", t.access);
    for credentials in [
        None,
        Some(("orders", "wrong-secret-0123456789")),
        Some(("nobody", "orders-secret-0123456789")),
        Some(("orders", "")),
    ] {
        let r = ask(&api, credentials, &form);
        r.problem(401, "invalid_client");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic")),
            "{credentials:?}"
        );
    }
    let json = api.send(
        Method::POST,
        "/api/auth/introspect",
        &[(
            "authorization",
            &format!(
                "Basic {}",
                STANDARD.encode("orders:orders-secret-0123456789")
            ),
        )],
        Body::Json(json!({ "token": t.access })),
    );
    json.problem(415, "unsupported_media_type");
    ask(
        &api,
        Some(("orders", "orders-secret-0123456789")),
        "nothing=here",
    )
    .invalid("token");
}

fn introspection_is_rate_limited_per_client(ctx: &Ctx) {
    // The limited app allows each client three calls a minute.
    let api = ctx.on(&ctx.limited);
    let (_, t) = api.user_with_session();
    let form = format!("token={}", t.access);
    for _ in 0..3 {
        ask(&api, Some(("billing", "billing-secret-0123456789")), &form).ok(200);
    }
    let limited = ask(&api, Some(("billing", "billing-secret-0123456789")), &form);
    limited.problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
}
