//! With `REQUIRE_EMAIL_VERIFICATION=true`: an owner who lost their link (or let it lapse)
//! gets a new one by address without a session, a reset by mail proves the address (and
//! removes a second factor put on before that proof), and registration answers a taken
//! address as it answers a new one, telling its owner instead.

use serde_json::{json, Value};
use strata_e2e::TestApp;

use crate::storage::queued_kinds;
use crate::{subject_of, token_in, Answer, Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    an_owner_without_a_working_link_gets_a_new_one_by_address_and_signs_in,
    a_new_link_by_address_answers_the_same_for_every_address,
    a_reset_by_mail_proves_the_address_and_lets_the_owner_in,
    a_reset_that_first_proves_an_address_removes_a_factor_enrolled_before_it,
    registering_a_taken_address_answers_as_a_new_one_and_tells_its_owner,
];

/// An app that refuses sign-ins of unverified addresses (same database, SMTP and store).
fn strict(ctx: &Ctx) -> TestApp {
    TestApp::spawn(&ctx.env.with("REQUIRE_EMAIL_VERIFICATION", "true")).unwrap()
}

fn login(ctx: &Ctx, app: &str, name: &str, password: &str) -> Answer {
    ctx.send_to(
        app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({ "username": name, "password": password })),
    )
}

fn resend(ctx: &Ctx, app: &str, email: &str) -> Answer {
    ctx.send_to(
        app,
        "POST",
        "/api/auth/verify-email/resend",
        None,
        Some(json!({ "email": email })),
    )
}

/// The mails to `to` whose subject holds `subject`, once there are `n`.
fn mails_about(ctx: &Ctx, to: &str, subject: &str, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let found: Vec<String> = ctx
            .smtp
            .wait_for(to, n)
            .into_iter()
            .filter(|m| subject_of(m).contains(subject))
            .collect();
        if found.len() >= n || start.elapsed() > std::time::Duration::from_secs(30) {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn an_owner_without_a_working_link_gets_a_new_one_by_address_and_signs_in(ctx: &Ctx) {
    let app = strict(ctx);
    let (name, email, password) = ctx.register_on(&app.address);
    // The first link is lost (or lapsed): sign-in is refused, and the address is taken.
    let lost = token_in(&ctx.mail(&email, "Confirm your email"));
    let r = login(ctx, &app.address, &name, &password);
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("email_unverified")),
        "{}",
        r.body
    );
    // No session, no way to open one: the address alone asks for a new link.
    let r = resend(ctx, &app.address, &email.to_uppercase());
    assert_eq!(r.status, 202, "{}", r.body);
    let links = mails_about(ctx, &email, "Confirm your email", 2);
    assert_eq!(links.len(), 2, "a second link");
    let fresh = links
        .iter()
        .map(|m| token_in(m))
        .find(|t| *t != lost)
        .unwrap();
    let r = ctx.send_to(
        &app.address,
        "POST",
        "/api/auth/verify-email",
        None,
        Some(json!({ "token": fresh })),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(login(ctx, &app.address, &name, &password).status, 200);
}

fn a_new_link_by_address_answers_the_same_for_every_address(ctx: &Ctx) {
    let (_, unverified, _) = ctx.register();
    let (_, verified, _) = ctx.register();
    ctx.verify(&verified);
    let unknown = format!("nobody.{verified}");
    let answers: Vec<Answer> = [&unverified, &verified, &unknown]
        .into_iter()
        .map(|e| resend(ctx, &ctx.app, e))
        .collect();
    let shown = |a: &Answer| {
        let mut h: Vec<(String, String)> = a
            .headers
            .iter()
            .filter(|(k, _)| !["date", "x-request-id", "traceparent"].contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        h.sort();
        (a.status, a.body.clone(), h)
    };
    assert_eq!(answers[0].status, 202, "{}", answers[0].body);
    assert_eq!(shown(&answers[0]), shown(&answers[1]));
    assert_eq!(shown(&answers[0]), shown(&answers[2]));
    // Only the unverified account gets a new link.
    assert_eq!(
        mails_about(ctx, &unverified, "Confirm your email", 2).len(),
        2
    );
    assert_eq!(queued_kinds(ctx, &verified), ["verify_email"]);
    assert!(queued_kinds(ctx, &unknown).is_empty());
    // A malformed address is the only thing told apart, and says nothing of accounts.
    let r = resend(ctx, &ctx.app, "not an address");
    assert_eq!(r.status, 422, "{}", r.body);
}

fn a_reset_by_mail_proves_the_address_and_lets_the_owner_in(ctx: &Ctx) {
    let app = strict(ctx);
    let (name, email, password) = ctx.register_on(&app.address);
    assert_eq!(login(ctx, &app.address, &name, &password).status, 403);
    let new = format!("new {password}");
    ctx.reset_by_mail_on(&app.address, &email, &new);
    // The link reached the owner: that proves the address.
    let r = login(ctx, &app.address, &name, &new);
    assert_eq!(r.status, 200, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap();
    let me = ctx.send_to(&app.address, "GET", "/api/users/me", Some(access), None);
    assert_eq!(me.body["email_verified"], true);
}

/// Puts a second factor on the account straight into the database, as an account enrolled
/// before enrolment asked for a verified address would have one.
fn legacy_factor(ctx: &Ctx, user_id: &str) {
    let mfa = repos::MfaRepo::new(ctx.database.clone());
    ctx.rt.block_on(async {
        assert!(mfa.start(user_id, "sealed-by-someone").await.unwrap());
        let codes = vec!["0".repeat(64)];
        assert!(mfa
            .enable(user_id, "sealed-by-someone", 1, codes, None)
            .await
            .unwrap());
    });
}

fn a_reset_that_first_proves_an_address_removes_a_factor_enrolled_before_it(ctx: &Ctx) {
    // Someone registered the owner's address and put their own factor on it.
    let name = testkit::random_name("m");
    let (email, password) = (format!("{name}@example.com"), format!("pw of {name}"));
    let r = ctx.send(
        "POST",
        "/api/auth/register",
        None,
        Some(json!({ "username": name, "email": email, "password": password })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    legacy_factor(ctx, r.body["id"].as_str().unwrap());
    let r = login(ctx, &ctx.app, &name, &password);
    assert_eq!(r.body["code"], "mfa_required", "{}", r.body);
    // The owner resets by mail: the factor goes, and the notice says so.
    let new = format!("owner's {password}");
    ctx.reset_by_mail_on(&ctx.app, &email, &new);
    let r = login(ctx, &ctx.app, &name, &new);
    assert_eq!(
        r.status, 200,
        "the owner signs in with the password alone: {}",
        r.body
    );
    let access = r.body["access_token"].as_str().unwrap();
    let me = ctx.send("GET", "/api/users/me", Some(access), None).body;
    assert_eq!(
        (&me["email_verified"], &me["mfa_enabled"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    let notice = ctx.mail(&email, "two-step sign-in turned off");
    assert!(!notice.contains("token="), "{notice}");
    assert!(
        !queued_kinds(ctx, &email).contains(&"password_changed".to_owned()),
        "one notice, the one that says what happened"
    );
}

fn registering_a_taken_address_answers_as_a_new_one_and_tells_its_owner(ctx: &Ctx) {
    let app = strict(ctx);
    let (_, owner_email, _) = ctx.register_on(&app.address);
    let register = |name: &str, email: &str| {
        ctx.send_to(
            &app.address,
            "POST",
            "/api/auth/register",
            None,
            Some(json!({ "username": name, "email": email, "password": "a password of someone" })),
        )
    };
    // Names of one length, so that nothing but the values can differ.
    let (fresh_name, taken_name) = (testkit::random_name("n"), testkit::random_name("n"));
    let fresh = register(&fresh_name, &format!("{fresh_name}@example.com"));
    let taken = register(&taken_name, &owner_email);
    let shape = |a: &Answer| {
        let mut keys: Vec<String> = a
            .body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        let mut headers: Vec<String> = a.headers.keys().map(|k| k.to_string()).collect();
        headers.sort();
        (a.status, keys, headers, a.body["email_verified"].clone())
    };
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    assert_eq!(
        shape(&fresh),
        shape(&taken),
        "{} / {}",
        fresh.body,
        taken.body
    );
    for a in [&fresh, &taken] {
        let id = a.body["id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        assert_eq!(
            a.headers["location"].to_str().unwrap(),
            format!("/api/users/{id}")
        );
    }
    // The owner hears of it; nobody else gets a mail for that address.
    let notice = ctx.mail(&owner_email, "tried to sign up");
    assert!(!notice.contains("token="), "{notice}");
    assert_eq!(
        queued_kinds(ctx, &owner_email),
        ["verify_email", "signup_attempted"]
    );
    // Neither id has a profile while its address is unproven.
    let (viewer, viewer_email, viewer_pw) = ctx.register_on(&app.address);
    ctx.verify(&viewer_email);
    let access = login(ctx, &app.address, &viewer, &viewer_pw).body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for a in [&fresh, &taken] {
        let path = format!("/api/users/{}", a.body["id"].as_str().unwrap());
        let r = ctx.send_to(&app.address, "GET", &path, Some(&access), None);
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (404, Some("not_found"))
        );
    }
    // Usernames are public: a taken one is still a 409.
    let r = register(&fresh_name, &format!("other.{fresh_name}@example.com"));
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("username_taken"))
    );
}
