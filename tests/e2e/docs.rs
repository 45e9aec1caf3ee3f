//! Liveness, readiness and the API's own documentation.

use serde_json::json;

use crate::{Case, Ctx};

pub const CASES: &[Case] = &[
    (
        "health::health_answers_200_status_ok",
        health_answers_200_status_ok,
    ),
    (
        "health::ready_answers_200_when_database_and_token_store_are_up",
        ready_answers_200,
    ),
    (
        "docs::openapi_json_is_a_3_1_document_with_every_route",
        openapi_json_is_a_3_1_document_with_every_route,
    ),
    ("docs::docs_page_is_html", docs_page_is_html),
];

fn health_answers_200_status_ok(ctx: &Ctx) {
    let body = ctx.api().get("/health", None).ok(200);
    assert_eq!(body, json!({ "status": "ok" }));
}

fn ready_answers_200(ctx: &Ctx) {
    let res = ctx.api().get("/ready", None);
    res.ok(200);
}

fn openapi_json_is_a_3_1_document_with_every_route(ctx: &Ctx) {
    let doc = ctx.api().get("/api/openapi.json", None).ok(200);
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1"),
        "openapi is 3.1, got {version:?}"
    );
    let routes: &[(&str, &[&str])] = &[
        ("/health", &["get"]),
        ("/ready", &["get"]),
        ("/api/auth/register", &["post"]),
        ("/api/auth/login", &["post"]),
        ("/api/auth/refresh", &["post"]),
        ("/api/auth/logout", &["post"]),
        ("/api/auth/logout-all", &["post"]),
        ("/api/auth/sessions", &["get"]),
        ("/api/auth/sessions/{id}", &["delete"]),
        ("/api/users/me", &["get", "delete"]),
        ("/api/users/me/password", &["put"]),
        ("/api/users/{id}", &["get"]),
        ("/api/tasks", &["get", "post"]),
        ("/api/tasks/{id}", &["get", "patch", "delete"]),
    ];
    for (path, methods) in routes {
        let item = &doc["paths"][path];
        assert!(item.is_object(), "the document has a path for {path}");
        for m in *methods {
            assert!(
                item[m].is_object(),
                "the document has {} {path}",
                m.to_uppercase()
            );
        }
    }
}

fn docs_page_is_html(ctx: &Ctx) {
    let res = ctx.api().get("/docs", None);
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.media_type(), "text/html");
    assert!(
        res.text.to_ascii_lowercase().contains("<html"),
        "an HTML page"
    );
}
