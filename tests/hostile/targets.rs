//! Bad values everywhere else: sql_and_script_metacharacters_where_they_are_invalid_are_refused in every field, query strings, paths,
//! Authorization headers, and passwords past bcrypt's 72 bytes.

use serde_json::{json, Value};

use crate::table::{routes, HOSTILE};
use crate::world::{invalid, run_table, Expect, World};
use crate::{pct, Ctx, Req};

pub fn sql_and_script_metacharacters_where_they_are_invalid_are_refused(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        for (field, _) in &r.fields {
            for h in HOSTILE {
                if let Some(expect) = r.string_expect(field, h) {
                    table.push((r.set(field, json!(h)), expect));
                }
            }
        }
        // In member names.
        for h in HOSTILE {
            table.push((r.set(h, json!("x")), invalid(h)));
        }
    }
    let access = Some(w.me.access.as_str());
    for h in HOSTILE {
        for param in ["limit", "cursor", "done"] {
            let path = format!("/api/tasks?{param}={}", pct(h));
            let what = format!("GET {path}");
            table.push((
                Req::new("GET", path).bearer(access).what(what),
                invalid(param),
            ));
        }
        for (method, path) in [
            ("GET", format!("/api/tasks/{}", pct(h))),
            ("DELETE", format!("/api/tasks/{}", pct(h))),
            ("GET", format!("/api/users/{}", pct(h))),
            ("DELETE", format!("/api/auth/sessions/{}", pct(h))),
        ] {
            table.push((
                Req::new(method, path).bearer(access),
                Expect::Problem(404, "not_found"),
            ));
        }
        table.push((
            Req::new("PATCH", format!("/api/tasks/{}", pct(h)))
                .bearer(access)
                .json(&json!({ "title": "hijacked" })),
            Expect::Problem(404, "not_found"),
        ));
        // A control byte cannot be in a header at all: that is refused below the app.
        let expect = if h.bytes().any(|b| b < 0x20) {
            Expect::Protocol
        } else {
            Expect::Problem(401, "token_invalid")
        };
        table.push((
            Req::new("GET", "/api/users/me")
                .header("Authorization", format!("Bearer {h}").into_bytes())
                .what(format!("GET /api/users/me: Authorization Bearer {h:?}")),
            expect,
        ));
    }
    run_table(ctx, "metachars", &w, table);
}

pub fn out_of_range_limits_forged_cursors_and_repeated_parameters_are_422(ctx: &Ctx) {
    let w = World::new(ctx);
    let access = Some(w.me.access.as_str());
    let mut table = Vec::new();
    let random: Vec<String> = (0..5)
        .map(|_| {
            let n = rand::random_range(1..60);
            (0..n)
                .map(|_| char::from(rand::random_range(b'!'..=b'~')))
                .collect::<String>()
        })
        .collect();
    let get = |query: &str, expect: Expect| {
        let path = format!("/api/tasks?{query}");
        (Req::new("GET", path).bearer(access), expect)
    };
    let long_digits = "9".repeat(400);
    for limit in [
        "0",
        "-1",
        "101",
        "1000",
        "1e9",
        "1000000000",
        "4294967296",
        "4294967297",
        "18446744073709551616",
        &long_digits,
        "",
        "%20",
        "5%20",
        "%205",
        "5abc",
        "0x10",
        "1.5",
        "5.0",
        "NaN",
        "Infinity",
        "-0",
        "%D9%A1%D9%A2",
        "%EF%BC%95",
        "%FF",
        "5%00",
        "five",
        "null",
        "[5]",
    ] {
        table.push(get(&format!("limit={limit}"), invalid("limit")));
    }
    let other_task = w.other.tasks[0].clone();
    let long_cursor = "a".repeat(10_000);
    for cursor in [
        "x",
        "%27%20OR%201%3D1%20--",
        "1",
        "-1",
        "00000000-0000-0000-0000-00000000000",
        "00000000-0000-0000-0000-0000000000000",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        &long_cursor,
        "%00",
        "%FF",
        "null",
        &format!("{other_task}%00"),
        &format!("{other_task}'--"),
        &format!("{other_task}%20OR%201%3D1"),
    ] {
        table.push(get(&format!("cursor={cursor}"), invalid("cursor")));
    }
    for cursor in &random {
        table.push(get(&format!("cursor={}", pct(cursor)), invalid("cursor")));
    }
    for done in [
        "TRUE", "True", "1", "0", "yes", "", "null", "%00", "true%00", "truee",
    ] {
        table.push(get(&format!("done={done}"), invalid("done")));
    }
    let repeated = Expect::Problem(422, "validation_failed");
    for query in [
        "limit=5&limit=6",
        "limit=5&limit=5",
        "cursor=a&cursor=b",
        &format!("cursor={other_task}&cursor={other_task}"),
        "done=true&done=false",
        "done=true&done=true",
        "limit=1&done=true&limit=100",
    ] {
        table.push(get(query, repeated.clone()));
    }
    run_table(ctx, "query", &w, table);
}

pub fn invalid_and_foreign_ids_in_paths_are_404(ctx: &Ctx) {
    let w = World::new(ctx);
    let access = Some(w.me.access.as_str());
    let mine = w.me.tasks[0].clone();
    let theirs = w.other.tasks[0].clone();
    let ids: Vec<String> = vec![
        "..%2F..%2Fusers%2Fme".into(),
        "..%2f".into(),
        "%2e%2e".into(),
        "%2E%2E%2F%2E%2E%2F".into(),
        format!("{mine}%2F.."),
        format!("{mine}%00"),
        format!("{mine}%20"),
        format!("%20{mine}"),
        format!("{mine}x"),
        format!("{mine},{theirs}"),
        "a".repeat(10_000),
        "a".repeat(60_000),
        pct("ταυ"),
        pct("😀"),
        "%FF%FE".into(),
        "%00".into(),
        pct("' OR 1=1 --"),
        pct("1 OR 1=1"),
        "00000000-0000-0000-0000-000000000000".into(),
        "0".into(),
        "-1".into(),
        // Another user's task, as it is and in other spellings of the same UUID.
        theirs.clone(),
        theirs.to_uppercase(),
        pct(&format!("{{{theirs}}}")),
        theirs.replace('-', ""),
        pct(&format!("urn:uuid:{theirs}")),
    ];
    let not_found = Expect::Problem(404, "not_found");
    let mut table = Vec::new();
    for id in &ids {
        table.push((
            Req::new("GET", format!("/api/tasks/{id}")).bearer(access),
            not_found.clone(),
        ));
        table.push((
            Req::new("PATCH", format!("/api/tasks/{id}"))
                .bearer(access)
                .json(&json!({ "title": "hijacked", "done": true })),
            not_found.clone(),
        ));
        table.push((
            Req::new("DELETE", format!("/api/tasks/{id}")).bearer(access),
            not_found.clone(),
        ));
        table.push((
            Req::new("DELETE", format!("/api/auth/sessions/{id}")).bearer(access),
            not_found.clone(),
        ));
        table.push((
            Req::new("GET", format!("/api/users/{id}")).bearer(access),
            not_found.clone(),
        ));
    }
    // Another user's session, by its id.
    table.push((
        Req::new(
            "DELETE",
            format!("/api/auth/sessions/{}", w.other.session_id),
        )
        .bearer(access),
        not_found.clone(),
    ));
    // Paths the router must not normalise into a route (the victim's task must survive).
    for (method, path) in [
        ("DELETE", format!("/api/tasks/{mine}/..")),
        ("DELETE", format!("/api/tasks/{mine}/")),
        ("DELETE", format!("/api/tasks/./{mine}")),
        ("DELETE", format!("//api/tasks/{mine}")),
        ("DELETE", format!("/api/tasks//{mine}")),
        ("DELETE", format!("/api/x/../tasks/{mine}")),
        ("DELETE", "/api/users/me/..".to_owned()),
        ("GET", "/api/tasks/../users/me".to_owned()),
        ("GET", format!("/api/tasks/{theirs}/../{theirs}")),
    ] {
        table.push((Req::new(method, path).bearer(access), not_found.clone()));
    }
    // Bytes a request target may not hold (RFC 9112: it is ASCII without spaces).
    for target in [
        "/api/tasks/\u{3c4}\u{3b1}\u{3c5}".as_bytes().to_vec(),
        b"/api/tasks/\xff\xfe".to_vec(),
        format!("/api/tasks/{mine} OR 1=1").into_bytes(),
        format!("/api/tasks/{mine}\x00").into_bytes(),
    ] {
        table.push((Req::new("DELETE", target).bearer(access), Expect::Protocol));
    }
    run_table(ctx, "paths", &w, table);
}

pub fn hostile_authorization_headers_are_401(ctx: &Ctx) {
    let w = World::new(ctx);
    let me = &w.me;
    let token = me.access.clone();
    let flipped = {
        let mut b = w.other.access.clone().into_bytes();
        let i = b.len() - 5;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let alg_none = {
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let values: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), b"".to_vec()),
        ("Bearer".into(), b"Bearer".to_vec()),
        (
            "Bearer and 50 spaces".into(),
            format!("Bearer{}", " ".repeat(50)).into_bytes(),
        ),
        ("Bearer and tabs".into(), b"Bearer \t\t".to_vec()),
        ("non-ASCII bytes".into(), b"Bearer \xff\xfe\xfd".to_vec()),
        (
            "token then 0xff".into(),
            [format!("Bearer {token}").as_bytes(), b"\xff"].concat(),
        ),
        (
            "non-ASCII scheme".into(),
            format!("B\u{eb}arer {token}").into_bytes(),
        ),
        (
            "tab instead of space".into(),
            format!("Bearer\t{token}").into_bytes(),
        ),
        ("Basic".into(), b"Basic dXNlcjpwYXNzd29yZA==".to_vec()),
        ("Token scheme".into(), format!("Token {token}").into_bytes()),
        ("Bearer:".into(), format!("Bearer:{token}").into_bytes()),
        ("Bearer=".into(), format!("Bearer={token}").into_bytes()),
        ("no scheme".into(), token.clone().into_bytes()),
        (
            "refresh token".into(),
            format!("Bearer {}", me.refresh).into_bytes(),
        ),
        (
            "token twice".into(),
            format!("Bearer {token} {token}").into_bytes(),
        ),
        (
            "token, comma, token".into(),
            format!("Bearer {token},Bearer {token}").into_bytes(),
        ),
        (
            "token cut short".into(),
            format!("Bearer {}", &token[..token.len() - 1]).into_bytes(),
        ),
        (
            "token without dots".into(),
            format!("Bearer {}", token.replace('.', "")).into_bytes(),
        ),
        (
            "token quoted".into(),
            format!("Bearer \"{token}\"").into_bytes(),
        ),
        (
            "one byte flipped".into(),
            format!("Bearer {flipped}").into_bytes(),
        ),
        ("alg none".into(), format!("Bearer {alg_none}").into_bytes()),
        (
            "8 KiB token".into(),
            format!("Bearer {}", "a".repeat(8192)).into_bytes(),
        ),
        (
            "64 KiB token".into(),
            format!("Bearer {}", "a".repeat(64 * 1024)).into_bytes(),
        ),
        ("SQL".into(), b"Bearer ' OR 1=1 --".to_vec()),
        ("%00".into(), b"Bearer %00".to_vec()),
    ];
    let targets: Vec<(&'static str, String, Option<Value>)> = vec![
        ("GET", "/api/users/me".into(), None),
        (
            "POST",
            "/api/tasks".into(),
            Some(json!({ "title": "by a forger" })),
        ),
        ("POST", "/api/auth/logout".into(), None),
        (
            "DELETE",
            "/api/users/me".into(),
            Some(json!({ "password": me.password })),
        ),
        ("DELETE", format!("/api/tasks/{}", me.tasks[0]), None),
    ];
    let mut table = Vec::new();
    for (method, path, body) in &targets {
        let base = || {
            let r = Req::new(method, path.clone());
            match body {
                Some(b) => r.json(b),
                None => r,
            }
        };
        table.push((
            base().what(format!("{method} {path}: no Authorization")),
            Expect::Problem(401, "token_missing"),
        ));
        for (what, value) in &values {
            table.push((
                base()
                    .header("Authorization", value.clone())
                    .what(format!("{method} {path}: Authorization {what}")),
                Expect::Problem(401, "token_invalid"),
            ));
        }
        table.push((
            base()
                .header("Authorization", b"Bearer x".to_vec())
                .header("Authorization", b"Bearer y".to_vec())
                .what(format!("{method} {path}: two bogus Authorization headers")),
            Expect::Problem(401, "token_invalid"),
        ));
    }
    run_table(ctx, "headers", &w, table);
}

/// bcrypt reads at most 72 bytes: a longer password must be refused outright, not
/// compared by its first 72 bytes.
pub fn a_password_past_72_bytes_never_matches_even_with_the_right_prefix(ctx: &Ctx) {
    let mut w = World::new(ctx);
    // The victim, again, with a password of exactly 72 bytes.
    let (u, e, _) = crate::world::fresh_identity();
    let p72: String = format!("{u}-")
        .chars()
        .cycle()
        .take(services::domain::Password::MAX_BYTES)
        .collect();
    w.me = crate::world::account_with(ctx, &u, &e, &p72);
    let me = &w.me;
    let bad = Expect::Problem(401, "invalid_credentials");
    let mut table = Vec::new();
    for extra in ["x", "-", &"y".repeat(100)] {
        let longer = format!("{p72}{extra}");
        table.push((
            Req::new("POST", "/api/auth/login")
                .json(&json!({ "username": me.username, "password": longer }))
                .what(format!("login with the 72-byte password + {extra:.5}")),
            bad.clone(),
        ));
        table.push((
            Req::new("POST", "/api/auth/login")
                .json(&json!({ "email": me.email, "password": longer }))
                .what(format!(
                    "login by email with the 72-byte password + {extra:.5}"
                )),
            bad.clone(),
        ));
        table.push((
            Req::new("PUT", "/api/users/me/password")
                .bearer(Some(&me.access))
                .json(
                    &json!({ "current_password": longer, "new_password": "a brand new password" }),
                )
                .what(format!(
                    "password change, current = the 72 bytes + {extra:.5}"
                )),
            bad.clone(),
        ));
        table.push((
            Req::new("DELETE", "/api/users/me")
                .bearer(Some(&me.access))
                .json(&json!({ "password": longer }))
                .what(format!("delete account with the 72 bytes + {extra:.5}")),
            bad.clone(),
        ));
    }
    run_table(ctx, "passwords", &w, table);
}
