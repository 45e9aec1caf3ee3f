//! Values that are valid but hostile: they must be accepted, stored and returned exactly
//! (titles with `<script>`, passwords with SQL), and a forged cursor must not leak another
//! user's tasks.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::table::HOSTILE;
use crate::world::{account, account_with, login, suffix};
use crate::{Case, Ctx, Req, Resp};

pub const CASES: &[Case] = testkit::cases![
    hostile_titles_and_descriptions_are_stored_and_returned_exactly,
    hostile_but_valid_emails_and_passwords_work_exactly_as_given,
    a_hostile_new_password_works_after_a_change,
    another_users_task_id_as_cursor_never_leaks_their_tasks,
    bearer_in_any_case_with_extra_spaces_is_accepted,
];

/// Sends a valid-but-hostile request (counted) and returns the answer.
fn send(ctx: &Ctx, req: Req) -> (Req, Resp) {
    ctx.hostile_ok.fetch_add(1, Ordering::Relaxed);
    let r = ctx.send(&req);
    (req, r)
}

/// Asserts a 2xx JSON answer with this status; returns the body.
fn expect(ctx: &Ctx, req: Req, status: u16) -> Value {
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

/// Text that is valid where any text is, but hostile to some layer: the metacharacters,
/// right-to-left overrides, zero-width and byte-order marks, astral characters at the
/// length limits (200 for a title, 2000 for a description, as characters not bytes).
fn hostile_texts() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = HOSTILE
        .iter()
        .map(|h| ((*h).to_owned(), (*h).to_owned()))
        .collect();
    v.push(("\u{202e}gnp.exe".into(), "\u{202e}\u{200b}\u{feff}".into()));
    v.push((
        "e\u{301}\u{301}\u{301}".into(),
        "Z\u{351}\u{34b}\u{363}".into(),
    ));
    v.push(("😀".repeat(200), "😀".repeat(2000)));
    v.push(("𝕏".repeat(200), "\u{10ffff}".repeat(2000)));
    v.push(("x".repeat(200), "\\\"'`".repeat(500)));
    v.push(("line\nbreak\ttab".into(), "\r\n\r\n".into()));
    v
}

/// Whether the answer is the field's own 422 (allowed for NUL, which not every database
/// can store in text); anything else that is not a success fails.
fn refused_by_field(r: &Resp, field: &str) -> bool {
    let b = r.json();
    r.status == 422
        && r.media_type() == "application/problem+json"
        && b["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == field))
}

fn hostile_titles_and_descriptions_are_stored_and_returned_exactly(ctx: &Ctx) {
    let a = account(ctx, 0);
    let t = Some(a.access.as_str());
    let mut failures = Vec::new();
    let mut ids = Vec::new();
    for (title, description) in hostile_texts() {
        let body = json!({ "title": title, "description": description });
        let what = format!("POST /api/tasks {body}");
        let (req, r) = send(
            ctx,
            Req::new("POST", "/api/tasks")
                .bearer(t)
                .json(&body)
                .what(what),
        );
        if title.contains('\0') && refused_by_field(&r, "title") {
            continue;
        }
        if r.status != 201 {
            failures.push(format!("{}: {} {}", req.what, r.status, r.text()));
            continue;
        }
        let created = r.json();
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let fetched = expect(
            ctx,
            Req::new("GET", format!("/api/tasks/{id}")).bearer(t),
            200,
        );
        for (what, got) in [("created", &created), ("fetched", &fetched)] {
            if got["title"] != title.as_str() || got["description"] != description.as_str() {
                failures.push(format!("{what} task differs: sent {body}, got {got}"));
            }
        }
        ids.push((id, title, description));
    }
    // The list shows each exactly as well.
    let page = expect(ctx, Req::new("GET", "/api/tasks?limit=100").bearer(t), 200);
    for (id, title, description) in &ids {
        let item = page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["id"] == id.as_str()));
        match item {
            Some(i) if i["title"] == title.as_str() && i["description"] == description.as_str() => {
            }
            other => failures.push(format!("listed task {id} differs: {other:?}")),
        }
    }
    // PATCH with hostile values, each title moved to the next task.
    for (n, (id, _, _)) in ids.iter().enumerate() {
        let title = &ids[(n + 1) % ids.len()].1;
        let new_desc = format!("{title} / {}", HOSTILE[n % HOSTILE.len()]);
        let body = json!({ "title": title, "description": new_desc });
        let what = format!("PATCH /api/tasks/{id} {body}");
        let (req, r) = send(
            ctx,
            Req::new("PATCH", format!("/api/tasks/{id}"))
                .bearer(t)
                .json(&body)
                .what(what),
        );
        if new_desc.contains('\0') && refused_by_field(&r, "description") {
            continue;
        }
        let got = r.json();
        if r.status != 200
            || got["title"] != title.as_str()
            || got["description"] != new_desc.as_str()
        {
            failures.push(format!("{}: {} {}", req.what, r.status, r.text()));
        }
    }
    // Surrounding white space is trimmed from a title (documented); the rest is kept.
    let body = json!({ "title": "  <b>bold</b> ' OR 1=1 --\t", "description": "  kept  " });
    let got = expect(
        ctx,
        Req::new("POST", "/api/tasks").bearer(t).json(&body),
        201,
    );
    assert_eq!(got["title"], "<b>bold</b> ' OR 1=1 --");
    assert_eq!(got["description"], "  kept  ");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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

fn another_users_task_id_as_cursor_never_leaks_their_tasks(ctx: &Ctx) {
    let me = account(ctx, 3);
    let other = account(ctx, 3);
    // Interleave more tasks so the two users' ids alternate in time.
    let mut mine = me.items("/api/tasks").to_vec();
    for i in 0..3 {
        for (who, list) in [(&me, Some(&mut mine)), (&other, None)] {
            let t = ctx.send(
                &Req::new("POST", "/api/tasks")
                    .bearer(Some(&who.access))
                    .json(&json!({ "title": format!("interleaved {i}"), "done": i % 2 == 0 })),
            );
            assert_eq!(t.status, 201);
            if let Some(l) = list {
                l.push(t.json()["id"].as_str().unwrap().to_owned());
            }
        }
    }
    let theirs = other.items("/api/tasks");
    let mut cursors: Vec<String> = theirs.to_vec();
    cursors.push(theirs[0].to_uppercase());
    cursors.push(theirs[0].replace('-', ""));
    cursors.push("00000000-0000-0000-0000-000000000000".into());
    cursors.push("ffffffff-ffff-ffff-ffff-ffffffffffff".into());
    cursors.push(other.id.clone());
    let mut failures = Vec::new();
    for c in &cursors {
        for extra in ["", "&done=true", "&done=false", "&limit=1", "&limit=100"] {
            let path = format!("/api/tasks?cursor={c}{extra}");
            let page = expect(
                ctx,
                Req::new("GET", path.clone()).bearer(Some(&me.access)),
                200,
            );
            for item in page["items"].as_array().into_iter().flatten() {
                let id = item["id"].as_str().unwrap_or_default();
                if !mine.iter().any(|m| m == id) {
                    failures.push(format!(
                        "GET {path} leaked a task that is not the caller's: {item}"
                    ));
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
