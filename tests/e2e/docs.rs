//! Liveness, readiness and the API's own documentation.

use serde_json::json;

use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    health_answers_200_status_ok,
    ready_answers_200_when_database_and_token_store_are_up,
    openapi_json_is_a_3_1_document_with_every_route,
    docs_page_is_html,
];

fn health_answers_200_status_ok(ctx: &Ctx) {
    let body = ctx.api().get("/health", None).ok(200);
    assert_eq!(body, json!({ "status": "ok" }));
}

fn ready_answers_200_when_database_and_token_store_are_up(ctx: &Ctx) {
    let res = ctx.api().get("/ready", None);
    res.ok(200);
}

/// Every path of the served OpenAPI document with its methods (lower-case).
pub fn documented(ctx: &Ctx) -> Vec<(String, Vec<String>)> {
    let doc = ctx.api().get("/api/openapi.json", None).ok(200);
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The methods the route table is checked for.
pub const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `path` with each `{…}` parameter replaced by `id`.
pub fn concrete(path: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        out.push_str(id);
        rest = after.split_once('}').map_or("", |(_, r)| r);
    }
    out.push_str(rest);
    out
}

fn openapi_json_is_a_3_1_document_with_every_route(ctx: &Ctx) {
    let doc = ctx.api().get("/api/openapi.json", None).ok(200);
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1"),
        "openapi is 3.1, got {version:?}"
    );
    // Every documented operation is served: with a token and a made-up id it may answer
    // anything but "no such route" or 405.
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let paths = documented(ctx);
    assert!(paths.len() > 1, "{paths:?}");
    for (path, methods) in paths {
        let url = concrete(&path, "0193a000-0000-7000-8000-000000000000");
        for m in methods {
            let method =
                reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).expect("a method");
            let res = api.call(method, &url, Some(&t.access), crate::http::Body::None);
            let no_route = res.status == 404 && res.text.contains("no such route");
            assert!(
                !no_route && res.status != 405,
                "{m} {path} is documented but answers {} {}",
                res.status,
                res.text
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
