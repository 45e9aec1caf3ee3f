//! Two writes to one account at once, with real links from real mails: two reset links,
//! two change-of-address links, one of each, and a password change against a
//! change-of-address link, several rounds each. The loser gets the answer its work
//! deserves (204 if it still applies, else 400 `invalid_or_expired_token`), never a 5xx:
//! the writes lock the account's row first, always in the same order.

use std::sync::{Arc, Barrier};

use serde_json::{json, Value};
use strata_e2e::TestApp;

use crate::{subject_of, token_in, Case, Ctx};

pub const CASES: &[Case] =
    testkit::cases![two_writes_to_one_account_at_once_answer_204_or_400_never_5xx];

/// Makes the two writes of one round on a fresh account of `app`.
type Pair = fn(&Ctx, &str) -> [Write; 2];

/// Rounds per pair (each a fresh account and fresh links).
const ROUNDS: usize = 6;

/// One side of a race, ready to send.
#[derive(Clone)]
enum Write {
    Reset(String),
    Verify(String),
    ChangePassword { access: String, current: String },
}

fn send(ctx: &Ctx, app: &str, w: &Write) -> (u16, Value) {
    let (method, path, token, body) = match w {
        Write::Reset(t) => (
            "POST",
            "/api/auth/password-reset/confirm",
            None,
            json!({ "token": t, "new_password": format!("reset password {}", &t[..8]) }),
        ),
        Write::Verify(t) => (
            "POST",
            "/api/auth/verify-email",
            None,
            json!({ "token": t }),
        ),
        Write::ChangePassword { access, current } => (
            "PUT",
            "/api/users/me/password",
            Some(access.as_str()),
            json!({ "current_password": current, "new_password": "a changed password" }),
        ),
    };
    let r = ctx.send_to(app, method, path, token, Some(body));
    (r.status, r.body)
}

/// The tokens of the mails to `to` whose subject holds `subject`, once there are `n`.
fn tokens(ctx: &Ctx, to: &str, subject: &str, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let found: Vec<String> = ctx
            .smtp
            .wait_for(to, 1)
            .iter()
            .filter(|m| subject_of(m).contains(subject))
            .map(|m| token_in(m))
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{} of {n} {subject:?} mails to {to}",
            found.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An account on `app`, logged in: (email, password, access token).
fn account(ctx: &Ctx, app: &str) -> (String, String, String) {
    let (name, email, password) = ctx.register_on(app);
    let r = ctx.send_to(
        app,
        "POST",
        "/api/auth/login",
        None,
        Some(json!({ "username": name, "password": password })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    (
        email,
        password,
        r.body["access_token"].as_str().unwrap().to_owned(),
    )
}

fn reset_links(ctx: &Ctx, app: &str, email: &str, n: usize) -> Vec<String> {
    for _ in 0..n {
        let r = ctx.send_to(
            app,
            "POST",
            "/api/auth/password-reset",
            None,
            Some(json!({ "email": email })),
        );
        assert_eq!(r.status, 202);
    }
    tokens(ctx, email, "Reset your", n)
}

fn change_link(ctx: &Ctx, app: &str, access: &str, password: &str, to: &str) -> String {
    let r = ctx.send_to(
        app,
        "PUT",
        "/api/users/me/email",
        Some(access),
        Some(json!({ "new_email": to, "password": password })),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    tokens(ctx, to, "new email address", 1).remove(0)
}

fn two_writes_to_one_account_at_once_answer_204_or_400_never_5xx(ctx: &Ctx) {
    // Many resets from one address: a limit of its own, and a key prefix of its own.
    let prefix = format!("{}:", testkit::random_name("races"));
    let env = ctx
        .env
        .with("PASSWORD_RESET_MAX_PER_IP", "1000")
        .with("REDIS_KEY_PREFIX", &prefix);
    let app = TestApp::spawn(&env).unwrap();
    let app = app.address.as_str();
    let pairs: [(&str, Pair); 4] = [
        ("two reset links", |ctx, app| {
            let (email, _, _) = account(ctx, app);
            let l = reset_links(ctx, app, &email, 2);
            [Write::Reset(l[0].clone()), Write::Reset(l[1].clone())]
        }),
        ("two change-of-address links", |ctx, app| {
            let (email, pw, access) = account(ctx, app);
            let a = change_link(ctx, app, &access, &pw, &format!("a.{email}"));
            let b = change_link(ctx, app, &access, &pw, &format!("b.{email}"));
            [Write::Verify(a), Write::Verify(b)]
        }),
        ("a reset link and a change-of-address link", |ctx, app| {
            let (email, pw, access) = account(ctx, app);
            let reset = reset_links(ctx, app, &email, 1).remove(0);
            let change = change_link(ctx, app, &access, &pw, &format!("new.{email}"));
            [Write::Reset(reset), Write::Verify(change)]
        }),
        (
            "a password change and a change-of-address link",
            |ctx, app| {
                let (email, pw, access) = account(ctx, app);
                let change = change_link(ctx, app, &access, &pw, &format!("new.{email}"));
                [
                    Write::ChangePassword {
                        access,
                        current: pw,
                    },
                    Write::Verify(change),
                ]
            },
        ),
    ];
    for (what, make) in pairs {
        for round in 0..ROUNDS {
            let writes = make(ctx, app);
            let barrier = Arc::new(Barrier::new(2));
            let outcomes: Vec<(u16, Value)> = std::thread::scope(|s| {
                let handles: Vec<_> = writes
                    .iter()
                    .map(|w| {
                        let barrier = barrier.clone();
                        s.spawn(move || {
                            barrier.wait();
                            send(ctx, app, w)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            for (status, body) in &outcomes {
                let fine = *status == 204
                    || (*status == 400 && body["code"] == "invalid_or_expired_token");
                assert!(fine, "{what}, round {round}: {status} {body}");
            }
            assert!(
                outcomes.iter().any(|(s, _)| *s == 204),
                "{what}, round {round}: nobody won: {outcomes:?}"
            );
        }
    }
}
