//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they
//! really send.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::error::Problem;
use crate::routes;

/// Errors of any route with a JSON body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// `malformed_json`: the body is not JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// `payload_too_large`: the body is over 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// `unsupported_media_type`: the body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    MediaType(Problem),
    /// `validation_failed`: fields that do not parse, listed in `errors`.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// Errors of any route that needs a bearer token.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AuthErrors {
    /// `token_missing`, `token_invalid`, `token_expired` or `token_revoked`, with
    /// `WWW-Authenticate: Bearer`.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
}

/// Errors any route that touches a dependency can give.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Unavailable {
    /// `internal_error`: a bug; the body is generic and the cause is logged.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// `service_unavailable`: the database or the token store is down; see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Down(Problem),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// What the document says beyond the routes: its title, the shared schemas, bearer auth.
#[derive(OpenApi)]
#[openapi(
    info(title = "strata", description = "Accounts, revocable JWT sessions and a per-user task list."),
    components(schemas(Problem, services::FieldError)),
    modifiers(&BearerAuth)
)]
struct Base;

/// The document served at `/api/openapi.json`: [`Base`] and every route module's own part
/// (`routes::documents`), so a new resource documents itself.
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = Base::openapi();
        for part in routes::documents() {
            doc.merge(part);
        }
        doc
    }
}

/// Every operation of the document: (path with `{…}` parameters, lower-case method).
pub fn operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.push((path.clone(), method.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as http;
    use actix_web::App;

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert!(!operations().is_empty());
    }

    /// The documented limits are the domain types' own: the hostile suite reads them from
    /// the served document, so a drift here would have it test the wrong limits.
    #[test]
    fn documented_limits_are_the_domain_limits() {
        use services::domain::{Email, Password, TaskDescription, TaskTitle, Username};
        use services::mfa::CODE_MAX_CHARS;
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let pw = (Some(Password::MIN_CHARS), Password::MAX_BYTES);
        for (schema, field, (min, max)) in [
            (
                "RegisterRequest",
                "username",
                (Some(Username::MIN_CHARS), Username::MAX_CHARS),
            ),
            ("RegisterRequest", "email", (None, Email::MAX_CHARS)),
            ("RegisterRequest", "password", pw),
            ("ChangePasswordRequest", "new_password", pw),
            ("MfaCodeRequest", "code", (None, CODE_MAX_CHARS)),
            ("MfaProofRequest", "code", (None, CODE_MAX_CHARS)),
            ("MfaLoginRequest", "code", (None, CODE_MAX_CHARS)),
            ("ChangeEmailRequest", "code", (None, CODE_MAX_CHARS)),
            (
                "CreateTaskRequest",
                "title",
                (Some(1), TaskTitle::MAX_CHARS),
            ),
            (
                "UpdateTaskRequest",
                "title",
                (Some(1), TaskTitle::MAX_CHARS),
            ),
            (
                "CreateTaskRequest",
                "description",
                (None, TaskDescription::MAX_CHARS),
            ),
            (
                "UpdateTaskRequest",
                "description",
                (None, TaskDescription::MAX_CHARS),
            ),
        ] {
            let p = &doc["components"]["schemas"][schema]["properties"][field];
            let got = (p["minLength"].as_u64(), p["maxLength"].as_u64());
            let want = (min.map(|n| n as u64), Some(max as u64));
            assert_eq!(got, want, "{schema}.{field}: {p}");
        }
        let limit = doc["paths"]["/api/tasks"]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
            .map(|p| p["schema"]["maximum"].as_u64());
        assert_eq!(limit, Some(Some(u64::from(services::paging::MAX_LIMIT))));
    }

    /// Every route of the route table is in the document (the pages and the document
    /// itself aside): a route added without its `#[utoipa::path]` in `paths(...)` fails here.
    #[test]
    fn every_route_is_documented() {
        let documented: Vec<String> = operations().into_iter().map(|(p, _)| p).collect();
        let pages = [
            "/",
            "/docs",
            "/api/openapi.json",
            "/verify-email",
            "/reset-password",
        ];
        let routes = routes::registered();
        assert!(routes.len() > pages.len(), "{routes:?}");
        for path in routes {
            assert!(
                pages.contains(&path.as_str())
                    || routes::docs::ASSETS.iter().any(|(p, _, _)| *p == path)
                    || documented.contains(&path),
                "{path} is routed but not in the OpenAPI document"
            );
        }
    }

    /// The route table and the document agree: every documented operation is routed, and
    /// every other common method on a documented path is 405. (Served without services, a
    /// routed request fails in its extractors: anything but 404 or 405.)
    #[actix_web::test]
    async fn every_documented_operation_is_routed_and_no_other_method() {
        let app = http::init_service(App::new().configure(routes::configure)).await;
        let ops = operations();
        for (path, _) in &ops {
            let concrete = path.replace("{id}", "0193a000-0000-7000-8000-000000000000");
            for method in ["get", "post", "put", "patch", "delete"] {
                let documented = ops.iter().any(|(p, m)| p == path && m == method);
                let req = http::TestRequest::default()
                    .method(method.to_uppercase().parse().unwrap_or_default())
                    .uri(&concrete)
                    .to_request();
                let res = http::call_service(&app, req).await;
                // Without services no handler runs: a 404 can only mean no route.
                let status = res.status().as_u16();
                if documented {
                    assert!(
                        status != 404 && status != 405,
                        "{method} {path} is documented but answers {status}"
                    );
                } else {
                    assert_eq!(status, 405, "{method} {path} is not documented");
                }
            }
        }
    }
}
