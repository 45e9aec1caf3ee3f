//! `POST /api/auth/introspect` (RFC 7662): whether an access token is live right now, for
//! a resource server that needs strata's instant revocation. HTTP Basic with a client of
//! `INTROSPECTION_CLIENTS`; the body is a form, `token=…`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use services::introspection::Introspected;
use services::{FieldError, ServiceError, Services};
use utoipa::{OpenApi, ToSchema};

use super::resource;
use crate::error::{ApiError, Problem};

/// This module's part of the OpenAPI document: its operation.
#[derive(OpenApi)]
#[openapi(paths(introspect))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/introspect").route(web::post().to(introspect)));
}

/// The form body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct IntrospectRequest {
    /// The token to look at.
    pub token: String,
    /// Ignored: only access tokens are ever active.
    pub token_type_hint: Option<String>,
}

/// The client id and secret of `Authorization: Basic …`; empty when there are none.
fn basic(req: &HttpRequest) -> (String, String) {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(i, s)| (i.to_owned(), s.to_owned()))
        })
        .unwrap_or_default()
}

/// Whether a token is a live access token, and whose. Anything else (expired, logged out,
/// revoked, a refresh token, garbage) is `{"active": false}`.
#[utoipa::path(post, path = "/api/auth/introspect", tag = "keys", security(("basic" = [])),
    request_body(content = IntrospectRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The verdict", body = Introspected),
        (status = 401, description = "`invalid_client`: no or wrong client credentials", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`: not a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: no `token`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: this client's calls per minute", body = Problem, content_type = "application/problem+json"),
        crate::openapi::Unavailable))]
pub async fn introspect(
    services: web::Data<Services>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, secret) = basic(&req);
    // The caller first: nothing about the body is told to an unknown one.
    let client = services.introspection.client(&id, &secret)?;
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().map(str::trim) == Some("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::NotAForm);
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::InvalidBody(vec![FieldError::new("body", e.to_string())]))?;
    let token = fields
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::from(ServiceError::invalid("token", "is required")))?;
    let verdict = services.introspection.introspect(client, token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(verdict))
}
