//! Verification, reset, change of address, the cap, and no enumeration, on the suite's
//! app and SMTP server.

use std::time::Duration;

use serde_json::json;

use crate::{subject_of, token_in, Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    registration_mails_a_link_that_verifies_the_address_once,
    a_reset_link_sets_the_password_once_and_ends_every_session,
    a_reset_request_answers_the_same_for_known_and_unknown_addresses,
    a_change_of_address_happens_when_the_new_address_confirms_and_the_old_is_told,
    mails_with_a_token_stop_at_the_hourly_cap_and_the_answer_does_not_change,
    an_unverified_login_is_403_only_with_the_right_password_when_verification_is_required,
    reset_requests_past_the_per_client_limit_mail_nothing_and_answer_the_same,
];

fn assert_invalid_token(ctx: &Ctx, path: &str, body: serde_json::Value) {
    let r = ctx.send("POST", path, None, Some(body.clone()));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("invalid_or_expired_token")),
        "{path} {body}: {}",
        r.body
    );
}

fn registration_mails_a_link_that_verifies_the_address_once(ctx: &Ctx) {
    let (name, email, password) = ctx.register();
    let mail = ctx.mail(&email, "Confirm your email");
    assert!(
        mail.contains("http://strata.test/verify-email?token="),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Type: text/html") && mail.contains("Content-Type: text/plain"),
        "{mail}"
    );
    let token = token_in(&mail);
    assert_eq!(token.len(), 43, "{token}");
    // Opening the link (a GET, as mail scanners do) changes nothing.
    let page = ctx
        .http
        .get(format!("{}/verify-email?token={token}", ctx.app))
        .send()
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let access = ctx.login(&name, &password).unwrap();
    assert_eq!(
        ctx.send("GET", "/api/users/me", Some(&access), None).body["email_verified"],
        false
    );
    let r = ctx.send(
        "POST",
        "/api/auth/verify-email",
        None,
        Some(json!({ "token": token })),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        ctx.send("GET", "/api/users/me", Some(&access), None).body["email_verified"],
        true
    );
    // Used, forged, empty, huge.
    for bad in [
        token.clone(),
        format!("{token}x"),
        String::new(),
        "a".repeat(5000),
    ] {
        assert_invalid_token(ctx, "/api/auth/verify-email", json!({ "token": bad }));
    }
    // A verified address gets no new link.
    let r = ctx.send(
        "POST",
        "/api/auth/verify-email/resend",
        None,
        Some(json!({ "email": email })),
    );
    assert_eq!(r.status, 202);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(ctx.smtp.wait_for(&email, 1).len(), 1);
}

fn a_reset_link_sets_the_password_once_and_ends_every_session(ctx: &Ctx) {
    let (name, email, password) = ctx.register();
    let access = ctx.login(&name, &password).unwrap();
    let r = ctx.send(
        "POST",
        "/api/auth/password-reset",
        None,
        Some(json!({ "email": email.to_uppercase() })),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let mail = ctx.mail(&email, "Reset your");
    assert!(
        mail.contains("http://strata.test/reset-password?token="),
        "{mail}"
    );
    let token = token_in(&mail);
    // A weak password is refused and does not use the token up.
    let r = ctx.send(
        "POST",
        "/api/auth/password-reset/confirm",
        None,
        Some(json!({ "token": token, "new_password": "short" })),
    );
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].as_str()),
        (422, Some("new_password")),
        "{}",
        r.body
    );
    let new = "a brand new password";
    let r = ctx.send(
        "POST",
        "/api/auth/password-reset/confirm",
        None,
        Some(json!({ "token": token, "new_password": new })),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let me = ctx.send("GET", "/api/users/me", Some(&access), None);
    assert_eq!(
        (me.status, me.body["code"].as_str()),
        (401, Some("token_revoked"))
    );
    assert_eq!(ctx.login(&name, &password).unwrap_err().status, 401);
    ctx.login(&name, new).unwrap();
    assert_invalid_token(
        ctx,
        "/api/auth/password-reset/confirm",
        json!({ "token": token, "new_password": "another new password" }),
    );
    let notice = ctx.mail(&email, "password was changed");
    assert!(!notice.contains("token="), "{notice}");
}

fn a_reset_request_answers_the_same_for_known_and_unknown_addresses(ctx: &Ctx) {
    let (_, email, _) = ctx.register();
    let unknown = format!("nobody.{email}");
    let known = ctx.send(
        "POST",
        "/api/auth/password-reset",
        None,
        Some(json!({ "email": email })),
    );
    let other = ctx.send(
        "POST",
        "/api/auth/password-reset",
        None,
        Some(json!({ "email": unknown })),
    );
    assert_eq!((known.status, &known.body), (other.status, &other.body));
    let shown = |a: &crate::Answer| {
        let mut h: Vec<(String, String)> = a
            .headers
            .iter()
            .filter(|(k, _)| !["date", "x-request-id", "traceparent"].contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        h.sort();
        h
    };
    assert_eq!(shown(&known), shown(&other));
    // A malformed address is the only thing told apart, and says nothing of accounts.
    let r = ctx.send(
        "POST",
        "/api/auth/password-reset",
        None,
        Some(json!({ "email": "not an address" })),
    );
    assert_eq!(r.status, 422);
    ctx.mail(&email, "Reset your");
    std::thread::sleep(Duration::from_millis(600));
    assert!(ctx.smtp.wait_for(&unknown, 1).is_empty());
}

fn a_change_of_address_happens_when_the_new_address_confirms_and_the_old_is_told(ctx: &Ctx) {
    let (name, email, password) = ctx.register();
    let access = ctx.login(&name, &password).unwrap();
    let new = format!("new.{email}");
    let r = ctx.send(
        "PUT",
        "/api/users/me/email",
        Some(&access),
        Some(json!({ "new_email": new, "password": "wrong password" })),
    );
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let r = ctx.send(
        "PUT",
        "/api/users/me/email",
        Some(&access),
        Some(json!({ "new_email": new, "password": password })),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let notice = ctx.mail(&email, "change of your");
    assert!(
        notice.contains(&new) && !notice.contains("token="),
        "{notice}"
    );
    let link = ctx.mail(&new, "new email address");
    assert_eq!(
        ctx.send("GET", "/api/users/me", Some(&access), None).body["email"],
        email.as_str()
    );
    let r = ctx.send(
        "POST",
        "/api/auth/verify-email",
        None,
        Some(json!({ "token": token_in(&link) })),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    let me = ctx.send("GET", "/api/users/me", Some(&access), None).body;
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some(new.as_str()), Some(true))
    );
    // The old address's verification link no longer verifies anything.
    let first = ctx.mail(&email, "Confirm your email");
    assert_invalid_token(
        ctx,
        "/api/auth/verify-email",
        json!({ "token": token_in(&first) }),
    );
}

fn mails_with_a_token_stop_at_the_hourly_cap_and_the_answer_does_not_change(ctx: &Ctx) {
    let (_, email, _) = ctx.register();
    for _ in 0..8 {
        let r = ctx.send(
            "POST",
            "/api/auth/password-reset",
            None,
            Some(json!({ "email": email })),
        );
        assert_eq!(r.status, 202);
    }
    // The verification and four resets: five an hour.
    let got = ctx.smtp.wait_for(&email, 5);
    std::thread::sleep(Duration::from_millis(1000));
    let got_later = ctx.smtp.wait_for(&email, 5);
    assert_eq!(
        (got.len(), got_later.len()),
        (5, 5),
        "{:?}",
        got_later.iter().map(|m| subject_of(m)).collect::<Vec<_>>()
    );
}

fn an_unverified_login_is_403_only_with_the_right_password_when_verification_is_required(
    ctx: &Ctx,
) {
    let strict =
        strata_e2e::TestApp::spawn(&ctx.env.with("REQUIRE_EMAIL_VERIFICATION", "true")).unwrap();
    let (name, email, password) = ctx.register_on(&strict.address);
    let login = |pw: &str| {
        ctx.send_to(
            &strict.address,
            "POST",
            "/api/auth/login",
            None,
            Some(json!({ "username": name, "password": pw })),
        )
    };
    let wrong = login("not the password");
    assert_eq!(
        (wrong.status, wrong.body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let right = login(&password);
    assert_eq!(
        (right.status, right.body["code"].as_str()),
        (403, Some("email_unverified")),
        "{}",
        right.body
    );
    assert!(right.body.get("access_token").is_none());
    let mail = ctx.mail(&email, "Confirm your email");
    let r = ctx.send_to(
        &strict.address,
        "POST",
        "/api/auth/verify-email",
        None,
        Some(json!({ "token": token_in(&mail) })),
    );
    assert_eq!(r.status, 204);
    assert_eq!(login(&password).status, 200);
}

fn reset_requests_past_the_per_client_limit_mail_nothing_and_answer_the_same(ctx: &Ctx) {
    // A Redis prefix of its own: the other cases' requests come from 127.0.0.1 too.
    let prefix = format!("{}:", testkit::random_name("strict"));
    let env = ctx
        .env
        .with("PASSWORD_RESET_MAX_PER_IP", "3")
        .with("REDIS_KEY_PREFIX", &prefix);
    let strict = strata_e2e::TestApp::spawn(&env).unwrap();
    let emails: Vec<String> = (0..5).map(|_| ctx.register_on(&strict.address).1).collect();
    let mut bodies = Vec::new();
    for e in &emails {
        let r = ctx.send_to(
            &strict.address,
            "POST",
            "/api/auth/password-reset",
            None,
            Some(json!({ "email": e })),
        );
        assert_eq!(r.status, 202);
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // Three resets mailed, then none.
    let resets = || -> usize {
        emails
            .iter()
            .map(|e| {
                ctx.smtp
                    .wait_for(e, 1)
                    .iter()
                    .filter(|m| subject_of(m).contains("Reset your"))
                    .count()
            })
            .sum()
    };
    let start = std::time::Instant::now();
    while resets() < 3 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let rows: Vec<Vec<String>> = emails
        .iter()
        .map(|e| crate::storage::outbox_of(ctx, e))
        .collect();
    assert_eq!(resets(), 3, "{rows:#?}");
}
