//! The password hash can change: a login rehashes an out-of-date hash by the app's setting
//! (bcrypt to argon2id and back, a raised bcrypt cost), any stored hash verifies whatever
//! the setting, and a password change or a waiting sign-in is never undone by a rehash.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::Api;
use crate::mfa::{enrolled, mfa_token, second_step};
use crate::{Case, Ctx, User};

pub const CASES: &[Case] = testkit::cases![
    a_login_rehashes_to_the_setting_from_bcrypt_to_argon2id_and_back,
    a_password_change_racing_a_rehash_lands,
    a_sign_in_waiting_for_its_second_factor_survives_a_rehash,
];

/// The settings of the app that hashes with argon2id (cheap parameters, for speed).
pub const ARGON2: &[(&str, &str)] = &[
    ("PASSWORD_HASH", "argon2id"),
    ("ARGON2_MEMORY_KIB", "256"),
    ("ARGON2_ITERATIONS", "1"),
    ("ARGON2_PARALLELISM", "1"),
];
const ARGON2_PREFIX: &str = "$argon2id$v=19$m=256,t=1,p=1$";

/// The user's stored password hash, read from the database.
fn stored(ctx: &Ctx, user: &User) -> String {
    let creds = ctx
        .rt
        .block_on(ctx.users.credentials_by_id(&user.id))
        .expect("reading the user")
        .expect("the user exists");
    let hash = creds.password_hash.expect("a password is set");
    hash.expose().to_owned()
}

/// Waits (bounded) until the stored hash starts with `prefix`: the rehash runs after the
/// login has answered.
fn rehashed_to(ctx: &Ctx, user: &User, prefix: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if stored(ctx, user).starts_with(prefix) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Signs in by `sign_in` until the stored hash starts with `prefix`: a rehash that finds
/// every hash slot busy (the other cases hash too) waits for the next login.
fn signed_in_until_rehashed<T>(ctx: &Ctx, user: &User, prefix: &str, sign_in: impl Fn() -> T) -> T {
    for _ in 0..20 {
        let signed_in = sign_in();
        if rehashed_to(ctx, user, prefix) {
            return signed_in;
        }
    }
    let hash = stored(ctx, user);
    panic!(
        "expected a hash starting {prefix}, found {}",
        &hash[..hash.len().min(30)]
    );
}

fn login(api: &Api<'_>, user: &User, password: &str) -> crate::Resp {
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": user.username, "password": password }),
    )
}

fn a_login_rehashes_to_the_setting_from_bcrypt_to_argon2id_and_back(ctx: &Ctx) {
    let (main, argon2, bcrypt5) = (ctx.api(), ctx.on(&ctx.argon2), ctx.on(&ctx.bcrypt5));
    let user = main.register();
    assert!(stored(ctx, &user).starts_with("$2b$04$"));
    // A wrong password rehashes nothing.
    login(&argon2, &user, "not the password").problem(401, "invalid_credentials");
    assert!(stored(ctx, &user).starts_with("$2b$04$"));
    signed_in_until_rehashed(ctx, &user, ARGON2_PREFIX, || argon2.login(&user));
    // The argon2id hash verifies on the bcrypt app, which hashes it back.
    signed_in_until_rehashed(ctx, &user, "$2b$04$", || main.login(&user));
    // A raised cost makes the older hashes out of date too.
    signed_in_until_rehashed(ctx, &user, "$2b$05$", || bcrypt5.login(&user));
    signed_in_until_rehashed(ctx, &user, ARGON2_PREFIX, || argon2.login(&user));
    // An account registered under argon2id verifies under bcrypt too.
    let fresh = argon2.register();
    assert!(stored(ctx, &fresh).starts_with(ARGON2_PREFIX));
    argon2.login(&fresh);
    signed_in_until_rehashed(ctx, &fresh, "$2b$05$", || bcrypt5.login(&fresh));
    let hash = stored(ctx, &user);
    // An up-to-date hash is left as it is.
    argon2.login(&user);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(stored(ctx, &user), hash, "a current hash is not rehashed");
}

fn a_password_change_racing_a_rehash_lands(ctx: &Ctx) {
    let (main, argon2) = (ctx.api(), ctx.on(&ctx.argon2));
    for round in 0..8 {
        let (user, tokens) = main.user_with_session();
        let new_password = format!("{} changed", user.password);
        let (login_status, change_status) = std::thread::scope(|s| {
            let login = s.spawn(|| login(&argon2, &user, &user.password).status);
            let change = s.spawn(|| {
                main.put(
                    "/api/users/me/password",
                    Some(&tokens.access),
                    json!({ "current_password": user.password, "new_password": new_password }),
                )
                .status
            });
            (login.join().unwrap(), change.join().unwrap())
        });
        // The login may come before the change (and rehash) or after it (and fail).
        assert!(
            matches!(login_status, 200 | 401),
            "round {round}: login {login_status}"
        );
        assert_eq!(change_status, 204, "round {round}: the change always lands");
        std::thread::sleep(Duration::from_millis(50));
        for api in [&main, &argon2] {
            login(api, &user, &user.password).problem(401, "invalid_credentials");
            let changed = User {
                password: new_password.clone(),
                ..user.clone()
            };
            api.login(&changed);
        }
    }
}

fn a_sign_in_waiting_for_its_second_factor_survives_a_rehash(ctx: &Ctx) {
    let argon2 = ctx.on(&ctx.argon2);
    let account = enrolled(&ctx.api());
    // The password step rehashed the bcrypt hash; the same password is still proven.
    let token = signed_in_until_rehashed(ctx, &account.user, ARGON2_PREFIX, || {
        mfa_token(&argon2, &account.user)
    });
    second_step(&argon2, &token, &account.codes[0]).ok(200);
}
