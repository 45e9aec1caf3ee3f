//! What the database holds of a mailed token: its SHA-256 only. Every text the token and
//! outbox tables hold is read back and searched for the tokens the mails carried.

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::json;
use sha2::{Digest, Sha256};

use std::time::Duration;

use strata_e2e::TestApp;

use crate::{token_in, Case, Ctx};

pub const CASES: &[Case] = testkit::cases![the_database_holds_a_mailed_token_only_as_its_hash];

#[derive(QueryableByName)]
struct Cell {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Every text cell of `one_time_tokens` and `mail_outbox`, and how many rows still hold a
/// sealed token.
fn cells(ctx: &Ctx, database: &db::Database) -> (Vec<String>, usize) {
    let sql = "SELECT token_hash AS v FROM one_time_tokens \
        UNION ALL SELECT email AS v FROM one_time_tokens \
        UNION ALL SELECT kind AS v FROM one_time_tokens \
        UNION ALL SELECT params AS v FROM mail_outbox \
        UNION ALL SELECT COALESCE(sealed_token, '') AS v FROM mail_outbox \
        UNION ALL SELECT COALESCE(last_error, '') AS v FROM mail_outbox";
    let sealed = "SELECT sealed_token AS v FROM mail_outbox WHERE sealed_token IS NOT NULL";
    ctx.rt
        .block_on(database.run(move |conn| {
            // The count first: rows only come while SMTP is down, so the cells read after
            // it hold at least the rows it counted.
            let held: Vec<Cell> =
                db::on_backend!(conn, |c| diesel::sql_query(sealed).load::<Cell>(c))?;
            let rows: Vec<Cell> =
                db::on_backend!(conn, |c| diesel::sql_query(sql).load::<Cell>(c))?;
            Ok((rows.into_iter().map(|r| r.v).collect(), held.len()))
        }))
        .unwrap()
}

/// Asserts the token is nowhere in `all` and its SHA-256 is.
fn only_hashed(all: &[String], what: &str, token: &str) {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    assert!(
        all.iter().any(|c| c.trim() == hash),
        "the {what} token {token}'s hash {hash} is not among the {} cells: {all:?}",
        all.len()
    );
    let found: Vec<&String> = all.iter().filter(|c| c.contains(token)).collect();
    assert!(
        found.is_empty(),
        "the {what} token is stored in clear: {found:?}"
    );
}

/// With SMTP down the mails wait in the outbox, carrying their tokens: the database is read
/// then, and again once they are sent.
fn the_database_holds_a_mailed_token_only_as_its_hash(ctx: &Ctx) {
    let (backing, mut smtp, env) = crate::isolated(ctx);
    let app = TestApp::spawn(&env).unwrap();
    let database = db::init_db(&backing.database.url(), db::PoolOptions::default()).unwrap();
    let (_, email, _) = ctx.register_on(&app.address);
    let r = ctx.send_to(
        &app.address,
        "POST",
        "/api/auth/password-reset",
        None,
        Some(json!({ "email": email })),
    );
    assert_eq!(r.status, 202);
    let start = std::time::Instant::now();
    let (pending, held) = loop {
        let (all, held) = cells(ctx, &database);
        if held >= 2 || start.elapsed() > Duration::from_secs(10) {
            break (all, held);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(held, 2, "both mails wait with their sealed tokens");
    smtp.restart().unwrap();
    let mails = smtp.wait_for(&email, 2);
    assert_eq!(mails.len(), 2);
    // The server has the mails a moment before the worker marks their rows sent.
    let start = std::time::Instant::now();
    let sent = loop {
        let sent = cells(ctx, &database);
        if sent.1 == 0 || start.elapsed() > Duration::from_secs(10) {
            break sent;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for m in &mails {
        let token = token_in(m);
        only_hashed(&pending, "waiting", &token);
        only_hashed(&sent.0, "sent", &token);
    }
    assert_eq!(sent.1, 0, "a sent mail still holds its sealed token");
}

/// The outbox rows to `to`: kind, attempts, sent, failed, lease, last error.
pub fn outbox_of(ctx: &Ctx, to: &str) -> Vec<String> {
    let sql = format!(
        "SELECT CONCAT(kind, ' attempts=', attempts, ' sent=', COALESCE(CAST(sent_at AS CHAR(40)), '-'), \
         ' lease=', COALESCE(lease_owner, '-'), ' err=', COALESCE(last_error, '-')) AS v FROM mail_outbox WHERE recipient = '{to}'"
    );
    ctx.rt
        .block_on(ctx.database.run(move |conn| {
            let rows: Vec<Cell> =
                db::on_backend!(conn, |c| diesel::sql_query(sql.as_str()).load::<Cell>(c))?;
            Ok(rows.into_iter().map(|r| r.v).collect())
        }))
        .unwrap_or_else(|e| vec![e.to_string()])
}

/// The kinds of the outbox rows to `to`, oldest first: what strata chose to send there.
/// A request that mails writes its rows before it answers (resets and resends, just after).
pub fn queued_kinds(ctx: &Ctx, to: &str) -> Vec<String> {
    // The tests' addresses are their own plain ASCII, safe to inline as outbox_of does.
    assert!(!to.contains('\''), "{to}");
    let sql = format!("SELECT kind AS v FROM mail_outbox WHERE recipient = '{to}' ORDER BY id");
    ctx.rt
        .block_on(ctx.database.run(move |conn| {
            let rows: Vec<Cell> =
                db::on_backend!(conn, |c| diesel::sql_query(sql.as_str()).load::<Cell>(c))?;
            Ok(rows.into_iter().map(|r| r.v).collect())
        }))
        .unwrap()
}
