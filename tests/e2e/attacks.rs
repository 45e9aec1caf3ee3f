//! What an outside attacker tried (issue 13), each answered: forwarded addresses on several
//! header lines, counters left by refused logins, invented methods as metric labels,
//! registration floods, trickling bodies, pages without a policy, CORS refusals, `HEAD`,
//! tokens issued in the future, and a logout racing a refresh.
//!
//! Most cases run against the `guarded` app: `TRUSTED_PROXIES=127.0.0.1` (each case gives
//! itself an address of its own in `X-Forwarded-For`, so cases running at once do not share
//! limits), low login and registration limits, `BODY_TIMEOUT=500ms`, one CORS origin, and
//! on the Redis plans a key prefix of its own.

use std::io::{Read, Write};
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::json;

use crate::http::{Body, User};
use crate::{forge, Case, Ctx};

/// The guarded app's settings, read by `main.rs` when it starts the app.
pub const GUARDED: &[(&str, &str)] = &[
    ("TRUSTED_PROXIES", "127.0.0.1"),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
    ("LOGIN_MAX_FAILURES_PER_IP", "5"),
    ("REGISTER_MAX_PER_IP", "3"),
    ("PASSKEY_OPTIONS_PER_MINUTE", "3"),
    ("PASSKEY_CHALLENGES_MAX", "20"),
    ("BODY_TIMEOUT", "500ms"),
    ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
    // Its admin routes take only sessions opened with a second factor (admin::).
    ("ADMIN_REQUIRE_SECOND_FACTOR", "true"),
];

/// The origin the guarded app allows.
const ALLOWED_ORIGIN: &str = "https://app.example.com";

pub const CASES: &[Case] = testkit::cases![
    forwarded_for_lines_are_one_list_and_the_rightmost_untrusted_entry_is_the_client,
    registrations_past_the_per_address_limit_are_429_with_retry_after,
    passkey_options_are_limited_per_address_and_waiting_challenges_in_number,
    invented_methods_and_paths_share_one_metric_label,
    head_on_a_get_route_answers_like_get_without_a_body,
    pages_send_a_content_security_policy_and_refuse_framing,
    a_body_that_trickles_in_is_answered_408_and_the_connection_closed,
    an_answer_that_leaves_the_body_unread_closes_the_connection,
    a_cors_refusal_is_problem_json,
    a_token_issued_in_the_future_is_token_invalid,
    logout_with_the_access_token_a_refresh_just_replaced_ends_the_session,
];

/// Cases that look into Redis (the guarded app's own prefix).
pub const REDIS_CASES: &[Case] =
    testkit::cases![refused_logins_with_made_up_names_leave_no_counters_behind];

/// An address of the benchmarking range 198.18.0.0/15, different for each call.
fn fresh_ip() -> String {
    let n: u16 = rand::rng().random();
    let m: u8 = rand::rng().random_range(1..255);
    format!("198.{}.{}.{m}", 18 + (n >> 15), (n >> 7) & 0xff)
}

/// Registers a random user on the guarded app from `ip`; asserts 201.
fn register_from(ctx: &Ctx, ip: &str) -> User {
    let user = User::random();
    let body = json!({ "username": user.username, "email": user.email, "password": user.password });
    let res = ctx.on(&ctx.guarded).send(
        Method::POST,
        "/api/auth/register",
        &[("x-forwarded-for", ip)],
        Body::Json(body),
    );
    let created = res.ok(201);
    User {
        id: crate::http::str_of(&created, "id"),
        ..user
    }
}

/// A login on the guarded app whose request carries each of `forwarded` as its own line.
fn login_via(ctx: &Ctx, forwarded: &[&str], username: &str, password: &str) -> crate::Resp {
    let headers: Vec<(&str, &str)> = forwarded.iter().map(|f| ("x-forwarded-for", *f)).collect();
    ctx.on(&ctx.guarded).send(
        Method::POST,
        "/api/auth/login",
        &headers,
        Body::Json(json!({ "username": username, "password": password })),
    )
}

fn forwarded_for_lines_are_one_list_and_the_rightmost_untrusted_entry_is_the_client(ctx: &Ctx) {
    let client = fresh_ip();
    let user = register_from(ctx, &fresh_ip());
    // A client writes its own line; the proxy adds the address it saw on a line of its own.
    let statuses: Vec<u16> = (0..12)
        .map(|n| {
            let forged = format!("6.6.6.{n}");
            login_via(ctx, &[&forged, &client], &user.username, "wrong password").status
        })
        .collect();
    assert_eq!(
        &statuses[..3],
        &[401, 401, 401],
        "three failures are allowed: {statuses:?}"
    );
    assert!(
        statuses[3..].iter().all(|s| *s == 429),
        "the forged first line does not give fresh counters: {statuses:?}"
    );
    // The session list shows the address the proxy saw.
    let other = register_from(ctx, &fresh_ip());
    let seen = fresh_ip();
    let tokens = crate::Tokens::from_body(
        &login_via(ctx, &["6.6.6.6", &seen], &other.username, &other.password).ok(200),
    );
    let list = ctx
        .on(&ctx.guarded)
        .get("/api/auth/sessions", Some(&tokens.access))
        .ok(200);
    assert_eq!(list[0]["ip"], seen.as_str(), "{list}");
}

/// The guarded app's `PASSKEY_CHALLENGES_MAX`.
const PASSKEY_CHALLENGES_MAX: usize = 20;

/// One case, as the waiting challenges it leaves fill the guarded app's cap for minutes.
fn passkey_options_are_limited_per_address_and_waiting_challenges_in_number(ctx: &Ctx) {
    let api = ctx.on(&ctx.guarded);
    let ip = fresh_ip();
    let headers = [("x-forwarded-for", ip.as_str())];
    let ask = || {
        api.send(
            Method::POST,
            "/api/auth/passkey/options",
            &headers,
            Body::Json(json!({})),
        )
    };
    for _ in 0..3 {
        ask().ok(200);
    }
    let refused = ask();
    refused.problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // A flood from many addresses, each within its limit: the store keeps at most the
    // cap (three are waiting already), then answers 503 until some lapse.
    let answers: Vec<_> = (0..PASSKEY_CHALLENGES_MAX + 10)
        .map(|_| {
            let other = fresh_ip();
            let headers = [("x-forwarded-for", other.as_str())];
            let body = Body::Json(json!({}));
            api.send(Method::POST, "/api/auth/passkey/options", &headers, body)
        })
        .collect();
    let taken = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(taken, PASSKEY_CHALLENGES_MAX - 3);
    for refused in answers.iter().skip(taken) {
        refused.problem(503, "service_unavailable");
    }
    if let Some(prefix) = ctx.guarded_prefix.as_deref() {
        let pattern = format!("{prefix}once:{{passkey-sign-in}}*");
        let (keys, bytes) =
            strata_e2e::redis_footprint(&ctx.redis_nodes, &pattern).expect("footprint");
        // The records and their index, each record far under the 8 KiB a value may have.
        assert_eq!(keys as usize, PASSKEY_CHALLENGES_MAX + 1);
        assert!(bytes < 64 * 1024, "{bytes} bytes for {keys} keys");
    }
}

fn registrations_past_the_per_address_limit_are_429_with_retry_after(ctx: &Ctx) {
    let ip = fresh_ip();
    let taken = register_from(ctx, &ip);
    // A taken name counts too: it is how names are enumerated.
    let again = json!({ "username": taken.username, "email": "x@example.com", "password": "another fine password" });
    let api = ctx.on(&ctx.guarded);
    let headers = [("x-forwarded-for", ip.as_str())];
    api.send(
        Method::POST,
        "/api/auth/register",
        &headers,
        Body::Json(again.clone()),
    )
    .problem(409, "username_taken");
    register_from(ctx, &ip);
    let fourth = User::random();
    let res = api.send(
        Method::POST,
        "/api/auth/register",
        &headers,
        Body::Json(json!({ "username": fourth.username, "email": fourth.email, "password": fourth.password })),
    );
    res.problem(429, "rate_limited");
    let wait: u64 = res
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(wait >= 1, "Retry-After: {:?}", res.header("retry-after"));
    // Another address is not affected.
    register_from(ctx, &fresh_ip());
}

/// Every `method` label and every `route` label of `strata_http_requests_total`.
fn labels(ctx: &Ctx) -> (Vec<String>, Vec<String>) {
    let text = ctx.api().get("/metrics", None).text;
    let mut methods = Vec::new();
    let mut routes = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("strata_http_requests_total{"))
    {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        };
        methods.extend(label("method"));
        routes.extend(label("route"));
    }
    methods.sort();
    methods.dedup();
    routes.sort();
    routes.dedup();
    (methods, routes)
}

fn invented_methods_and_paths_share_one_metric_label(ctx: &Ctx) {
    let long = "X".repeat(4000);
    for n in 0..100 {
        let method = if n == 0 {
            long.clone()
        } else {
            format!("X{n}METHOD")
        };
        let method = Method::from_bytes(method.as_bytes()).expect("a token");
        let res = ctx.api().send(method, "/health", &[], Body::None);
        assert_eq!(res.status, 405, "{}", res.text);
        let path = format!("/made-up/{}", crate::http::random_suffix());
        ctx.api().get(&path, None).problem(404, "not_found");
    }
    let (methods, routes) = labels(ctx);
    let known = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
    ];
    assert!(methods.contains(&"other".to_owned()), "{methods:?}");
    assert!(
        methods.iter().all(|m| known.contains(&m.as_str())),
        "{methods:?}"
    );
    assert!(routes.contains(&"unmatched".to_owned()), "{routes:?}");
    assert!(
        routes.iter().all(|r| !r.contains("made-up")),
        "paths never become labels: {routes:?}"
    );
}

fn head_on_a_get_route_answers_like_get_without_a_body(ctx: &Ctx) {
    let api = ctx.api();
    // On the wire: the GET's headers, then nothing (a client library would not read a
    // HEAD answer's body even if one were sent).
    let text = raw_exchange(
        &ctx.main,
        "HEAD /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert_eq!(body, "", "no body after the headers");
    assert!(head.contains("content-type: application/json"), "{head}");
    let (_, tokens) = api.user_with_session();
    let me = api.send(
        Method::HEAD,
        "/api/users/me",
        &[("authorization", &format!("Bearer {}", tokens.access))],
        Body::None,
    );
    assert_eq!(me.status, 200);
    // A route with no GET has no HEAD either.
    let res = api.send(Method::HEAD, "/api/auth/login", &[], Body::None);
    assert_eq!(res.status, 405);
}

fn pages_send_a_content_security_policy_and_refuse_framing(ctx: &Ctx) {
    for path in ["/", "/docs"] {
        let res = ctx.api().get(path, None);
        assert_eq!(res.status, 200);
        let csp = res.header("content-security-policy").unwrap_or_default();
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {part} in {csp:?}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(res.header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            res.header("referrer-policy").as_deref(),
            Some("no-referrer")
        );
    }
    let json = ctx.api().get("/health", None);
    assert_eq!(
        json.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert_eq!(
        json.header("content-security-policy").as_deref(),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}

/// Writes `request` to the app at `base` and reads until the server closes the connection.
fn raw_exchange(base: &str, request: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&answer).to_string()
}

fn a_body_that_trickles_in_is_answered_408_and_the_connection_closed(ctx: &Ctx) {
    // The rest of the body never comes.
    let text = raw_exchange(
        &ctx.guarded,
        "POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"user",
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
}

fn an_answer_that_leaves_the_body_unread_closes_the_connection(ctx: &Ctx) {
    // A wrong content type, and a route that takes no body: each answered at once, and the
    // connection closed rather than kept to drain a body that may never end (actix-http
    // closes a connection whose body the handler left unread).
    for (request, status) in [
        ("POST /api/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 1000000000\r\n\r\nabc", "415"),
        ("GET /health HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\nabc", "200"),
    ] {
        let text = raw_exchange(&ctx.guarded, request);
        assert!(text.starts_with(&format!("HTTP/1.1 {status}")), "{text}");
        assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    }
}

fn a_cors_refusal_is_problem_json(ctx: &Ctx) {
    let api = ctx.on(&ctx.guarded);
    // A simple request from another origin is served without CORS headers: the browser
    // keeps the answer from the page (non-browser clients send no Origin to check).
    let evil = [("origin", "https://evil.example")];
    let simple = api.send(Method::GET, "/health", &evil, Body::None);
    assert_eq!(simple.status, 200);
    assert_eq!(simple.header("access-control-allow-origin"), None);
    let preflight = [
        ("origin", "https://evil.example"),
        ("access-control-request-method", "POST"),
    ];
    api.send(Method::OPTIONS, "/api/auth/login", &preflight, Body::None)
        .problem(400, "cors_rejected");
    // What actix-cors takes for a preflight without an Origin is refused the same way.
    api.send(
        Method::OPTIONS,
        "/api/auth/login",
        &[("access-control-request-method", "POST")],
        Body::None,
    )
    .problem(400, "cors_rejected");
    let allowed = api.send(
        Method::GET,
        "/health",
        &[("origin", ALLOWED_ORIGIN)],
        Body::None,
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
}

fn a_token_issued_in_the_future_is_token_invalid(ctx: &Ctx) {
    let api = ctx.api();
    let (_, tokens) = api.user_with_session();
    let keys = forge::Keys::test();
    let claims = forge::claims(&tokens.access);
    // The same session and token id, valid now (`nbf`), but issued an hour from now.
    let future = forge::with(&claims, json!({ "iat": forge::now() + 3600 }));
    let token = forge::hs256(&keys.header(), &future, &keys.access);
    api.me(&token).unauthorized("token_invalid");
    api.me(&tokens.access).ok(200);
}

fn logout_with_the_access_token_a_refresh_just_replaced_ends_the_session(ctx: &Ctx) {
    let api = ctx.api();
    let (_, first) = api.user_with_session();
    // Another tab refreshed a moment ago; this tab logs out with the token it still has.
    let second = crate::Tokens::from_body(&api.refresh(&first.refresh).ok(200));
    api.post_empty("/api/auth/logout", Some(&first.access))
        .no_content();
    api.me(&second.access).unauthorized("token_revoked");
    api.refresh(&second.refresh).unauthorized("token_revoked");
    // Outside the grace (the app without one), a replaced token ends nothing.
    let ng = ctx.on(&ctx.no_grace);
    let (_, old) = ng.user_with_session();
    std::thread::sleep(Duration::from_millis(1100));
    let new = crate::Tokens::from_body(&ng.refresh(&old.refresh).ok(200));
    std::thread::sleep(Duration::from_millis(1100));
    ng.post_empty("/api/auth/logout", Some(&old.access))
        .unauthorized("token_revoked");
    ng.me(&new.access).ok(200);
}

fn refused_logins_with_made_up_names_leave_no_counters_behind(ctx: &Ctx) {
    let prefix = ctx.guarded_prefix.as_deref().expect("a Redis plan");
    let pattern = format!("{prefix}rate:*");
    let ip = fresh_ip();
    // Spend the address's five failures, then try a thousand names that do not exist.
    for n in 0..5 {
        login_via(ctx, &[&ip], &format!("nobody_{n}"), "wrong password")
            .problem(401, "invalid_credentials");
    }
    let (keys_before, bytes_before) =
        strata_e2e::redis_footprint(&ctx.redis_nodes, &pattern).expect("footprint");
    for n in 0..500 {
        let long = format!("{n}{}", "n".repeat(10_000));
        login_via(ctx, &[&ip], &long, "wrong password").problem(429, "rate_limited");
        let plausible = format!("nobody_{n}_{}", crate::http::random_suffix());
        login_via(ctx, &[&ip], &plausible, "wrong password").problem(429, "rate_limited");
    }
    let (keys_after, bytes_after) =
        strata_e2e::redis_footprint(&ctx.redis_nodes, &pattern).expect("footprint");
    // Other cases on this app may add a few counters of their own meanwhile.
    assert!(
        keys_after <= keys_before + 20,
        "counters: {keys_before} -> {keys_after}"
    );
    assert!(
        bytes_after <= bytes_before + 20 * 256,
        "bytes: {bytes_before} -> {bytes_after}"
    );
}
