//! HTTP-level errors: unknown routes, wrong methods, bodies that are not JSON, not
//! `application/json`, too large, or of the wrong shape. Every one is problem+json.

use reqwest::Method;
use serde_json::json;

use crate::http::{error_fields, str_of, Body};
use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    unknown_route_is_404_not_found,
    wrong_method_is_405_method_not_allowed,
    malformed_json_is_400_malformed_json,
    a_body_that_is_not_json_is_400_even_when_its_members_are_wrong_too,
    a_body_that_is_not_application_json_is_415_unsupported_media_type,
    a_body_over_64_kib_is_413_payload_too_large,
    a_json_value_of_the_wrong_type_is_422_naming_the_field,
];

fn unknown_route_is_404_not_found(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/index.html"),
        (Method::GET, "/api"),
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/auth/nope"),
        (Method::GET, "/api/tasks/a/b"),
        (Method::DELETE, "/api/users/me/extra"),
    ] {
        api.call(method.clone(), path, None, Body::None)
            .problem(404, "not_found");
        api.call(method, path, Some(&t.access), Body::None)
            .problem(404, "not_found");
    }
}

/// Every common method a documented path does not document is 405, with or without a
/// token (the list comes from the served OpenAPI document), and so are writes to the pages.
fn wrong_method_is_405_method_not_allowed(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let task = api.create_task(&t.access, json!({ "title": "x" }));
    let task_id = str_of(&task, "id");
    let mut wrong: Vec<(Method, String)> = vec![
        (Method::POST, "/api/openapi.json".to_owned()),
        (Method::POST, "/docs".to_owned()),
        (Method::DELETE, "/".to_owned()),
    ];
    for (path, methods) in crate::docs::documented(ctx) {
        let url = crate::docs::concrete(&path, &task_id);
        for m in crate::docs::METHODS {
            if !methods.iter().any(|d| d == m) {
                let method = Method::from_bytes(m.to_uppercase().as_bytes()).expect("a method");
                wrong.push((method, url.clone()));
            }
        }
    }
    assert!(wrong.len() > 10, "{wrong:?}");
    for (method, path) in wrong {
        api.call(method.clone(), &path, None, Body::None)
            .problem(405, "method_not_allowed");
        api.call(method, &path, Some(&t.access), Body::None)
            .problem(405, "method_not_allowed");
    }
    // The task is still there.
    api.get(&format!("/api/tasks/{task_id}"), Some(&t.access))
        .ok(200);
}

/// Sends each body to each route and lists every answer that is not 400 malformed_json.
fn not_malformed_json(ctx: &Ctx, cases: &[(Method, &str, Option<&str>, Vec<u8>)]) -> Vec<String> {
    let api = ctx.api();
    let mut wrong = Vec::new();
    for (method, path, token, body) in cases {
        let raw = Body::Raw(Some("application/json"), body.clone());
        let res = api.call(method.clone(), path, *token, raw);
        let ok = res.status == 400
            && res.media_type() == "application/problem+json"
            && res.json()["code"] == "malformed_json";
        if !ok {
            wrong.push(format!(
                "{} with body {:?}: {} {}",
                res.what,
                String::from_utf8_lossy(body),
                res.status,
                res.text
            ));
        }
    }
    wrong
}

fn malformed_json_is_400_malformed_json(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let task = api.create_task(&t.access, json!({ "title": "x" }));
    let task_path = format!("/api/tasks/{}", str_of(&task, "id"));
    let access = Some(t.access.as_str());
    // Each route with a body of the right shape, broken only in its syntax.
    let routes = [
        (
            Method::POST,
            "/api/auth/register",
            None,
            json!({ "username": "somebody", "email": "s@example.com", "password": "long enough" }),
        ),
        (
            Method::POST,
            "/api/auth/login",
            None,
            json!({ "username": "somebody", "password": "long enough" }),
        ),
        (
            Method::POST,
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": t.refresh }),
        ),
        (Method::POST, "/api/tasks", access, json!({ "title": "y" })),
        (
            Method::PATCH,
            task_path.as_str(),
            access,
            json!({ "title": "y" }),
        ),
        (
            Method::PUT,
            "/api/users/me/password",
            access,
            json!({ "current_password": "wrong one", "new_password": "long enough" }),
        ),
        (
            Method::DELETE,
            "/api/users/me",
            access,
            json!({ "password": "wrong one" }),
        ),
    ];
    let mut cases = Vec::new();
    for (method, path, token, valid) in routes {
        let valid = valid.to_string();
        let body_of = valid.trim_end_matches('}');
        for body in [
            "{not json".to_owned(),
            String::new(),
            body_of.to_owned(),
            format!("{valid} trailing"),
            format!("{valid}{{}}"),
            format!("{body_of},}}"),
            valid.replace('"', "'"),
        ] {
            cases.push((method.clone(), path, token, body.into_bytes()));
        }
        cases.push((method, path, token, b"\xff\xfe\x00".to_vec()));
    }
    let wrong = not_malformed_json(ctx, &cases);
    assert!(
        wrong.is_empty(),
        "expected 400 malformed_json for each:\n{}",
        wrong.join("\n")
    );
    // Nothing happened: the session and the task are as they were.
    assert_eq!(api.get(&task_path, Some(&t.access)).ok(200), task);
}

fn a_body_that_is_not_json_is_400_even_when_its_members_are_wrong_too(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let access = Some(t.access.as_str());
    // Not JSON at all, whatever the members are: an unknown member, or a member missing,
    // must not turn a syntax error into a 422.
    let mut cases = Vec::new();
    for (method, path, token) in [
        (Method::POST, "/api/auth/register", None),
        (Method::POST, "/api/auth/login", None),
        (Method::POST, "/api/auth/refresh", None),
        (Method::POST, "/api/tasks", access),
    ] {
        for body in [
            &b"{\"nonsense\": \"x\""[..],
            b"{\"nonsense\": 1} trailing",
            b"{} trailing",
        ] {
            cases.push((method.clone(), path, token, body.to_vec()));
        }
    }
    let wrong = not_malformed_json(ctx, &cases);
    assert!(
        wrong.is_empty(),
        "a body that is not JSON is 400 malformed_json even when a member is also unknown \
         or missing; got instead:\n{}",
        wrong.join("\n")
    );
}

fn a_body_that_is_not_application_json_is_415_unsupported_media_type(ctx: &Ctx) {
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    let login = json!({ "username": user.username, "password": user.password }).to_string();
    let task = json!({ "title": "x" }).to_string();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        api.call(
            Method::POST,
            "/api/auth/login",
            None,
            Body::Raw(ct, login.clone().into_bytes()),
        )
        .problem(415, "unsupported_media_type");
        api.call(
            Method::POST,
            "/api/tasks",
            Some(&t.access),
            Body::Raw(ct, task.clone().into_bytes()),
        )
        .problem(415, "unsupported_media_type");
    }
    let page = api.get("/api/tasks", Some(&t.access)).ok(200);
    assert_eq!(page["items"], json!([]), "nothing was created");
}

fn a_body_over_64_kib_is_413_payload_too_large(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let big = "x".repeat(70 * 1024);
    api.post(
        "/api/tasks",
        Some(&t.access),
        json!({ "title": "big", "description": big }),
    )
    .problem(413, "payload_too_large");
    api.post(
        "/api/auth/register",
        None,
        json!({ "username": "big", "email": "big@example.com", "password": big }),
    )
    .problem(413, "payload_too_large");
    // Just over the limit, too.
    let just_over = format!("{{\"title\":\"{}\"}}", "y".repeat(64 * 1024));
    api.call(
        Method::POST,
        "/api/tasks",
        Some(&t.access),
        Body::Raw(Some("application/json"), just_over.into_bytes()),
    )
    .problem(413, "payload_too_large");
    // The connection and the session survive it.
    api.me(&t.access).ok(200);
}

fn a_json_value_of_the_wrong_type_is_422_naming_the_field(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let first_field = |body: serde_json::Value| {
        let res = api.post("/api/tasks", Some(&t.access), body);
        let problem = res.problem(422, "validation_failed");
        error_fields(&problem).first().cloned().unwrap_or_default()
    };
    assert_eq!(first_field(json!({ "title": 5 })), "title");
    assert_eq!(first_field(json!({ "title": null })), "title");
    assert_eq!(first_field(json!({ "title": ["x"] })), "title");
    assert_eq!(first_field(json!({ "title": "x", "done": "yes" })), "done");
    assert_eq!(
        first_field(json!({ "title": "x", "description": 7 })),
        "description"
    );
    let res = api.post(
        "/api/auth/register",
        None,
        json!({ "username": 5, "email": "a@example.com", "password": "long enough" }),
    );
    res.invalid("username");
    let task = api.create_task(&t.access, json!({ "title": "x" }));
    let res = api.patch(
        &format!("/api/tasks/{}", str_of(&task, "id")),
        Some(&t.access),
        json!({ "done": "yes" }),
    );
    res.invalid("done");
}
