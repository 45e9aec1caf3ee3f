//! `admin::` cases: an admin made the CLI's way finds a user by address prefix, bans it
//! (its live tokens fail at once on every instance, its right password answers 403, a
//! wrong one 401), lifts the ban; non-admins and a demoted admin get 403; each act and
//! each sign-in shows in the audit list and in the owner's history, with no secret.

use serde_json::{json, Value};

use crate::http::{str_of, Api, Tokens, User};
use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    an_admin_finds_a_user_by_address_prefix_and_a_ban_bites_at_once_everywhere,
    non_admins_and_a_demoted_admin_get_403_whatever_token_they_hold,
    every_act_and_sign_in_is_in_the_audit_list_and_the_owners_history_without_secrets,
    where_a_second_factor_is_required_an_admin_signed_in_with_a_password_only_gets_403,
    an_admin_resets_a_lost_second_factor_and_deletes_an_account_and_pages_the_list,
];

/// Makes `user` an admin the way `api admin grant` does (the CLI's own code).
fn grant(ctx: &Ctx, user: &User) {
    let infra = services::Infra {
        database: ctx.database_config.clone(),
        redis: None,
    };
    let roles = ctx
        .rt
        .block_on(services::bootstrap::roles(infra, false))
        .unwrap();
    let made = ctx.rt.block_on(roles.set(&user.username, "admin")).unwrap();
    assert_eq!(made.role, "admin");
}

/// A new admin with a session.
pub(crate) fn admin(ctx: &Ctx) -> (User, Tokens) {
    let api = ctx.api();
    let (user, _) = api.user_with_session();
    grant(ctx, &user);
    let tokens = api.login(&user);
    (user, tokens)
}

/// The caller's security history once `ready` holds for it (events written after an
/// answer land a moment later), or as it is after a generous bound.
fn history_once(api: &Api<'_>, access: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let read = || {
        api.get("/api/users/me/security-events?limit=100", Some(access))
            .ok(200)
    };
    let mut history = read();
    for _ in 0..100 {
        if ready(&history) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        history = read();
    }
    history
}

/// Every app that shares the main app's sessions.
fn instances(ctx: &Ctx) -> Vec<&str> {
    let mut all = vec![ctx.main.as_str()];
    all.extend(ctx.second.as_deref());
    all
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| str_of(u, "id"))
        .collect()
}

fn an_admin_finds_a_user_by_address_prefix_and_a_ban_bites_at_once_everywhere(ctx: &Ctx) {
    let api = ctx.api();
    let (_, boss) = admin(ctx);
    let (victim, t) = api.user_with_session();
    let prefix = victim.email.split('@').next().unwrap().to_uppercase();
    ctx.replicas_caught_up();
    let found = api
        .get(
            &format!("/api/admin/users?query={prefix}"),
            Some(&boss.access),
        )
        .ok(200);
    assert_eq!(ids(&found), vec![victim.id.clone()], "{found}");
    let shown = &found["items"][0];
    assert_eq!(shown["role"], "user");
    assert_eq!(shown["banned"], false);
    assert!(shown["last_sign_in_at"].is_string(), "{shown}");
    for app in instances(ctx) {
        ctx.on(app).me(&t.access).ok(200);
    }

    let banned = api
        .post(
            &format!("/api/admin/users/{}/ban", victim.id),
            Some(&boss.access),
            json!({ "until": null, "reason": "spam" }),
        )
        .ok(200);
    assert_eq!(
        (banned["banned"].clone(), banned["ban_reason"].clone()),
        (json!(true), json!("spam"))
    );
    for app in instances(ctx) {
        ctx.on(app).me(&t.access).unauthorized("token_revoked");
    }
    api.refresh(&t.refresh).unauthorized("token_revoked");
    let refused = api.post(
        "/api/auth/login",
        None,
        json!({ "username": victim.username, "password": victim.password }),
    );
    let body = refused.problem(403, "account_banned");
    assert!(body.get("banned_until").is_none(), "until lifted: {body}");
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": victim.username, "password": "not the password at all" }),
    )
    .problem(401, "invalid_credentials");
    let listed = api
        .get(
            &format!("/api/admin/users?query={}&status=banned", victim.username),
            Some(&boss.access),
        )
        .ok(200);
    assert_eq!(ids(&listed), vec![victim.id.clone()]);
    let detail = api
        .get(
            &format!("/api/admin/users/{}", victim.id),
            Some(&boss.access),
        )
        .ok(200);
    assert_eq!(detail["sessions"], json!([]), "no session outlives a ban");

    api.delete(
        &format!("/api/admin/users/{}/ban", victim.id),
        Some(&boss.access),
    )
    .ok(200);
    let back = api.login(&victim);
    api.me(&back.access).ok(200);
    // Made-up ids and bad filters answer as such.
    api.post(
        "/api/admin/users/00000000-0000-7000-8000-000000000000/ban",
        Some(&boss.access),
        json!({ "reason": "x" }),
    )
    .problem(404, "not_found");
    api.get("/api/admin/users?status=sleeping", Some(&boss.access))
        .invalid("status");
    api.post(
        &format!("/api/admin/users/{}/ban", victim.id),
        Some(&boss.access),
        json!({ "until": "2001-01-01T00:00:00Z" }),
    )
    .invalid("until");
}

fn non_admins_and_a_demoted_admin_get_403_whatever_token_they_hold(ctx: &Ctx) {
    let api = ctx.api();
    let (someone, t) = api.user_with_session();
    for path in ["/api/admin/users", "/api/admin/audit"] {
        api.get(path, Some(&t.access)).problem(403, "forbidden");
    }
    api.post(
        &format!("/api/admin/users/{}/ban", someone.id),
        Some(&t.access),
        json!({}),
    )
    .problem(403, "forbidden");
    let (_, boss) = admin(ctx);
    let (deputy, deputy_tokens) = admin(ctx);
    api.get("/api/admin/users?limit=1", Some(&deputy_tokens.access))
        .ok(200);
    api.put(
        &format!("/api/admin/users/{}/role", deputy.id),
        Some(&boss.access),
        json!({ "role": "user" }),
    )
    .ok(200);
    for app in instances(ctx) {
        ctx.on(app)
            .get("/api/admin/users?limit=1", Some(&deputy_tokens.access))
            .problem(403, "forbidden");
    }
    api.put(
        &format!("/api/admin/users/{}/role", deputy.id),
        Some(&boss.access),
        json!({ "role": "root" }),
    )
    .invalid("role");
}

fn every_act_and_sign_in_is_in_the_audit_list_and_the_owners_history_without_secrets(ctx: &Ctx) {
    let api = ctx.api();
    let (boss_user, boss) = admin(ctx);
    let (victim, t) = api.user_with_session();
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": victim.username, "password": "wrong wrong wrong" }),
    )
    .problem(401, "invalid_credentials");
    api.delete(
        &format!("/api/admin/users/{}/sessions", victim.id),
        Some(&boss.access),
    )
    .no_content();
    let fresh = api.login(&victim);

    // A failed sign-in is written after its answer: wait for it, bounded.
    let kinds_of = |history: &Value| -> Vec<String> {
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| str_of(e, "kind"))
            .collect()
    };
    let history = history_once(&api, &fresh.access, |h| {
        kinds_of(h).iter().any(|k| k == "sign_in_failed")
    });
    let kinds = kinds_of(&history);
    assert_eq!(
        kinds,
        [
            "signed_in",
            "admin_sessions_ended",
            "sign_in_failed",
            "signed_in",
            "registered"
        ],
        "{history}"
    );
    let first = &history["items"][3];
    assert_eq!(first["ip"], "127.0.0.1", "{first}");
    assert_eq!(first["details"]["method"], "password");
    assert_eq!(history["items"][1]["by_admin"], true);
    let text = history.to_string();
    assert!(
        !text.contains(&boss_user.id),
        "the admin is not named: {text}"
    );

    let audit = api
        .get(
            &format!(
                "/api/admin/audit?user_id={}&kind=admin_sessions_ended",
                victim.id
            ),
            Some(&boss.access),
        )
        .ok(200);
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit["items"][0]["actor_id"], json!(boss_user.id));
    // Pages of one, newest first, to the end.
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = api
            .get(
                &format!(
                    "/api/admin/audit?user_id={}&limit=1&cursor={cursor}",
                    victim.id
                ),
                Some(&boss.access),
            )
            .ok(200);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let everything = api
        .get(
            &format!("/api/admin/audit?user_id={}&limit=100", victim.id),
            Some(&boss.access),
        )
        .text;
    for secret in [
        &victim.password,
        &t.access,
        &t.refresh,
        &fresh.access,
        &fresh.refresh,
    ] {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret in the audit trail"
        );
    }
    assert!(!everything.contains("wrong wrong wrong"));
    // A change in the database is written with it.
    api.put(
        "/api/users/me/password",
        Some(&fresh.access),
        json!({ "current_password": victim.password, "new_password": "another good password" }),
    )
    .no_content();
    let latest = api
        .get("/api/users/me/security-events?limit=1", Some(&fresh.access))
        .ok(200);
    assert_eq!(latest["items"][0]["kind"], "password_changed", "{latest}");
    api.get("/api/admin/audit?kind=nonsense", Some(&boss.access))
        .invalid("kind");
    api.get("/api/admin/audit?since=yesterday", Some(&boss.access))
        .invalid("since");
    // A sign-out is recorded with the address it came from.
    let other = api.login(&User {
        password: "another good password".into(),
        ..victim.clone()
    });
    api.post_empty("/api/auth/logout", Some(&fresh.access))
        .no_content();
    let latest = api
        .get("/api/users/me/security-events?limit=2", Some(&other.access))
        .ok(200);
    let out = &latest["items"][0];
    assert_eq!(
        (out["kind"].clone(), out["ip"].clone()),
        (json!("signed_out"), json!("127.0.0.1")),
        "{latest}"
    );
}

fn where_a_second_factor_is_required_an_admin_signed_in_with_a_password_only_gets_403(ctx: &Ctx) {
    // The guarded app runs with ADMIN_REQUIRE_SECOND_FACTOR=true.
    let guarded = ctx.on(&ctx.guarded);
    let (plain, _) = ctx.api().user_with_session();
    grant(ctx, &plain);
    let password_only = guarded.login(&plain);
    guarded
        .get("/api/admin/users?limit=1", Some(&password_only.access))
        .problem(403, "forbidden");
    // The same on an app that does not require it.
    ctx.api()
        .get(
            "/api/admin/users?limit=1",
            Some(&ctx.api().login(&plain).access),
        )
        .ok(200);

    let strong = crate::mfa::enrolled(&ctx.api());
    grant(ctx, &strong.user);
    // A wrong code at the second step is a failed sign-in of a known account too.
    let waiting = crate::mfa::mfa_token(&ctx.api(), &strong.user);
    crate::mfa::second_step(&ctx.api(), &waiting, "zzzz-zzzz-zzzz-zzzz")
        .problem(401, "invalid_mfa_code");
    let token = crate::mfa::mfa_token(&guarded, &strong.user);
    let tokens =
        Tokens::from_body(&crate::mfa::second_step(&guarded, &token, &strong.codes[0]).ok(200));
    guarded
        .get("/api/admin/users?limit=1", Some(&tokens.access))
        .ok(200);
    // A failed sign-in is written after its answer: wait for it, bounded.
    let failed_codes = |history: &Value| {
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "sign_in_failed" && e["details"]["step"] == "second_factor")
            .count()
    };
    let history = history_once(&guarded, &tokens.access, |h| failed_codes(h) > 0);
    assert_eq!(failed_codes(&history), 1, "{history}");
    let second = &history["items"][0];
    assert_eq!(
        (second["kind"].clone(), second["details"]["method"].clone()),
        (json!("signed_in"), json!("password_and_backup_code"))
    );
}

fn an_admin_resets_a_lost_second_factor_and_deletes_an_account_and_pages_the_list(ctx: &Ctx) {
    let api = ctx.api();
    let (_, boss) = admin(ctx);

    // A lost device: the factor goes, the owner is mailed, the next login is one step.
    let owner = crate::mfa::enrolled(&api);
    let waiting = crate::mfa::mfa_token(&api, &owner.user);
    let path = format!("/api/admin/users/{}/mfa", owner.user.id);
    api.delete(&path, Some(&boss.access)).no_content();
    api.delete(&path, Some(&boss.access))
        .problem(409, "mfa_not_enabled");
    let start = std::time::Instant::now();
    while !strata_e2e::mail_files::mails_to(&ctx.mail_dir, &owner.user.email)
        .iter()
        .any(|m| m.contains("was turned off"))
    {
        assert!(
            start.elapsed().as_secs() < 30,
            "no notice mailed to the owner"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let tokens = api.login(&owner.user);
    api.me(&tokens.access).ok(200);
    // The sign-in that waited for its code before the reset is not let through by it.
    crate::mfa::second_step(&api, &waiting, &owner.codes[0]).problem(401, "invalid_mfa_token");

    // A ban kills a waiting second step too.
    let other = crate::mfa::enrolled(&api);
    let waiting = crate::mfa::mfa_token(&api, &other.user);
    api.post(
        &format!("/api/admin/users/{}/ban", other.user.id),
        Some(&boss.access),
        json!({}),
    )
    .ok(200);
    crate::mfa::second_step(&api, &waiting, &other.codes[0]).problem(401, "invalid_mfa_token");

    // Deleted: its token fails, the account is gone for admins too.
    let (gone, t) = api.user_with_session();
    api.delete(&format!("/api/admin/users/{}", gone.id), Some(&boss.access))
        .no_content();
    api.me(&t.access).unauthorized("token_revoked");
    api.get(&format!("/api/admin/users/{}", gone.id), Some(&boss.access))
        .problem(404, "not_found");

    // Pages of one, oldest first, through every account of a shared prefix.
    let prefix = format!("pg{}", crate::http::random_suffix());
    let mut made = Vec::new();
    for i in 0..3 {
        let u = User {
            username: format!("{prefix}{i}"),
            email: format!("{prefix}{i}@example.com"),
            ..User::random()
        };
        let body = api
            .post(
                "/api/auth/register",
                None,
                json!({ "username": u.username, "email": u.email, "password": u.password }),
            )
            .ok(201);
        made.push(str_of(&body, "id"));
    }
    ctx.replicas_caught_up();
    let (mut seen, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = api
            .get(
                &format!("/api/admin/users?query={prefix}&limit=1&cursor={cursor}"),
                Some(&boss.access),
            )
            .ok(200);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, made);
}
