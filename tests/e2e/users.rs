//! `/api/users`: the caller's account (read, change password, delete) and public profiles.

use serde_json::json;

use crate::http::{assert_utc_time, keys};
use crate::{Case, Ctx, Tokens};

pub const CASES: &[Case] = testkit::cases![
    me_returns_the_callers_account,
    change_password_revokes_other_sessions_keeps_this_one_and_retires_the_old_password,
    change_password_with_a_wrong_current_password_is_401_invalid_credentials,
    wrong_current_passwords_past_the_account_limit_are_429_even_for_the_right_one,
    change_password_to_an_invalid_one_is_422,
    delete_account_revokes_sessions_deletes_tasks_and_ends_login,
    delete_account_with_a_wrong_password_is_401_and_keeps_the_account,
    profile_of_another_user_shows_id_username_created_at_and_no_email,
    profile_of_an_unknown_or_garbage_id_is_404,
];

fn me_returns_the_callers_account(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let res = api.me(&t.access);
    let me = res.ok(200);
    assert_eq!(
        keys(&me),
        [
            "created_at",
            "email",
            "email_verified",
            "id",
            "mfa_enabled",
            "updated_at",
            "username"
        ],
        "{me}"
    );
    assert_eq!(me["id"], user.id);
    assert_eq!(me["username"], user.username);
    assert_eq!(me["email"], user.email);
    assert_utc_time(&me, "created_at");
    assert_utc_time(&me, "updated_at");
    assert!(!res.text.contains("password") && !res.text.contains("$2"));
}

fn change_password_revokes_other_sessions_keeps_this_one_and_retires_the_old_password(ctx: &Ctx) {
    let api = ctx.api();
    let (user, this) = api.user_with_session();
    let other = api.login(&user);
    let new_password = "a brand new passphrase";
    api.put(
        "/api/users/me/password",
        Some(&this.access),
        json!({ "current_password": user.password, "new_password": new_password }),
    )
    .no_content();
    // This session goes on; the other one is over.
    api.me(&this.access).ok(200);
    api.me(&other.access).unauthorized("token_revoked");
    api.refresh(&other.refresh).unauthorized("token_revoked");
    let rotated = Tokens::from_body(&api.refresh(&this.refresh).ok(200));
    api.me(&rotated.access).ok(200);
    // Only the new password logs in.
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": user.username, "password": user.password }),
    )
    .problem(401, "invalid_credentials");
    api.login_with(json!({ "username": user.username, "password": new_password }));
}

fn change_password_with_a_wrong_current_password_is_401_invalid_credentials(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let other = api.login(&user);
    api.put(
        "/api/users/me/password",
        Some(&t.access),
        json!({ "current_password": "not my password", "new_password": "a brand new passphrase" }),
    )
    .problem(401, "invalid_credentials");
    // Nothing changed: both sessions live, the old password still logs in.
    api.me(&t.access).ok(200);
    api.me(&other.access).ok(200);
    api.login(&user);
}

fn wrong_current_passwords_past_the_account_limit_are_429_even_for_the_right_one(ctx: &Ctx) {
    // This app allows 3 failures per account; a stolen access token must not allow more
    // guesses at the password through the account operations than login does.
    let api = ctx.on(&ctx.limited);
    let (user, t) = api.user_with_session();
    let change = |current: &str| {
        api.put(
            "/api/users/me/password",
            Some(&t.access),
            json!({ "current_password": current, "new_password": "a brand new passphrase" }),
        )
    };
    change("guess one").problem(401, "invalid_credentials");
    change("guess two").problem(401, "invalid_credentials");
    api.delete_with(
        "/api/users/me",
        Some(&t.access),
        json!({ "password": "guess three" }),
    )
    .problem(401, "invalid_credentials");
    let limited = change(&user.password);
    limited.problem(429, "rate_limited");
    let retry = limited.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s >= 1),
        "Retry-After is a number of seconds, got {retry:?}"
    );
    api.delete_with(
        "/api/users/me",
        Some(&t.access),
        json!({ "password": user.password }),
    )
    .problem(429, "rate_limited");
    // Nothing changed: the session lives and the password still logs in.
    api.me(&t.access).ok(200);
    api.login(&user);
}

fn change_password_to_an_invalid_one_is_422(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    for bad in ["short", "", &"p".repeat(73), &user.username] {
        api.put(
            "/api/users/me/password",
            Some(&t.access),
            json!({ "current_password": user.password, "new_password": bad }),
        )
        .invalid("new_password");
    }
    api.put(
        "/api/users/me/password",
        None,
        json!({ "current_password": user.password, "new_password": "a brand new passphrase" }),
    )
    .unauthorized("token_missing");
    api.login(&user);
}

fn delete_account_revokes_sessions_deletes_tasks_and_ends_login(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let other = api.login(&user);
    for i in 0..3 {
        api.create_task(&t.access, json!({ "title": format!("task {i}") }));
    }
    let (_, stranger) = api.user_with_session();
    let count = |id: &str| {
        ctx.rt
            .block_on(ctx.tasks.count(id))
            .unwrap_or_else(|e| panic!("counting tasks: {e}"))
    };
    assert_eq!(count(&user.id), 3);

    api.delete_with(
        "/api/users/me",
        Some(&t.access),
        json!({ "password": user.password }),
    )
    .no_content();
    api.me(&t.access).unauthorized("token_revoked");
    api.me(&other.access).unauthorized("token_revoked");
    api.refresh(&t.refresh).unauthorized("token_revoked");
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": user.username, "password": user.password }),
    )
    .problem(401, "invalid_credentials");
    ctx.replicas_caught_up();
    api.get(&format!("/api/users/{}", user.id), Some(&stranger.access))
        .problem(404, "not_found");
    assert_eq!(count(&user.id), 0, "the user's tasks are deleted");
    // The name is free again.
    api.post(
        "/api/auth/register",
        None,
        json!({ "username": user.username, "email": user.email, "password": user.password }),
    )
    .ok(201);
}

fn delete_account_with_a_wrong_password_is_401_and_keeps_the_account(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    api.delete_with(
        "/api/users/me",
        Some(&t.access),
        json!({ "password": "not my password" }),
    )
    .problem(401, "invalid_credentials");
    api.me(&t.access).ok(200);
    api.login(&user);
}

fn profile_of_another_user_shows_id_username_created_at_and_no_email(ctx: &Ctx) {
    let api = ctx.api();
    let (other, _) = api.user_with_session();
    let (_, t) = api.user_with_session();
    let res = api.get(&format!("/api/users/{}", other.id), Some(&t.access));
    let body = res.ok(200);
    assert_eq!(keys(&body), ["created_at", "id", "username"], "{body}");
    assert_eq!(body["id"], other.id);
    assert_eq!(body["username"], other.username);
    assert_utc_time(&body, "created_at");
    assert!(!res.text.contains(&other.email), "no email: {}", res.text);
}

fn profile_of_an_unknown_or_garbage_id_is_404(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "garbage", "1", "6", "%20"] {
        api.get(&format!("/api/users/{id}"), Some(&t.access))
            .problem(404, "not_found");
    }
}
