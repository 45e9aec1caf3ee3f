//! Bad values everywhere else: metacharacters in every member, query parameter and path
//! parameter the document lists, out-of-range and repeated query parameters, foreign and
//! malformed ids, Authorization headers on every secured operation, and passwords past
//! bcrypt's 72 bytes.

use serde_json::{json, Value};

use crate::spec::{Field, Op, Ty};
use crate::table::{routes, Route, HOSTILE};
use crate::world::{invalid, run_table, Expect, World};
use crate::{pct, Ctx, Req};

pub fn sql_and_script_metacharacters_where_they_are_invalid_are_refused(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        for field in r.fields.iter().map(|f| f.name.as_str()) {
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
        // In every query parameter whose values the document limits.
        for (op, param) in checked_params(&w) {
            let path = format!("{}?{}={}", w.path(op), param.name, pct(h));
            let what = format!("GET {path}");
            table.push((
                Req::new("GET", path)
                    .bearer(access)
                    .what(what)
                    .aimed_at(op.name()),
                invalid(&param.name),
            ));
        }
        // In every path parameter.
        for op in w.api.ops.iter().filter(|o| !o.path_params.is_empty()) {
            let template = format!("{{{}}}", op.path_params[0].name);
            let req = Req::new(op.method, op.path.replace(&template, &pct(h)));
            table.push((with_base(&w, op, req), Expect::Problem(404, "not_found")));
        }
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

/// Every `GET`'s query parameters whose every value the document limits: integers and
/// booleans, and the keyset `cursor` (free-text parameters have no invalid value).
fn checked_params(w: &World) -> Vec<(&Op, &Field)> {
    let mut out = Vec::new();
    for op in w.api.ops.iter().filter(|o| o.method == "GET") {
        for p in &op.query {
            if p.ty != Ty::Str || p.name == "cursor" {
                out.push((op, p));
            }
        }
    }
    out
}

/// `req` as `op` is sent: the victim's token when it needs one, and its valid body.
fn with_base(w: &World, op: &Op, req: Req) -> Req {
    let req = req
        .bearer(op.secured.then_some(w.me.access.as_str()))
        .aimed_at(op.name());
    match routes(w).into_iter().find(|r| r.name == op.name()) {
        Some(r) => req.json(&Value::Object(r.base)),
        None => req,
    }
}

pub fn out_of_range_limits_forged_cursors_and_repeated_parameters_are_422(ctx: &Ctx) {
    let w = World::new(ctx);
    let access = Some(w.me.access.as_str());
    let mut table = Vec::new();
    let params = checked_params(&w);
    for (op, p) in &params {
        let get = |query: &str, expect: Expect| {
            let path = format!("{}?{query}", w.path(op));
            let req = Req::new("GET", path).bearer(access).aimed_at(op.name());
            (req, expect)
        };
        let other = w.other.items(&op.path).first().cloned().unwrap_or_default();
        let bad = match p.ty {
            Ty::Int => bad_integers(p),
            Ty::Bool => [
                "TRUE", "True", "1", "0", "yes", "", "null", "%00", "true%00", "truee",
            ]
            .map(str::to_owned)
            .to_vec(),
            Ty::Str => bad_cursors(&other),
            // Query parameters are never objects.
            Ty::Obj => Vec::new(),
        };
        for value in bad {
            table.push(get(&format!("{}={value}", p.name), invalid(&p.name)));
        }
        // Twice, with the same value or another valid one, and around another parameter.
        let (a, b) = match p.ty {
            Ty::Int => (
                p.minimum.unwrap_or(1).to_string(),
                p.maximum.unwrap_or(2).to_string(),
            ),
            Ty::Bool => ("true".into(), "false".into()),
            Ty::Str | Ty::Obj => (other.clone(), "b".into()),
        };
        let repeated = Expect::Problem(422, "validation_failed");
        let name = &p.name;
        for query in [
            format!("{name}={a}&{name}={b}"),
            format!("{name}={a}&{name}={a}"),
        ] {
            table.push(get(&query, repeated.clone()));
        }
        for (_, q) in params
            .iter()
            .filter(|(o, q)| o.path == op.path && q.name != p.name)
        {
            let v = if q.ty == Ty::Bool { "true" } else { "1" };
            table.push(get(
                &format!("{name}={a}&{}={v}&{name}={b}", q.name),
                repeated.clone(),
            ));
        }
    }
    run_table(ctx, "query", &w, table);
}

/// Integers the parameter's documented range refuses, and text that is not an integer.
fn bad_integers(p: &Field) -> Vec<String> {
    let (min, max) = (p.minimum.unwrap_or(0), p.maximum.unwrap_or(i64::MAX / 10));
    let mut v: Vec<String> = vec![
        (min - 1).to_string(),
        (max + 1).to_string(),
        (max * 10).to_string(),
        "4294967296".into(),
        "4294967297".into(),
        "18446744073709551616".into(),
        "9".repeat(400),
    ];
    if min > 0 {
        v.extend(["-1", "-0", "0"].map(str::to_owned));
    }
    v.extend(
        [
            "",
            "%20",
            "5%20",
            "%205",
            "5abc",
            "0x10",
            "1.5",
            "5.0",
            "1e9",
            "NaN",
            "Infinity",
            "%D9%A1%D9%A2",
            "%EF%BC%95",
            "%FF",
            "5%00",
            "five",
            "null",
            "[5]",
        ]
        .map(str::to_owned),
    );
    v.dedup();
    v
}

/// Cursors that are not a `next_cursor` of the caller's: junk, forged and another user's
/// item id spoiled.
fn bad_cursors(other_item: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "x",
        "%27%20OR%201%3D1%20--",
        "1",
        "-1",
        "00000000-0000-0000-0000-00000000000",
        "00000000-0000-0000-0000-0000000000000",
        "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "%00",
        "%FF",
        "null",
    ]
    .map(str::to_owned)
    .to_vec();
    v.push("a".repeat(10_000));
    if !other_item.is_empty() {
        v.push(format!("{other_item}%00"));
        v.push(format!("{other_item}'--"));
        v.push(format!("{other_item}%20OR%201%3D1"));
    }
    for _ in 0..5 {
        let n = rand::random_range(1..60);
        let junk: String = (0..n)
            .map(|_| char::from(rand::random_range(b'!'..=b'~')))
            .collect();
        v.push(pct(&junk));
    }
    v
}

/// Spellings of an id that name nothing: path tricks, junk, and, where the id is the
/// caller's own kind of thing, another user's in every spelling.
fn bad_ids(mine: &str, theirs: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = vec![
        "..%2F..%2Fusers%2Fme".into(),
        "..%2f".into(),
        "%2e%2e".into(),
        "%2E%2E%2F%2E%2E%2F".into(),
        format!("{mine}%2F.."),
        format!("{mine}%00"),
        format!("{mine}%20"),
        format!("%20{mine}"),
        format!("{mine}x"),
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
    ];
    // Another user's (or, for a public path, a random one) as it is and in other spellings
    // of the same UUID.
    let random = uuid::Uuid::now_v7().to_string();
    let theirs = theirs.unwrap_or(&random);
    ids.push(format!("{mine},{theirs}"));
    ids.extend([
        theirs.to_owned(),
        theirs.to_uppercase(),
        pct(&format!("{{{theirs}}}")),
        theirs.replace('-', ""),
        pct(&format!("urn:uuid:{theirs}")),
    ]);
    ids
}

pub fn invalid_and_foreign_ids_in_paths_are_404(ctx: &Ctx) {
    let w = World::new(ctx);
    let access = Some(w.me.access.as_str());
    let not_found = Expect::Problem(404, "not_found");
    let mut table = Vec::new();
    for op in w.api.ops.iter().filter(|o| !o.path_params.is_empty()) {
        let template = format!("{{{}}}", op.path_params[0].name);
        let mine_path = w.path(op);
        let mine = value_in(&op.path, &template, &mine_path);
        let theirs = w
            .path_for(op, &w.other)
            .filter(|(_, owned)| *owned)
            .map(|(p, _)| value_in(&op.path, &template, &p));
        let send = |path: String| with_base(&w, op, Req::new(op.method, path));
        for id in bad_ids(&mine, theirs.as_deref()) {
            table.push((send(op.path.replace(&template, &id)), not_found.clone()));
        }
        // Paths the router must not normalise into this route (the victim's item must
        // survive).
        let (head, tail) = op.path.split_once(&template).unwrap_or((&op.path, ""));
        let head = head.trim_end_matches('/');
        let inner = head.trim_start_matches("/api");
        for path in [
            format!("{mine_path}/.."),
            format!("{mine_path}/"),
            format!("{head}/./{mine}{tail}"),
            format!("/{mine_path}"),
            format!("{head}//{mine}{tail}"),
            format!("/api/x/..{inner}/{mine}{tail}"),
        ] {
            table.push((send(path), not_found.clone()));
        }
        if let Some(theirs) = &theirs {
            table.push((
                send(format!("{head}/{theirs}/../{theirs}{tail}")),
                not_found.clone(),
            ));
        }
        // Bytes a request target may not hold (RFC 9112: it is ASCII without spaces).
        for target in [
            format!("{head}/\u{3c4}\u{3b1}\u{3c5}{tail}").into_bytes(),
            [format!("{head}/").as_bytes(), b"\xff\xfe"].concat(),
            format!("{mine_path} OR 1=1").into_bytes(),
            format!("{mine_path}\x00").into_bytes(),
        ] {
            let req = Req::new(op.method, target)
                .bearer(access)
                .aimed_at(op.name());
            table.push((req, Expect::Protocol));
        }
    }
    // Dot segments after a path without parameters (where `..` fills another route's
    // parameter, that route's 405), and through a collection to another route.
    let no_route = Expect::OneOf(vec![(404, "not_found"), (405, "method_not_allowed")]);
    for op in w
        .api
        .ops
        .iter()
        .filter(|o| o.secured && o.path_params.is_empty())
    {
        let req = Req::new(op.method, format!("{}/..", op.path));
        table.push((with_base(&w, op, req), no_route.clone()));
    }
    for c in w.api.collections() {
        let mut req = Req::new("GET", format!("{}/../users/me", c.path)).bearer(access);
        if let Some(list) = w.api.op("GET", &c.path) {
            req = req.aimed_at(list.name());
        }
        table.push((req, not_found.clone()));
    }
    run_table(ctx, "paths", &w, table);
}

/// The value that fills `template` in `path` (a filled copy of `pattern`).
fn value_in(pattern: &str, template: &str, path: &str) -> String {
    let (head, tail) = pattern.split_once(template).unwrap_or((pattern, ""));
    path[head.len()..path.len() - tail.len()].to_owned()
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
    // Every operation that needs a token, with its valid body.
    let bodies: Vec<Route> = routes(&w);
    let mut table = Vec::new();
    for op in w.api.ops.iter().filter(|o| o.secured) {
        let (method, path) = (op.method, w.path(op));
        let body = bodies
            .iter()
            .find(|r| r.name == op.name())
            .map(|r| Value::Object(r.base.clone()));
        let base = || {
            let r = Req::new(method, path.clone()).aimed_at(op.name());
            match &body {
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
