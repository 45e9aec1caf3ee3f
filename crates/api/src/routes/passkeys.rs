//! Passkeys: registering and managing them under `/api/users/me/passkeys`, and signing in
//! with one at `/api/auth/passkey`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use services::passkeys::{Ceremony, PasskeyView};
use services::{Services, TokenPair};
use utoipa::{OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Client, JsonBody};

/// This module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(options, sign_in, begin, finish, list, rename, delete))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/passkey/options").route(web::post().to(options)))
        .service(resource("/api/auth/passkey").route(web::post().to(sign_in)))
        .service(resource("/api/users/me/passkeys/registration").route(web::post().to(begin)))
        .service(
            resource("/api/users/me/passkeys")
                .route(web::post().to(finish))
                .route(web::get().to(list)),
        )
        .service(
            resource("/api/users/me/passkeys/{id}")
                .route(web::patch().to(rename))
                .route(web::delete().to(delete)),
        );
}

/// The password, asked again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyPasswordRequest {
    #[schema(format = Password)]
    pub password: String,
}

/// The browser's answer to a registration's options, and a name for the passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationRequest {
    /// The `challenge_id` the options came with.
    #[schema(max_length = 64)]
    pub challenge_id: String,
    /// What `navigator.credentials.create()` returned, as WebAuthn JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// 1 to 64 characters ("laptop", "phone").
    #[schema(max_length = 64)]
    pub name: String,
}

/// The browser's answer to a sign-in's options.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignInRequest {
    /// The `challenge_id` the options came with.
    #[schema(max_length = 64)]
    pub challenge_id: String,
    /// What `navigator.credentials.get()` returned, as WebAuthn JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A new name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRenameRequest {
    #[schema(max_length = 64)]
    pub name: String,
}

fn no_store(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
}

/// Starts a passkey sign-in: request options naming no account.
///
/// Limited per client address; each challenge answers once, within 5 minutes.
#[utoipa::path(post, path = "/api/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, description = "The challenge's id and the options for `navigator.credentials.get()`", body = Ceremony),
        (status = 404, description = "`passkeys_off`: no relying party is configured", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::Unavailable,
    ))]
pub async fn options(
    services: web::Data<Services>,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let ceremony = services.passkey_sign_in.options(&client.0).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(ceremony))
}

/// Signs in with a passkey and opens a session that counts as two factors.
#[utoipa::path(post, path = "/api/auth/passkey", tag = "auth", request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = TokenPair),
        (status = 401, description = "`invalid_passkey`: an unknown, used or stale challenge, a wrong signature or origin, an unknown credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_banned`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_off`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn sign_in(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<PasskeySignInRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let pair: TokenPair = services
        .passkey_sign_in
        .sign_in(&b.challenge_id, b.credential, client.0)
        .await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(pair))
}

/// Starts registering a passkey, on the password again.
#[utoipa::path(post, path = "/api/users/me/passkeys/registration", tag = "users", security(("bearer" = [])),
    request_body = PasskeyPasswordRequest,
    responses(
        (status = 200, description = "The challenge's id and the options for `navigator.credentials.create()`", body = Ceremony),
        (status = 401, description = "`invalid_credentials` (wrong password) or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`email_unverified`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_off`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`passkey_limit`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn begin(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<PasskeyPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ceremony = services.passkeys.begin(&auth.0, &body.0.password).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(ceremony))
}

/// Finishes registering a passkey with the browser's credential.
#[utoipa::path(post, path = "/api/users/me/passkeys", tag = "users", security(("bearer" = [])),
    request_body = PasskeyRegistrationRequest,
    responses(
        (status = 201, description = "The passkey", body = PasskeyView),
        (status = 401, description = "`invalid_passkey` or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`passkeys_off`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`passkey_limit`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn finish(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    body: JsonBody<PasskeyRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let view = services
        .passkeys
        .finish(&auth.0, &b.challenge_id, b.credential, &b.name, &client.0)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(get, path = "/api/users/me/passkeys", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys", body = Vec<PasskeyView>),
        (status = 401, description = "A token error", body = Problem, content_type = "application/problem+json"),
        crate::openapi::Unavailable,
    ))]
pub async fn list(services: web::Data<Services>, auth: Auth) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.passkeys.list(&auth.0).await?))
}

/// Renames one of the caller's passkeys.
#[utoipa::path(patch, path = "/api/users/me/passkeys/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = PasskeyRenameRequest,
    responses(
        (status = 200, description = "The passkey", body = PasskeyView),
        (status = 401, description = "A token error", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such passkey of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn rename(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<PasskeyRenameRequest>,
) -> Result<HttpResponse, ApiError> {
    let view = services
        .passkeys
        .rename(&auth.0, &id.into_inner(), &body.0.name)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes one of the caller's passkeys, on the password again.
#[utoipa::path(delete, path = "/api/users/me/passkeys/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    request_body = PasskeyPasswordRequest,
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`invalid_credentials` or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn delete(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
    body: JsonBody<PasskeyPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    services
        .passkeys
        .delete(&auth.0, &id.into_inner(), &body.0.password, &client.0)
        .await?;
    Ok(no_content())
}
