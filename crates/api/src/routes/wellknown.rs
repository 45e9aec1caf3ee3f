//! `/.well-known/…`: what another service needs to verify strata's access tokens on its
//! own: the published keys (RFC 7517) and where they are (RFC 8414 metadata).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use services::Services;
use utoipa::{OpenApi, ToSchema};

use super::resource;

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(
    paths(jwks, metadata),
    tags((name = "keys", description = "Verifying access tokens elsewhere"))
)]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/.well-known/jwks.json").route(web::get().to(jwks)))
        .service(
            resource("/.well-known/oauth-authorization-server").route(web::get().to(metadata)),
        );
}

/// The public keys access tokens are signed with: the next, current and previous keys,
/// never a private or an HMAC key. Empty while `JWT_ALGORITHM=HS256`. Cache it for
/// `max-age`; refetch on an unknown `kid`, at most once a minute.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "A JWK set (`{\"keys\":[…]}`)", content_type = "application/json",
        headers(("Cache-Control" = String, description = "public, max-age=JWKS_MAX_AGE"), ("ETag" = String, description = "Changes with the set"))),
        (status = 304, description = "Not modified (`If-None-Match`)")))]
pub async fn jwks(services: web::Data<Services>, req: HttpRequest) -> HttpResponse {
    let (body, etag) = services.signing.jwks();
    let cache = format!(
        "public, max-age={}",
        services.signing.jwks_max_age().as_secs()
    );
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut answer = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag));
    if unchanged {
        answer.finish()
    } else {
        answer.content_type("application/json").body(body)
    }
}

/// RFC 8414 authorization-server metadata: the issuer and where its keys are.
#[derive(Debug, Serialize, ToSchema)]
pub struct Metadata {
    /// `JWT_ISSUER`: every access token's `iss`.
    pub issuer: String,
    /// The JWK set's URL, under `PUBLIC_URL`.
    pub jwks_uri: String,
    /// RFC 7662 introspection, for configured clients.
    pub introspection_endpoint: String,
}

/// Where to find the keys, for a verifier configured with the issuer alone.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "keys",
    responses((status = 200, description = "RFC 8414 metadata", body = Metadata)))]
pub async fn metadata(services: web::Data<Services>) -> HttpResponse {
    let (issuer, jwks_uri) = services.signing.metadata();
    let introspection_endpoint = jwks_uri.replace("/.well-known/jwks.json", "/api/auth/introspect");
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(Metadata {
            issuer,
            jwks_uri,
            introspection_endpoint,
        })
}
