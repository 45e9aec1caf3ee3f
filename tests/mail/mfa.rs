//! The second factor and mail: turning it on and off mails a notice; a password reset by
//! mail keeps it on; and the database holds neither the TOTP secret nor a backup code in
//! clear.

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{json, Value};
use strata_e2e::totp::{code_at, current_step};

use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    turning_the_second_factor_on_and_off_mails_a_notice_each_time,
    a_password_reset_by_mail_keeps_the_second_factor,
    the_database_holds_neither_the_secret_nor_a_backup_code_in_clear,
];

/// An account with the second factor on: (name, email, password, secret, codes, step spent).
fn enrolled(ctx: &Ctx) -> (String, String, String, String, Vec<String>, u64) {
    let (name, email, password) = ctx.register();
    ctx.verify(&email);
    let access = ctx.login(&name, &password).unwrap();
    let r = ctx.send(
        "POST",
        "/api/users/me/mfa/totp",
        Some(&access),
        Some(json!({ "password": password })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let step = current_step();
    let r = ctx.send(
        "POST",
        "/api/users/me/mfa/totp/confirm",
        Some(&access),
        Some(json!({ "code": code_at(&secret, step) })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let codes = strings(&r.body["recovery_codes"]);
    (name, email, password, secret, codes, step)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// Logs in with the right password: the 403's `mfa_token`.
fn challenge(ctx: &Ctx, name: &str, password: &str) -> String {
    let r = ctx.login(name, password).unwrap_err();
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("mfa_required"))
    );
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

fn turning_the_second_factor_on_and_off_mails_a_notice_each_time(ctx: &Ctx) {
    let (name, email, password, _, codes, _) = enrolled(ctx);
    let on = ctx.mail(&email, "Two-step sign-in is now on");
    assert!(!on.contains("token="), "{on}");
    assert!(
        codes.iter().all(|c| !on.contains(c.as_str())),
        "no code is mailed"
    );
    let token = challenge(ctx, &name, &password);
    let r = ctx.send(
        "POST",
        "/api/auth/mfa",
        None,
        Some(json!({ "mfa_token": token, "code": codes[0] })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    let r = ctx.send(
        "DELETE",
        "/api/users/me/mfa/totp",
        Some(&access),
        Some(json!({ "password": password, "code": codes[1] })),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    ctx.mail(&email, "was turned off");
}

fn a_password_reset_by_mail_keeps_the_second_factor(ctx: &Ctx) {
    let (name, email, _, secret, _, step) = enrolled(ctx);
    let new = "a password after the reset";
    ctx.reset_by_mail_on(&ctx.app, &email, new);
    // The new password alone does not sign in: the second factor is still asked for.
    let mfa = challenge(ctx, &name, new);
    let r = ctx.send(
        "POST",
        "/api/auth/mfa",
        None,
        Some(json!({ "mfa_token": mfa, "code": code_at(&secret, step + 1) })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Text)]
    v: String,
}

fn the_database_holds_neither_the_secret_nor_a_backup_code_in_clear(ctx: &Ctx) {
    let (name, _, _, secret, codes, _) = enrolled(ctx);
    let sql = format!(
        "SELECT COALESCE(totp_secret, '') AS v FROM users WHERE username = '{name}' \
         UNION ALL SELECT COALESCE(totp_pending, '') AS v FROM users WHERE username = '{name}' \
         UNION ALL SELECT code_hash AS v FROM recovery_codes \
         UNION ALL SELECT params AS v FROM mail_outbox"
    );
    let cells: Vec<String> = ctx
        .rt
        .block_on(ctx.database.run(move |conn| {
            let rows: Vec<Cell> =
                db::on_backend!(conn, |c| diesel::sql_query(sql.as_str()).load::<Cell>(c))?;
            Ok(rows.into_iter().map(|r| r.v).collect())
        }))
        .unwrap();
    assert!(!cells[0].is_empty(), "the sealed secret is stored");
    let raw = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let lower = secret.to_lowercase();
    for c in &cells {
        assert!(
            !c.contains(&secret) && !c.to_lowercase().contains(&lower),
            "secret in clear: {c}"
        );
        assert!(!c.contains(&hex::encode(&raw)), "secret as hex: {c}");
        for code in &codes {
            assert!(
                !c.contains(code.as_str()) && !c.contains(&code.replace('-', "")),
                "code in clear: {c}"
            );
        }
    }
    // What is stored of a code is its SHA-256.
    use sha2::{Digest, Sha256};
    let first = hex::encode(Sha256::digest(codes[0].replace('-', "").as_bytes()));
    assert!(
        cells.iter().any(|c| c.trim() == first),
        "a code's hash is among the cells"
    );
}
