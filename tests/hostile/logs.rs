//! No log line holds a secret: the real binary (JSON logs, `RUST_LOG=debug`) goes through
//! a whole account's life, failed logins and bad requests included, and its captured log
//! must contain none of the passwords used, no token (nor a token's signature), no mailed
//! mailed token, not the signing secret, and no bcrypt hash.

use std::time::Duration;

use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;

use crate::client;
use crate::world::suffix;
use crate::{Case, Ctx, Req, Resp};

/// The token of the link to `page` in the first `.eml` file under `dir` that has one
/// (waits for the outbox worker, up to a bound generous enough for a loaded machine).
fn mailed_token(dir: &std::path::Path, page: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let mails = std::fs::read_dir(dir).into_iter().flatten().flatten();
        for m in mails {
            let text = std::fs::read_to_string(m.path()).unwrap_or_default();
            let unfolded = text.replace("=\r\n", "").replace("=3D", "=");
            if unfolded.contains(&format!("/{page}?token=")) {
                if let Some(t) = strata_e2e::smtp_server::token(&text) {
                    return t;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no {page} mail in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub const CASES: &[Case] = testkit::cases![no_log_line_holds_a_password_a_token_or_the_secret];

/// The process under test and what the flow has shown it.
struct Flow {
    addr: String,
    /// Everything that must never be logged.
    secrets: Vec<(String, String)>,
}

impl Flow {
    fn send(&self, req: Req) -> Resp {
        match client::send(&self.addr, &req) {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}", req.what),
        }
    }

    /// Sends and asserts the status; returns the body.
    fn expect(&self, req: Req, status: u16) -> Value {
        let what = req.what.clone();
        let r = self.send(req);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        r.json()
    }

    fn secret(&mut self, what: &str, value: &str) {
        self.secrets.push((what.to_owned(), value.to_owned()));
    }

    /// Logs in; remembers both tokens and their signatures as secrets.
    fn login(&mut self, body: Value, what: &str) -> (String, String) {
        let t = self.expect(Req::new("POST", "/api/auth/login").json(&body), 200);
        self.tokens(&t, what)
    }

    fn tokens(&mut self, t: &Value, what: &str) -> (String, String) {
        let access = t["access_token"].as_str().unwrap().to_owned();
        let refresh = t["refresh_token"].as_str().unwrap().to_owned();
        for (kind, token) in [("access", &access), ("refresh", &refresh)] {
            self.secret(&format!("{what} {kind} token"), token);
            let signature = token.rsplit('.').next().unwrap_or_default().to_owned();
            self.secret(&format!("{what} {kind} token's signature"), &signature);
        }
        (access, refresh)
    }
}

fn no_log_line_holds_a_password_a_token_or_the_secret(ctx: &Ctx) {
    // No reuse grace: the old refresh token presented again below is reuse at once.
    let mail_dir = std::env::temp_dir().join(format!("strata-log-mail-{}", suffix()));
    let env = ctx
        .env
        .with("MAIL_DIR", &mail_dir.to_string_lossy())
        .with("RUST_LOG", "debug")
        .with("LOG_FORMAT", "json")
        .with("REFRESH_REUSE_GRACE", "0");
    let mut process = ApiProcess::start(&env, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("starting the api binary: {e}"));
    let s = suffix();
    let (username, email) = (format!("log_{s}"), format!("log.{s}@example.com"));
    let pw1 = format!("FirstPass{s}");
    let pw2 = format!("SecondPass{s}");
    let mut f = Flow {
        addr: process.address.trim_start_matches("http://").to_owned(),
        secrets: Vec::new(),
    };
    f.secret("the JWT secret", strata_e2e::SECRET);
    f.secret("the first password", &pw1);
    f.secret("the second password", &pw2);

    // Register, log in, use the tokens, refresh.
    f.expect(
        Req::new("POST", "/api/auth/register")
            .json(&json!({ "username": username, "email": email, "password": pw1 })),
        201,
    );
    let (a_access, a_refresh) = f.login(json!({ "username": username, "password": pw1 }), "first");
    f.expect(
        Req::new("GET", "/api/users/me").bearer(Some(&a_access)),
        200,
    );
    f.expect(
        Req::new("POST", "/api/tasks")
            .bearer(Some(&a_access))
            .json(&json!({ "title": "a task" })),
        201,
    );
    f.expect(Req::new("GET", "/api/tasks").bearer(Some(&a_access)), 200);
    let t = f.expect(
        Req::new("POST", "/api/auth/refresh").json(&json!({ "refresh_token": a_refresh })),
        200,
    );
    let (b_access, b_refresh) = f.tokens(&t, "refreshed");
    f.expect(
        Req::new("GET", "/api/auth/sessions").bearer(Some(&b_access)),
        200,
    );

    // The mailed tokens: the verification link (used), a reset link (a weak password first).
    let verify = mailed_token(&mail_dir, "verify-email");
    f.secret("the verification token", &verify);
    f.expect(
        Req::new("POST", "/api/auth/verify-email").json(&json!({ "token": verify })),
        204,
    );
    f.expect(
        Req::new("POST", "/api/auth/password-reset").json(&json!({ "email": email })),
        202,
    );
    let reset = mailed_token(&mail_dir, "reset-password");
    f.secret("the reset token", &reset);
    f.expect(
        Req::new("POST", "/api/auth/password-reset/confirm")
            .json(&json!({ "token": reset, "new_password": "short" })),
        422,
    );

    // Failed logins, by name, by email and for nobody.
    for (n, body) in [
        json!({ "username": username, "password": format!("WrongOne{s}") }),
        json!({ "email": email, "password": format!("WrongTwo{s}") }),
        json!({ "username": format!("nobody_{s}"), "password": format!("WrongThree{s}") }),
    ]
    .into_iter()
    .enumerate()
    {
        f.secret(
            &format!("wrong password {n}"),
            body["password"].as_str().unwrap(),
        );
        f.expect(Req::new("POST", "/api/auth/login").json(&body), 401);
    }

    // Bad requests carrying secrets.
    let in_body = format!("InBody{s}");
    let in_body2 = format!("InBodyToo{s}");
    let wrong_current = format!("WrongCurrent{s}");
    let new_unused = format!("NeverUsed{s}");
    for (what, value) in [
        ("a password in a malformed body", &in_body),
        ("a password in a body with an unknown member", &in_body2),
        ("a wrong current password", &wrong_current),
        ("a new password never set", &new_unused),
    ] {
        f.secret(what, value);
    }
    f.expect(
        Req::new("POST", "/api/auth/login").json_bytes(format!(
            r#"{{"username":"{username}","password":"{in_body}""#
        )),
        400,
    );
    f.expect(
        Req::new("POST", "/api/auth/login")
            .json(&json!({ "username": username, "password": in_body2, "remember": true })),
        422,
    );
    f.expect(
        Req::new("POST", "/api/auth/login")
            .json(&json!({ "username": username, "password": [in_body2] })),
        422,
    );
    f.expect(
        Req::new("PUT", "/api/users/me/password")
            .bearer(Some(&b_access))
            .json(&json!({ "current_password": wrong_current, "new_password": new_unused })),
        401,
    );
    f.expect(
        Req::new("POST", "/api/auth/refresh")
            .json(&json!({ "refresh_token": format!("{b_refresh}x") })),
        401,
    );
    f.expect(
        Req::new("GET", "/api/users/me").bearer(Some(&format!("{b_access}x"))),
        401,
    );
    f.expect(
        Req::new("GET", format!("/api/tasks?cursor={b_access}")).bearer(Some(&b_access)),
        422,
    );
    // The first access token, revoked by the refresh.
    f.expect(
        Req::new("GET", "/api/users/me").bearer(Some(&a_access)),
        401,
    );

    // Change the password, log in with the new one; the old refresh token comes back.
    f.expect(
        Req::new("PUT", "/api/users/me/password")
            .bearer(Some(&b_access))
            .json(&json!({ "current_password": pw1, "new_password": pw2 })),
        204,
    );
    let (c_access, _) = f.login(
        json!({ "email": email, "password": pw2 }),
        "after the change",
    );
    f.expect(
        Req::new("POST", "/api/auth/refresh").json(&json!({ "refresh_token": a_refresh })),
        401,
    );
    f.expect(
        Req::new("POST", "/api/auth/logout").bearer(Some(&c_access)),
        204,
    );

    // The second factor: enrol, sign in with a code and with a backup code, a wrong one.
    let (m_access, _) = f.login(json!({ "username": username, "password": pw2 }), "enrol");
    let e = f.expect(
        Req::new("POST", "/api/users/me/mfa/totp")
            .bearer(Some(&m_access))
            .json(&json!({ "password": pw2 })),
        200,
    );
    let totp = e["secret"].as_str().unwrap_or_default().to_owned();
    f.secret("the TOTP secret", &totp);
    let step = strata_e2e::totp::current_step();
    let first = strata_e2e::totp::code_at(&totp, step);
    f.secret("the confirm's code", &first);
    let codes = f.expect(
        Req::new("POST", "/api/users/me/mfa/totp/confirm")
            .bearer(Some(&m_access))
            .json(&json!({ "code": first })),
        200,
    );
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    for (n, c) in codes.iter().enumerate() {
        f.secret(&format!("backup code {n}"), c);
        f.secret(&format!("backup code {n}, undashed"), &c.replace('-', ""));
    }
    let challenge = |f: &mut Flow, what: &str| {
        let r = f.expect(
            Req::new("POST", "/api/auth/login")
                .json(&json!({ "username": username, "password": pw2 })),
            403,
        );
        let token = r["mfa_token"].as_str().unwrap_or_default().to_owned();
        f.secret(what, &token);
        token
    };
    let mfa1 = challenge(&mut f, "an mfa_token");
    f.expect(
        Req::new("POST", "/api/auth/mfa").json(&json!({ "mfa_token": mfa1, "code": "000000" })),
        401,
    );
    let next = strata_e2e::totp::code_at(&totp, step + 1);
    f.secret("a sign-in code", &next);
    let t = f.expect(
        Req::new("POST", "/api/auth/mfa").json(&json!({ "mfa_token": mfa1, "code": next })),
        200,
    );
    f.tokens(&t, "second factor");
    let mfa2 = challenge(&mut f, "another mfa_token");
    let t = f.expect(
        Req::new("POST", "/api/auth/mfa").json(&json!({ "mfa_token": mfa2, "code": codes[0] })),
        200,
    );
    f.tokens(&t, "backup code");

    // Delete the account.
    let mfa3 = challenge(&mut f, "the last mfa_token");
    let t = f.expect(
        Req::new("POST", "/api/auth/mfa").json(&json!({ "mfa_token": mfa3, "code": codes[1] })),
        200,
    );
    let (d_access, _) = f.tokens(&t, "last");
    f.expect(
        Req::new("DELETE", "/api/users/me")
            .bearer(Some(&d_access))
            .json(&json!({ "password": pw2 })),
        204,
    );

    process.terminate();
    let status = process.wait_exit(Duration::from_secs(30));
    assert!(status.is_some(), "the api did not exit after SIGTERM");
    let log = process.log_text();
    let _ = std::fs::remove_dir_all(&mail_dir);

    // The log is there and covers the flow (or the check below proves nothing).
    let lines = log.lines().count();
    for event in [
        "user registered",
        "login",
        "password changed",
        "account deleted",
        "mail written",
        "email address verified",
        "second factor turned on",
        "second factor proven",
    ] {
        assert!(
            log.contains(event),
            "no {event:?} line in the log ({lines} lines)"
        );
    }
    assert!(
        log.contains(r#""level":"DEBUG""#),
        "RUST_LOG=debug did not take effect: no DEBUG line in {lines} lines"
    );
    let mut leaks = Vec::new();
    for (what, value) in &f.secrets {
        for (n, line) in log.lines().enumerate() {
            if line.contains(value.as_str()) {
                leaks.push(format!(
                    "{what} on line {}: {}",
                    n + 1,
                    client::shorten(line.as_bytes())
                ));
            }
        }
    }
    for hash_prefix in ["$2b$", "$2a$", "$2y$"] {
        for (n, line) in log.lines().enumerate() {
            if line.contains(hash_prefix) {
                leaks.push(format!(
                    "a bcrypt hash ({hash_prefix}) on line {}: {}",
                    n + 1,
                    client::shorten(line.as_bytes())
                ));
            }
        }
    }
    println!(
        "    {lines} log lines checked for {} secrets",
        f.secrets.len() + 3
    );
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}
