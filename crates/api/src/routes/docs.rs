//! Static pages: the browser app at `/`, the OpenAPI document at `/api/openapi.json` and a
//! docs page at `/docs`, their scripts and styles under `/static/`. Nothing is fetched
//! from outside, and no inline code runs.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;

use super::resource;
use crate::openapi::ApiDoc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/openapi.json").route(web::get().to(openapi_json)))
        .service(resource("/docs").route(web::get().to(docs_page)))
        .service(resource("/").route(web::get().to(app_page)))
        // The mailed links open the same page, which POSTs their token: a GET changes nothing.
        .service(resource("/verify-email").route(web::get().to(app_page)))
        .service(resource("/reset-password").route(web::get().to(app_page)));
    for (path, _, _) in ASSETS {
        cfg.service(resource(path).route(web::get().to(asset)));
    }
}

fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".into())
    })
}

/// The OpenAPI 3.1 document.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

const DOCS_HTML: &str = include_str!("../../static/docs.html");
const APP_HTML: &str = include_str!("../../static/index.html");

/// The pages' scripts and styles, served from this origin: what the policy allows.
pub(crate) const ASSETS: [(&str, &str, &str); 4] = [
    (
        "/static/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "/static/app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "/static/docs.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/docs.js"),
    ),
    (
        "/static/docs.css",
        "text/css; charset=utf-8",
        include_str!("../../static/docs.css"),
    ),
];

/// The pages' Content-Security-Policy: scripts and styles from this origin only (no
/// inline code runs), requests to this origin only, no framing, no forms elsewhere.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

/// An interactive page that reads the document and can send each request.
pub async fn docs_page() -> HttpResponse {
    page(DOCS_HTML)
}

/// The browser app: plain HTML and JavaScript, no build step.
pub async fn app_page() -> HttpResponse {
    page(APP_HTML)
}

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY))
        .body(html)
}

/// One of [`ASSETS`], by the path it was routed under.
async fn asset(req: HttpRequest) -> HttpResponse {
    match ASSETS.iter().find(|(path, _, _)| *path == req.path()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_page_holds_code_the_policy_would_block() {
        for html in [DOCS_HTML, APP_HTML] {
            assert!(!html.contains("<script>"), "inline script");
            assert!(!html.contains("<style>"), "inline style");
            assert!(!html.contains(" style="), "inline style attribute");
            let handler = html.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "inline event handler");
            // Every script and stylesheet a page names is one of ours.
            for src in html.split("src=\"").chain(html.split("href=\"")).skip(1) {
                let path = src.split('"').next().unwrap_or_default();
                if path.starts_with("/static/") {
                    assert!(ASSETS.iter().any(|(p, _, _)| *p == path), "{path}");
                }
            }
        }
        assert!(!PAGE_POLICY.contains("unsafe"), "{PAGE_POLICY}");
    }
}
