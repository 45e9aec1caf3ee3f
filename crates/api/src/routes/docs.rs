//! Static pages: the browser app at `/`, the OpenAPI document at `/api/openapi.json` and a
//! self-contained docs page at `/docs`. Nothing is fetched from outside.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
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

/// An interactive page that reads the document and can send each request.
pub async fn docs_page() -> HttpResponse {
    static CSP: OnceLock<String> = OnceLock::new();
    page(DOCS_HTML, CSP.get_or_init(|| policy(DOCS_HTML)))
}

/// The browser app: plain HTML and JavaScript, no build step.
pub async fn app_page() -> HttpResponse {
    static CSP: OnceLock<String> = OnceLock::new();
    page(APP_HTML, CSP.get_or_init(|| policy(APP_HTML)))
}

fn page(html: &'static str, csp: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .body(html)
}

/// The page's Content-Security-Policy: its own inline scripts and styles (by their
/// SHA-256), requests to this origin only, no framing, no forms elsewhere, nothing else.
fn policy(html: &str) -> String {
    let hashes = |tag: &str| {
        inline_blocks(html, tag)
            .map(|block| format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(block))))
            .collect::<String>()
    };
    format!(
        "default-src 'none'; script-src{}; style-src{}; connect-src 'self'; img-src 'self' data:; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style"),
    )
}

/// The text of each `<tag>…</tag>` block of a page of ours (no attributes on the tag).
fn inline_blocks<'a>(html: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let blocks: Vec<&'a str> = html
        .split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split(close.as_str()).next())
        .collect();
    blocks.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_allows_exactly_its_own_inline_script_and_style() {
        for html in [DOCS_HTML, APP_HTML] {
            let csp = policy(html);
            for tag in ["script", "style"] {
                let blocks: Vec<&str> = inline_blocks(html, tag).collect();
                assert_eq!(blocks.len(), 1, "one <{tag}> per page");
                let hash = STANDARD.encode(Sha256::digest(blocks[0]));
                assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
            }
            assert!(csp.contains("frame-ancestors 'none'"));
            assert!(!csp.contains("unsafe"), "{csp}");
            // Nothing the policy would block: no inline handlers, style attributes, or
            // script and style tags the hashes do not cover.
            assert!(!html.contains(" style="), "inline style attribute");
            assert!(!html.contains("<script "), "script with attributes");
            assert!(!html.contains("<style "), "style with attributes");
            assert!(!html.contains("<link"), "stylesheet from elsewhere");
            let handler = html.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "inline event handler");
        }
    }
}
