//! The second factor: enrolment (password again, confirm with a first code, ten backup
//! codes), sign-in in two steps, and the rules that make it hold: no code twice, a backup
//! code once, an `mfa_token` dies after five wrong codes or one success, wrong codes count
//! against the account, and racing requests with one code open one session. Codes are
//! computed here from the secret the service handed out, as an app would.

use serde_json::{json, Value};
use strata_e2e::totp::{code_at, current_step};

use crate::http::{keys, str_of, Api};
use crate::{Case, Ctx, Tokens, User};

pub const CASES: &[Case] = testkit::cases![
    enrolment_needs_the_password_and_hands_out_a_secret_a_key_uri_and_a_qr_code,
    a_confirmed_enrolment_makes_login_ask_for_a_code_and_issues_no_token_before_it,
    an_accepted_code_is_never_accepted_again_not_even_the_confirms,
    a_backup_code_signs_in_once_however_it_is_typed,
    an_mfa_token_dies_after_five_wrong_codes_or_one_success,
    twenty_concurrent_sign_ins_with_one_code_open_one_session,
    concurrent_codes_on_one_mfa_token_open_one_session,
    wrong_codes_count_against_the_account_and_a_right_password_does_not_clear_them,
    a_password_change_keeps_the_second_factor_and_kills_waiting_sign_ins,
    backup_codes_are_replaced_on_the_password_and_a_code,
    turning_it_off_needs_the_password_and_a_code_and_login_is_one_step_again,
    enrolment_steps_out_of_order_are_409s,
    malformed_codes_are_422_and_made_up_mfa_tokens_401,
    turning_it_on_ends_every_other_session,
    an_account_has_at_most_twenty_sign_ins_waiting,
    a_replayed_code_is_refused_but_not_counted_as_a_guess,
    an_unproven_address_cannot_enrol_a_second_factor,
    turning_it_off_ends_every_other_session,
    changing_the_address_of_an_account_with_a_second_factor_needs_a_code,
];

/// An account with the second factor on. `step`: the time step its confirm spent.
pub(crate) struct Enrolled {
    pub user: User,
    pub tokens: Tokens,
    secret: String,
    pub codes: Vec<String>,
    step: u64,
}

fn begin(api: &Api<'_>, user: &User, access: &str) -> Value {
    api.post(
        "/api/users/me/mfa/totp",
        Some(access),
        json!({ "password": user.password }),
    )
    .ok(200)
}

/// Registers, logs in, enrols and confirms with the code of the current step.
pub(crate) fn enrolled(api: &Api<'_>) -> Enrolled {
    let (user, tokens) = api.verified_user_with_session();
    let secret = str_of(&begin(api, &user, &tokens.access), "secret");
    let step = current_step();
    let body = api
        .post(
            "/api/users/me/mfa/totp/confirm",
            Some(&tokens.access),
            json!({ "code": code_at(&secret, step) }),
        )
        .ok(200);
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    Enrolled {
        user,
        tokens,
        secret,
        codes,
        step,
    }
}

/// Logs in with the right password; asserts 403 `mfa_required` and returns the token.
pub(crate) fn mfa_token(api: &Api<'_>, user: &User) -> String {
    let res = api.post(
        "/api/auth/login",
        None,
        json!({ "username": user.username, "password": user.password }),
    );
    let body = res.problem(403, "mfa_required");
    assert_eq!(body["expires_in"], 300, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    str_of(&body, "mfa_token")
}

pub(crate) fn second_step(api: &Api<'_>, token: &str, code: &str) -> crate::Resp {
    api.post(
        "/api/auth/mfa",
        None,
        json!({ "mfa_token": token, "code": code }),
    )
}

fn enrolment_needs_the_password_and_hands_out_a_secret_a_key_uri_and_a_qr_code(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.verified_user_with_session();
    api.post(
        "/api/users/me/mfa/totp",
        Some(&t.access),
        json!({ "password": "not the password" }),
    )
    .problem(401, "invalid_credentials");
    api.post_empty("/api/users/me/mfa/totp", None)
        .unauthorized("token_missing");
    let body = begin(&api, &user, &t.access);
    assert_eq!(keys(&body), ["otpauth_uri", "qr_svg", "secret"]);
    let secret = str_of(&body, "secret");
    assert_eq!(secret.len(), 32, "160 bits of base32: {secret}");
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
    let uri = str_of(&body, "otpauth_uri");
    assert!(
        uri.starts_with(&format!(
            "otpauth://totp/strata:{}?secret={secret}&issuer=strata",
            user.username
        )),
        "{uri}"
    );
    assert!(str_of(&body, "qr_svg").contains("<svg"));
    // Not on yet: the account says so, and login is one step.
    assert_eq!(api.me(&t.access).ok(200)["mfa_enabled"], false);
    api.login(&user);
    // Starting again replaces the secret: a code of the first no longer confirms.
    let second = str_of(&begin(&api, &user, &t.access), "secret");
    assert_ne!(second, secret);
    api.post(
        "/api/users/me/mfa/totp/confirm",
        Some(&t.access),
        json!({ "code": code_at(&secret, current_step()) }),
    )
    .problem(401, "invalid_mfa_code");
}

fn a_confirmed_enrolment_makes_login_ask_for_a_code_and_issues_no_token_before_it(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    assert_eq!(e.codes.len(), 10);
    let mut distinct = e.codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{:?}", e.codes);
    assert_eq!(api.me(&e.tokens.access).ok(200)["mfa_enabled"], true);
    // A wrong password is what it always was, with no hint of a second factor.
    let wrong = api
        .post(
            "/api/auth/login",
            None,
            json!({ "username": e.user.username, "password": "not the password" }),
        )
        .problem(401, "invalid_credentials");
    assert!(wrong.get("mfa_token").is_none(), "{wrong}");
    let token = mfa_token(&api, &e.user);
    let t = Tokens::from_body(&second_step(&api, &token, &code_at(&e.secret, e.step + 1)).ok(200));
    api.me(&t.access).ok(200);
    let sessions = api.get("/api/auth/sessions", Some(&t.access)).ok(200);
    let by_id = |id: &str| {
        sessions
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(&t.session_id)["second_factor"], true, "{sessions}");
    assert_eq!(
        by_id(&e.tokens.session_id)["second_factor"],
        false,
        "{sessions}"
    );
}

fn an_accepted_code_is_never_accepted_again_not_even_the_confirms(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, &code_at(&e.secret, e.step)).problem(401, "invalid_mfa_code");
    let next = code_at(&e.secret, e.step + 1);
    second_step(&api, &token, &next).ok(200);
    let again = mfa_token(&api, &e.user);
    second_step(&api, &again, &next).problem(401, "invalid_mfa_code");
    // An older step than the last accepted is refused too.
    second_step(&api, &again, &code_at(&e.secret, e.step)).problem(401, "invalid_mfa_code");
}

fn a_backup_code_signs_in_once_however_it_is_typed(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let code = &e.codes[3];
    let typed = code.to_uppercase().replace('-', " ");
    let token = mfa_token(&api, &e.user);
    Tokens::from_body(&second_step(&api, &token, &typed).ok(200));
    let again = mfa_token(&api, &e.user);
    second_step(&api, &again, code).problem(401, "invalid_mfa_code");
    second_step(&api, &again, &e.codes[4]).ok(200);
}

fn an_mfa_token_dies_after_five_wrong_codes_or_one_success(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let token = mfa_token(&api, &e.user);
    for wrong in [
        "000000",
        "111111",
        "aaaa-bbbb-cccc-dddd",
        "222222",
        "333333",
    ] {
        second_step(&api, &token, wrong).problem(401, "invalid_mfa_code");
    }
    second_step(&api, &token, &e.codes[0]).problem(401, "invalid_mfa_token");
    // The code was not spent by the dead token: a new sign-in takes it.
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, &e.codes[0]).ok(200);
    second_step(&api, &token, &e.codes[1]).problem(401, "invalid_mfa_token");
}

fn twenty_concurrent_sign_ins_with_one_code_open_one_session(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let tokens: Vec<String> = (0..20).map(|_| mfa_token(&api, &e.user)).collect();
    let code = code_at(&e.secret, e.step + 1);
    let base = ctx.main.clone();
    let statuses: Vec<(u16, String)> = ctx.rt.block_on(async {
        let sends = tokens.iter().map(|t| {
            let req = ctx
                .client
                .post(format!("{base}/api/auth/mfa"))
                .json(&json!({ "mfa_token": t, "code": code }));
            tokio::spawn(async move {
                let res = req.send().await.expect("send");
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap_or_default();
                (status, body["code"].as_str().unwrap_or_default().to_owned())
            })
        });
        let mut out = Vec::new();
        for s in sends.collect::<Vec<_>>() {
            out.push(s.await.expect("join"));
        }
        out
    });
    let wins = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(s, c)| *s == 200 || c == "invalid_mfa_code" || c == "rate_limited"),
        "{statuses:?}"
    );
}

fn concurrent_codes_on_one_mfa_token_open_one_session(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let token = mfa_token(&api, &e.user);
    let base = ctx.main.clone();
    let codes = e.codes[..5].to_vec();
    let statuses: Vec<u16> = ctx.rt.block_on(async {
        let sends = codes.iter().map(|c| {
            let req = ctx
                .client
                .post(format!("{base}/api/auth/mfa"))
                .json(&json!({ "mfa_token": token, "code": c }));
            tokio::spawn(async move { req.send().await.expect("send").status().as_u16() })
        });
        let mut out = Vec::new();
        for s in sends.collect::<Vec<_>>() {
            out.push(s.await.expect("join"));
        }
        out
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // The others waited (429: codes on one sign-in are checked one at a time) or came
    // after the winner took the sign-in (401 `invalid_mfa_token`): no code of theirs was
    // checked, so none was spent.
    assert!(
        statuses.iter().all(|s| [200, 401, 429].contains(s)),
        "{statuses:?}"
    );
    let spent = codes
        .iter()
        .filter(|c| {
            let t = mfa_token(&api, &e.user);
            second_step(&api, &t, c).status != 200
        })
        .count();
    assert_eq!(spent, 1, "only the winner's code is spent");
}

fn wrong_codes_count_against_the_account_and_a_right_password_does_not_clear_them(ctx: &Ctx) {
    // The limited app allows 3 failures per account and address.
    let main = ctx.api();
    let e = enrolled(&main);
    let api = ctx.on(&ctx.limited);
    let first = mfa_token(&api, &e.user);
    second_step(&api, &first, "000000").problem(401, "invalid_mfa_code");
    second_step(&api, &first, "111111").problem(401, "invalid_mfa_code");
    // The right password again: still a second factor to give, and the two failures stay.
    let second = mfa_token(&api, &e.user);
    second_step(&api, &second, "222222").problem(401, "invalid_mfa_code");
    let refused = api.post(
        "/api/auth/login",
        None,
        json!({ "username": e.user.username, "password": e.user.password }),
    );
    refused.problem(429, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // A right code is refused as well while the limit holds.
    second_step(&api, &second, &e.codes[0]).problem(429, "rate_limited");
}

fn a_password_change_keeps_the_second_factor_and_kills_waiting_sign_ins(ctx: &Ctx) {
    let api = ctx.api();
    let mut e = enrolled(&api);
    let waiting = mfa_token(&api, &e.user);
    let new_password = format!("{} changed", e.user.password);
    api.put(
        "/api/users/me/password",
        Some(&e.tokens.access),
        json!({ "current_password": e.user.password, "new_password": new_password }),
    )
    .no_content();
    second_step(&api, &waiting, &e.codes[0]).problem(401, "invalid_mfa_token");
    e.user.password = new_password;
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, &e.codes[0]).ok(200);
}

fn backup_codes_are_replaced_on_the_password_and_a_code(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let path = "/api/users/me/mfa/recovery-codes";
    let access = Some(e.tokens.access.as_str());
    api.post(
        path,
        access,
        json!({ "password": "wrong password", "code": e.codes[0] }),
    )
    .problem(401, "invalid_credentials");
    api.post(
        path,
        access,
        json!({ "password": e.user.password, "code": "000000" }),
    )
    .problem(401, "invalid_mfa_code");
    let body = api
        .post(
            path,
            access,
            json!({ "password": e.user.password, "code": e.codes[0] }),
        )
        .ok(200);
    let fresh: Vec<String> = body["recovery_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(fresh.len(), 10);
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, &e.codes[1]).problem(401, "invalid_mfa_code");
    second_step(&api, &token, &fresh[0]).ok(200);
}

fn turning_it_off_needs_the_password_and_a_code_and_login_is_one_step_again(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let path = "/api/users/me/mfa/totp";
    let access = Some(e.tokens.access.as_str());
    api.delete_with(
        path,
        access,
        json!({ "password": "wrong password", "code": e.codes[0] }),
    )
    .problem(401, "invalid_credentials");
    api.delete_with(
        path,
        access,
        json!({ "password": e.user.password, "code": "123456" }),
    )
    .problem(401, "invalid_mfa_code");
    api.delete_with(
        path,
        access,
        json!({ "password": e.user.password, "code": code_at(&e.secret, e.step + 1) }),
    )
    .no_content();
    assert_eq!(api.me(&e.tokens.access).ok(200)["mfa_enabled"], false);
    api.login(&e.user);
    api.delete_with(
        path,
        access,
        json!({ "password": e.user.password, "code": e.codes[0] }),
    )
    .problem(409, "mfa_not_enabled");
    // Enrolling again is a new secret; the old codes are gone.
    let again = str_of(&begin(&api, &e.user, &e.tokens.access), "secret");
    assert_ne!(again, e.secret);
}

fn enrolment_steps_out_of_order_are_409s(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let access = Some(t.access.as_str());
    api.post(
        "/api/users/me/mfa/totp/confirm",
        access,
        json!({ "code": "123456" }),
    )
    .problem(409, "mfa_not_pending");
    api.post(
        "/api/users/me/mfa/recovery-codes",
        access,
        json!({ "password": user.password, "code": "123456" }),
    )
    .problem(409, "mfa_not_enabled");
    let e = enrolled(&api);
    let access = Some(e.tokens.access.as_str());
    api.post(
        "/api/users/me/mfa/totp",
        access,
        json!({ "password": e.user.password }),
    )
    .problem(409, "mfa_already_enabled");
    api.post(
        "/api/users/me/mfa/totp/confirm",
        access,
        json!({ "code": "123456" }),
    )
    .problem(409, "mfa_already_enabled");
}

fn malformed_codes_are_422_and_made_up_mfa_tokens_401(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, "").invalid("code");
    second_step(&api, &token, &"1".repeat(65)).invalid("code");
    api.post("/api/auth/mfa", None, json!({ "mfa_token": token }))
        .invalid("code");
    for made_up in ["", "x", &"A".repeat(43), &"é".repeat(43)] {
        second_step(&api, made_up, "123456").problem(401, "invalid_mfa_token");
    }
    // None of that spent the real one.
    second_step(&api, &token, &e.codes[0]).ok(200);
}

fn turning_it_on_ends_every_other_session(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.verified_user_with_session();
    let other = api.login(&user);
    let secret = str_of(&begin(&api, &user, &t.access), "secret");
    api.post(
        "/api/users/me/mfa/totp/confirm",
        Some(&t.access),
        json!({ "code": code_at(&secret, current_step()) }),
    )
    .ok(200);
    api.me(&other.access).unauthorized("token_revoked");
    api.refresh(&other.refresh).unauthorized("token_revoked");
    api.me(&t.access).ok(200);
}

fn an_account_has_at_most_twenty_sign_ins_waiting(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    for _ in 0..20 {
        mfa_token(&api, &e.user);
    }
    let res = api.post(
        "/api/auth/login",
        None,
        json!({ "username": e.user.username, "password": e.user.password }),
    );
    let body = res.problem(429, "rate_limited");
    assert!(body.get("mfa_token").is_none(), "{body}");
    assert!(res.header("retry-after").is_some());
}

fn a_replayed_code_is_refused_but_not_counted_as_a_guess(ctx: &Ctx) {
    // The limited app allows 3 failures per account and address.
    let e = enrolled(&ctx.api());
    let api = ctx.on(&ctx.limited);
    let token = mfa_token(&api, &e.user);
    let used = code_at(&e.secret, e.step);
    for _ in 0..5 {
        second_step(&api, &token, &used).problem(401, "invalid_mfa_code");
    }
    // Five refusals, none counted: the fresh sign-in and the next code still go through.
    let token = mfa_token(&api, &e.user);
    second_step(&api, &token, &code_at(&e.secret, e.step + 1)).ok(200);
}

fn an_unproven_address_cannot_enrol_a_second_factor(ctx: &Ctx) {
    // Whoever registers someone else's address must not put their factor between the
    // owner and the account the owner later recovers by mail.
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    api.post(
        "/api/users/me/mfa/totp",
        Some(&t.access),
        json!({ "password": user.password }),
    )
    .problem(403, "email_unverified");
    assert_eq!(api.me(&t.access).ok(200)["mfa_enabled"], false);
    api.verify_address(&user);
    let secret = str_of(&begin(&api, &user, &t.access), "secret");
    api.post(
        "/api/users/me/mfa/totp/confirm",
        Some(&t.access),
        json!({ "code": code_at(&secret, current_step()) }),
    )
    .ok(200);
}

fn turning_it_off_ends_every_other_session(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let token = mfa_token(&api, &e.user);
    let other = Tokens::from_body(&second_step(&api, &token, &e.codes[0]).ok(200));
    api.delete_with(
        "/api/users/me/mfa/totp",
        Some(&e.tokens.access),
        json!({ "password": e.user.password, "code": e.codes[1] }),
    )
    .no_content();
    api.me(&other.access).unauthorized("token_revoked");
    api.refresh(&other.refresh).unauthorized("token_revoked");
    api.me(&e.tokens.access).ok(200);
}

fn changing_the_address_of_an_account_with_a_second_factor_needs_a_code(ctx: &Ctx) {
    let api = ctx.api();
    let e = enrolled(&api);
    let access = Some(e.tokens.access.as_str());
    let new_email = format!("moved.{}", e.user.email);
    let change = |code: Option<&str>| {
        let mut body = json!({ "new_email": new_email, "password": e.user.password });
        if let Some(c) = code {
            body["code"] = json!(c);
        }
        api.put("/api/users/me/email", access, body)
    };
    change(None).invalid("code");
    change(Some("000000")).problem(401, "invalid_mfa_code");
    change(Some(&code_at(&e.secret, e.step))).problem(401, "invalid_mfa_code");
    change(Some(&e.codes[0])).ok(202);
    // The backup code is spent.
    change(Some(&e.codes[0])).problem(401, "invalid_mfa_code");
    // Without a second factor the password alone still does.
    let (user, t) = api.user_with_session();
    api.put(
        "/api/users/me/email",
        Some(&t.access),
        json!({ "new_email": format!("moved.{}", user.email), "password": user.password }),
    )
    .ok(202);
}
