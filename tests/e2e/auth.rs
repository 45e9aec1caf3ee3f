//! `/api/auth`: register, login (and its rate limit), refresh with rotation, logout.

use serde_json::json;

use crate::http::{assert_utc_time, keys, str_of, User};
use crate::{Case, Ctx, Tokens};

pub const CASES: &[Case] = testkit::cases![
    register_answers_201_with_location_and_the_user_without_any_password,
    register_with_a_taken_username_in_any_case_is_409_username_taken,
    register_with_a_taken_email_in_any_case_is_409_email_taken,
    register_with_invalid_fields_is_422_naming_each_field,
    register_refuses_a_password_of_more_than_72_bytes_even_if_fewer_characters,
    register_refuses_a_password_of_fewer_than_8_characters_even_in_more_bytes,
    login_by_username_returns_a_token_pair_that_works,
    login_by_email_in_any_case_returns_a_token_pair_that_works,
    login_of_an_unknown_user_and_with_a_wrong_password_give_identical_401_bodies,
    login_without_username_or_email_is_422,
    login_is_429_with_retry_after_once_the_per_account_limit_is_reached,
    refresh_returns_a_new_pair_and_revokes_the_old_access_token,
    previous_refresh_token_within_the_grace_returns_the_identical_current_pair,
    previous_refresh_token_after_the_grace_is_refresh_token_reused_and_revokes_the_session,
    logout_makes_access_and_refresh_fail_on_the_next_request,
    logout_all_ends_every_session_of_the_user_but_not_another_users,
];

fn register_answers_201_with_location_and_the_user_without_any_password(ctx: &Ctx) {
    let api = ctx.api();
    let u = User::random();
    let res = api.post(
        "/api/auth/register",
        None,
        json!({
            "username": u.username.to_uppercase(),
            "email": u.email.to_uppercase(),
            "password": u.password,
        }),
    );
    let body = res.ok(201);
    assert_eq!(
        keys(&body),
        [
            "created_at",
            "email",
            "email_verified",
            "id",
            "mfa_enabled",
            "updated_at",
            "username"
        ],
        "a user is exactly {{id,username,email,email_verified,mfa_enabled,created_at,updated_at}}: {body}"
    );
    let id = str_of(&body, "id");
    assert!(!id.is_empty());
    assert_eq!(
        body["username"], u.username,
        "username is stored lower-case"
    );
    assert_eq!(body["email"], u.email, "email is stored lower-case");
    assert_utc_time(&body, "created_at");
    assert_utc_time(&body, "updated_at");
    let text = res.text.to_lowercase();
    assert!(
        !text.contains("password") && !text.contains("$2") && !text.contains(&u.password),
        "no password or hash in the body: {}",
        res.text
    );
    let location = res.header("location").unwrap_or_default();
    assert_eq!(location, format!("/api/users/{id}"), "Location header");

    // The Location names the new user.
    let tokens = api.login(&u);
    let profile = api.get(&location, Some(&tokens.access)).ok(200);
    assert_eq!(profile["id"], id);
    assert_eq!(profile["username"], u.username);
}

fn register_with_a_taken_username_in_any_case_is_409_username_taken(ctx: &Ctx) {
    let api = ctx.api();
    let first = api.register();
    let other = User::random();
    api.post(
        "/api/auth/register",
        None,
        json!({
            "username": first.username.to_uppercase(),
            "email": other.email,
            "password": other.password,
        }),
    )
    .problem(409, "username_taken");
}

fn register_with_a_taken_email_in_any_case_is_409_email_taken(ctx: &Ctx) {
    let api = ctx.api();
    let first = api.register();
    let other = User::random();
    api.post(
        "/api/auth/register",
        None,
        json!({
            "username": other.username,
            "email": first.email.to_uppercase(),
            "password": other.password,
        }),
    )
    .problem(409, "email_taken");
}

fn register_with_invalid_fields_is_422_naming_each_field(ctx: &Ctx) {
    let api = ctx.api();
    let register = |username: &str, email: &str, password: &str| {
        api.post(
            "/api/auth/register",
            None,
            json!({ "username": username, "email": email, "password": password }),
        )
    };
    let ok = User::random();
    for bad in ["ab", "no spaces allowed", "bad!name", &"x".repeat(33), ""] {
        register(bad, &ok.email, &ok.password).invalid("username");
    }
    for bad in [
        "not-an-email",
        "a@b",
        "@example.com",
        "two@@example.com",
        "",
    ] {
        register(&ok.username, bad, &ok.password).invalid("email");
    }
    for bad in ["", "short", "1234567", &"p".repeat(73)] {
        register(&ok.username, &ok.email, bad).invalid("password");
    }
    // The password may not be the username.
    register(&ok.username, &ok.email, &ok.username).invalid("password");
    // Every bad field is listed at once.
    let body = register("ab", "nope", "short").invalid("username");
    let fields = crate::http::error_fields(&body);
    for f in ["username", "email", "password"] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    // Nothing was created: the valid user can still register.
    register(&ok.username, &ok.email, &ok.password).ok(201);
}

fn register_refuses_a_password_of_fewer_than_8_characters_even_in_more_bytes(ctx: &Ctx) {
    // The document's `minLength: 8` counts characters, as JSON Schema and NIST do.
    let api = ctx.api();
    let u = User::random();
    for short in ["EÍõäã°", "密码密码", "🔑🔑🔑🔑🔑🔑🔑"] {
        let body = api
            .post(
                "/api/auth/register",
                None,
                json!({ "username": u.username, "email": u.email, "password": short }),
            )
            .invalid("password");
        assert!(body.to_string().contains("8 characters"), "{body}");
    }
    // Eight characters of several bytes each are enough.
    let eight = "密码密码密码密码";
    api.post(
        "/api/auth/register",
        None,
        json!({ "username": u.username, "email": u.email, "password": eight }),
    )
    .ok(201);
    api.login_with(json!({ "username": u.username, "password": eight }));
}

fn register_refuses_a_password_of_more_than_72_bytes_even_if_fewer_characters(ctx: &Ctx) {
    let api = ctx.api();
    let u = User::random();
    // 40 characters, 80 bytes: bcrypt would silently truncate it.
    let long = "é".repeat(40);
    api.post(
        "/api/auth/register",
        None,
        json!({ "username": u.username, "email": u.email, "password": long }),
    )
    .invalid("password");
    // Exactly 72 bytes is fine.
    let max = "p".repeat(72);
    api.post(
        "/api/auth/register",
        None,
        json!({ "username": u.username, "email": u.email, "password": max }),
    )
    .ok(201);
    api.login_with(json!({ "username": u.username, "password": max }));
}

fn login_by_username_returns_a_token_pair_that_works(ctx: &Ctx) {
    let api = ctx.api();
    let u = api.register();
    let res = api.post(
        "/api/auth/login",
        None,
        json!({ "username": u.username.to_uppercase(), "password": u.password }),
    );
    let tokens = Tokens::from_body(&res.ok(200));
    let me = api.me(&tokens.access).ok(200);
    assert_eq!(me["id"], u.id);
    assert_eq!(me["username"], u.username);
}

fn login_by_email_in_any_case_returns_a_token_pair_that_works(ctx: &Ctx) {
    let api = ctx.api();
    let u = api.register();
    let tokens = api.login_with(json!({ "email": u.email.to_uppercase(), "password": u.password }));
    assert_eq!(api.me(&tokens.access).ok(200)["id"], u.id);
}

fn login_of_an_unknown_user_and_with_a_wrong_password_give_identical_401_bodies(ctx: &Ctx) {
    let api = ctx.api();
    let u = api.register();
    let nobody = User::random();
    let login = |body| api.post("/api/auth/login", None, body);

    let unknown = login(json!({ "username": nobody.username, "password": nobody.password }));
    let wrong = login(json!({ "username": u.username, "password": "not the password" }));
    unknown.problem(401, "invalid_credentials");
    wrong.problem(401, "invalid_credentials");
    assert_eq!(
        unknown.text, wrong.text,
        "an unknown user and a wrong password give the same body"
    );

    let unknown = login(json!({ "email": nobody.email, "password": nobody.password }));
    let wrong = login(json!({ "email": u.email, "password": "not the password" }));
    unknown.problem(401, "invalid_credentials");
    wrong.problem(401, "invalid_credentials");
    assert_eq!(unknown.text, wrong.text, "the same by email");
}

fn login_without_username_or_email_is_422(ctx: &Ctx) {
    ctx.api()
        .post(
            "/api/auth/login",
            None,
            json!({ "password": "whatever123" }),
        )
        .problem(422, "validation_failed");
}

fn login_is_429_with_retry_after_once_the_per_account_limit_is_reached(ctx: &Ctx) {
    // This app allows 3 failures per account and address.
    let api = ctx.on(&ctx.limited);
    let u = api.register();
    // Three failures, spelled three ways: the limit counts the account, not the spelling.
    let wrong = "wrong password";
    for attempt in [
        json!({ "username": u.username, "password": wrong }),
        json!({ "username": u.username.to_uppercase(), "password": wrong }),
        json!({ "email": u.email, "password": wrong }),
    ] {
        api.post("/api/auth/login", None, attempt)
            .problem(401, "invalid_credentials");
    }
    let limited = api.post(
        "/api/auth/login",
        None,
        json!({ "username": u.username, "password": wrong }),
    );
    limited.problem(429, "rate_limited");
    let retry = limited.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s >= 1),
        "Retry-After is a number of seconds, got {retry:?}"
    );
    // The right password does not get through a locked account either, by any name.
    for attempt in [
        json!({ "username": u.username, "password": u.password }),
        json!({ "email": u.email.to_uppercase(), "password": u.password }),
    ] {
        api.post("/api/auth/login", None, attempt)
            .problem(429, "rate_limited");
    }
    // Another account from the same address is not locked.
    let other = api.register();
    api.login(&other);
}

fn refresh_returns_a_new_pair_and_revokes_the_old_access_token(ctx: &Ctx) {
    let api = ctx.api();
    let (_, first) = api.user_with_session();
    let res = api.refresh(&first.refresh);
    let second = Tokens::from_body(&res.ok(200));
    assert_ne!(second.access, first.access, "a new access token");
    assert_ne!(second.refresh, first.refresh, "a new refresh token");
    assert_eq!(second.session_id, first.session_id, "the same session");
    api.me(&second.access).ok(200);
    api.me(&first.access).unauthorized("token_revoked");
    // The new refresh token works in turn.
    let third = Tokens::from_body(&api.refresh(&second.refresh).ok(200));
    api.me(&third.access).ok(200);
    api.me(&second.access).unauthorized("token_revoked");
}

fn previous_refresh_token_within_the_grace_returns_the_identical_current_pair(ctx: &Ctx) {
    // Default grace: 10 s, far longer than these few requests.
    let api = ctx.api();
    let (_, first) = api.user_with_session();
    let second = Tokens::from_body(&api.refresh(&first.refresh).ok(200));
    let again = Tokens::from_body(&api.refresh(&first.refresh).ok(200));
    assert_eq!(again.access, second.access, "the same access token string");
    assert_eq!(
        again.refresh, second.refresh,
        "the same refresh token string"
    );
    assert_eq!(again.session_id, second.session_id);
    api.me(&second.access).ok(200);
    // The current refresh token still rotates.
    let third = Tokens::from_body(&api.refresh(&second.refresh).ok(200));
    api.me(&third.access).ok(200);
}

fn previous_refresh_token_after_the_grace_is_refresh_token_reused_and_revokes_the_session(
    ctx: &Ctx,
) {
    // This app's grace is 0: any second use of a rotated refresh token is reuse.
    let api = ctx.on(&ctx.no_grace);
    let (_, first) = api.user_with_session();
    let second = Tokens::from_body(&api.refresh(&first.refresh).ok(200));
    // Past the (zero) grace, whatever the clock's resolution.
    std::thread::sleep(std::time::Duration::from_millis(20));
    api.refresh(&first.refresh)
        .unauthorized("refresh_token_reused");
    // The whole session is revoked: the current pair fails too.
    api.me(&second.access).unauthorized("token_revoked");
    api.refresh(&second.refresh).unauthorized("token_revoked");
    // And the replayed token keeps failing.
    api.refresh(&first.refresh).unauthorized("token_revoked");
}

fn logout_makes_access_and_refresh_fail_on_the_next_request(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    api.me(&t.access).ok(200);
    api.post_empty("/api/auth/logout", Some(&t.access))
        .no_content();
    api.me(&t.access).unauthorized("token_revoked");
    api.refresh(&t.refresh).unauthorized("token_revoked");
    api.post_empty("/api/auth/logout", Some(&t.access))
        .unauthorized("token_revoked");
}

fn logout_all_ends_every_session_of_the_user_but_not_another_users(ctx: &Ctx) {
    let api = ctx.api();
    let (user, one) = api.user_with_session();
    let two = api.login(&user);
    let (_, stranger) = api.user_with_session();
    api.post_empty("/api/auth/logout-all", Some(&one.access))
        .no_content();
    for t in [&one, &two] {
        api.me(&t.access).unauthorized("token_revoked");
        api.refresh(&t.refresh).unauthorized("token_revoked");
    }
    api.me(&stranger.access).ok(200);
    Tokens::from_body(&api.refresh(&stranger.refresh).ok(200));
    // The user can log in again.
    let three = api.login(&user);
    api.me(&three.access).ok(200);
}
