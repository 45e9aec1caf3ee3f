//! Values that are valid but hostile: they must be accepted, stored and returned exactly
//! (text with `<script>` in every collection, in `round_trip`; passwords with SQL), and a
//! forged cursor must not leak another user's items.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::round_trip;
use crate::spec::Ty;
use crate::table::HOSTILE;
use crate::world::{account, account_with, login, suffix};
use crate::{Case, Ctx, Req, Resp};

pub const CASES: &[Case] = testkit::cases![
    round_trip::hostile_text_is_stored_and_returned_exactly_in_every_collection,
    hostile_but_valid_emails_and_passwords_work_exactly_as_given,
    a_hostile_new_password_works_after_a_change,
    another_users_item_id_as_cursor_never_leaks_their_items,
    bearer_in_any_case_with_extra_spaces_is_accepted,
];

/// Sends a valid-but-hostile request (counted) and returns the answer.
pub fn send(ctx: &Ctx, req: Req) -> (Req, Resp) {
    ctx.hostile_ok.fetch_add(1, Ordering::Relaxed);
    let r = ctx.send(&req);
    (req, r)
}

/// Sends a valid-but-hostile request (counted), asserts a JSON answer with this status;
/// returns the body.
pub fn expect(ctx: &Ctx, req: Req, status: u16) -> Value {
    let (req, r) = send(ctx, req);
    assert_eq!(
        (r.status, r.media_type().as_str()),
        (status, "application/json"),
        "{}: {}",
        req.what,
        r.text()
    );
    r.json()
}

/// Emails with quotes and markup, and passwords with SQL, markup and NUL, register and
/// log in exactly as given, and nothing else logs in.
fn hostile_but_valid_emails_and_passwords_work_exactly_as_given(ctx: &Ctx) {
    let mut passwords: Vec<String> = HOSTILE
        .iter()
        .filter(|h| h.chars().count() >= 8 && h.len() <= 72)
        .map(|h| (*h).to_owned())
        .collect();
    passwords.push("pass\u{0}word".into());
    passwords.push("\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}".into());
    passwords.push("😀😀 \u{202e} 😀😀😀".into());
    let locals = [
        "o'brien+<script>",
        "';drop-table-users;--",
        "<img/src=x/onerror=alert(1)>",
        "%27%20or%201%3d1",
        "${jndi:ldap}",
        "{{7*7}}",
        "\"quoted\"",
        "back\\slash",
    ];
    let mut failures = Vec::new();
    for (n, password) in passwords.iter().enumerate() {
        let s = suffix();
        let username = format!("x--{s}");
        let local = locals[n % locals.len()];
        let email = format!("{local}.{s}@Example.COM");
        let (req, r) = send(
            ctx,
            Req::new("POST", "/api/auth/register")
                .json(&json!({ "username": username, "email": email, "password": password })),
        );
        if r.status != 201 {
            failures.push(format!("{}: {} {}", req.what, r.status, r.text()));
            continue;
        }
        let user = r.json();
        if user["email"] != email.to_lowercase().as_str() || user["username"] != username.as_str() {
            failures.push(format!("register {email:?}: stored as {user}"));
        }
        for body in [
            json!({ "username": username, "password": password }),
            json!({ "email": email, "password": password }),
            json!({ "username": email.to_uppercase(), "password": password }),
        ] {
            let (req, r) = send(ctx, Req::new("POST", "/api/auth/login").json(&body));
            if r.status != 200 {
                failures.push(format!("{} {body}: {} {}", req.what, r.status, r.text()));
            }
        }
        // Near misses of the password never log in.
        let mut near = vec![
            format!("{password}x"),
            password.to_uppercase(),
            password.trim().to_owned(),
            password.split('\0').next().unwrap_or("").to_owned(),
        ];
        near.retain(|p| p != password && !p.is_empty());
        for wrong in near {
            let body = json!({ "username": username, "password": wrong });
            let (req, r) = send(ctx, Req::new("POST", "/api/auth/login").json(&body));
            if r.status != 401 {
                failures.push(format!("{} {body}: {} {}", req.what, r.status, r.text()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn a_hostile_new_password_works_after_a_change(ctx: &Ctx) {
    let s = suffix();
    let (username, email) = (format!("np_{s}"), format!("np.{s}@example.com"));
    let mut current = format!("first password {s}");
    let a = account_with(ctx, &username, &email, &current);
    let mut access = a.access.clone();
    for h in HOSTILE.iter().filter(|h| (8..=72).contains(&h.len())) {
        let (req, r) = send(
            ctx,
            Req::new("PUT", "/api/users/me/password")
                .bearer(Some(&access))
                .json(&json!({ "current_password": current, "new_password": h })),
        );
        assert_eq!(r.status, 204, "{}: {}", req.what, r.text());
        let tokens = login(ctx, &username, h);
        access = tokens["access_token"].as_str().unwrap().to_owned();
        let old = ctx.send(
            &Req::new("POST", "/api/auth/login")
                .json(&json!({ "username": username, "password": current })),
        );
        assert_eq!(
            old.status,
            401,
            "the old password still works: {}",
            old.text()
        );
        current = (*h).to_owned();
    }
}

/// In every collection with a keyset list: another user's item ids, spoiled or not, and
/// made-up ones as the cursor, alone or with each filter and page size, list only the
/// caller's own items.
fn another_users_item_id_as_cursor_never_leaks_their_items(ctx: &Ctx) {
    let me = account(ctx, 3);
    let other = account(ctx, 3);
    let resources = ctx.api.resources();
    let lists: Vec<_> = resources
        .iter()
        .filter_map(|r| r.list.filter(|l| l.paged()).map(|l| (r, l)))
        .collect();
    assert!(!lists.is_empty(), "the document lists no paged collection");
    let mut failures = Vec::new();
    for (r, list) in lists {
        // Interleave more items so the two users' ids alternate in time.
        let mut mine = me.items(&r.path).to_vec();
        for i in 0..3 {
            let mut body = r.create.example_body();
            for f in r.create.body.iter().flatten().filter(|f| f.ty == Ty::Bool) {
                body.insert(f.name.clone(), json!(i % 2 == 0));
            }
            for (who, list) in [(&me, Some(&mut mine)), (&other, None)] {
                let t = ctx.send(
                    &Req::new("POST", r.path.clone())
                        .bearer(Some(&who.access))
                        .json(&Value::Object(body.clone())),
                );
                assert_eq!(t.status, 201, "POST {}: {}", r.path, t.text());
                if let Some(l) = list {
                    l.push(t.json()["id"].as_str().unwrap().to_owned());
                }
            }
        }
        let theirs = other.items(&r.path);
        let mut cursors: Vec<String> = theirs.to_vec();
        cursors.push(theirs[0].to_uppercase());
        cursors.push(theirs[0].replace('-', ""));
        cursors.push("00000000-0000-0000-0000-000000000000".into());
        cursors.push("ffffffff-ffff-ffff-ffff-ffffffffffff".into());
        cursors.push(other.id.clone());
        // Alone, with each boolean filter either way, at the smallest and largest page.
        let mut extras = vec![String::new()];
        for q in list.query.iter().filter(|q| q.ty == Ty::Bool) {
            extras.push(format!("&{}=true", q.name));
            extras.push(format!("&{}=false", q.name));
        }
        if let Some(limit) = list.param("limit") {
            extras.push(format!("&limit={}", limit.minimum.unwrap_or(1)));
            extras.push(format!("&limit={}", limit.maximum.unwrap_or(100)));
        }
        for c in &cursors {
            for extra in &extras {
                let path = format!("{}?cursor={c}{extra}", list.path);
                let page = expect(
                    ctx,
                    Req::new("GET", path.clone()).bearer(Some(&me.access)),
                    200,
                );
                for item in page["items"].as_array().into_iter().flatten() {
                    let id = item["id"].as_str().unwrap_or_default();
                    if !mine.iter().any(|m| m == id) {
                        failures.push(format!(
                            "GET {path} leaked an item that is not the caller's: {item}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn bearer_in_any_case_with_extra_spaces_is_accepted(ctx: &Ctx) {
    let a = account(ctx, 0);
    for value in [
        format!("bearer {}", a.access),
        format!("BEARER {}", a.access),
        format!("BeArEr {}", a.access),
        format!("Bearer     {}", a.access),
        format!("Bearer {}   ", a.access),
        format!("   Bearer {}", a.access),
    ] {
        let me = expect(
            ctx,
            Req::new("GET", "/api/users/me").header("Authorization", value.into_bytes()),
            200,
        );
        assert_eq!(me["id"], a.id.as_str());
    }
}
