//! `/api/users`: the caller's account and other users' public profiles.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use services::audit::SecurityEvent;
use services::{paging, PublicUser, Services, User};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, JsonBody};

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(paths(me, change_password, delete_me, security_events, profile), components(schemas(SecurityEventPage)), tags((name = "users", description = "The caller's account and public profiles")))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // `/me` before `/{id}`: routes match in the order they are registered.
    cfg.service(
        resource("/api/users/me")
            .route(web::get().to(me))
            .route(web::delete().to(delete_me)),
    )
    .service(resource("/api/users/me/password").route(web::put().to(change_password)))
    .service(resource("/api/users/me/security-events").route(web::get().to(security_events)))
    .service(resource("/api/users/{id}").route(web::get().to(profile)));
}

/// A password change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(format = Password)]
    pub current_password: String,
    /// At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit: `maxLength`
    /// holds for ASCII; a character of more bytes leaves room for fewer); not the username
    /// or email.
    #[schema(format = Password, min_length = 8, max_length = 72)]
    pub new_password: String,
}

/// The password, to confirm the account's deletion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    #[schema(format = Password)]
    pub password: String,
}

/// A page of the caller's security history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The caller's security history, newest first; pass `next_cursor` as `cursor` for older.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SecurityEventPage {
    pub items: Vec<SecurityEvent>,
    pub next_cursor: Option<String>,
}

/// The caller's own security history: sign-ins (with address and user agent), changes,
/// and admins' acts on the account (without the admin), newest first.
#[utoipa::path(get, path = "/api/users/me/security-events", tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "A page", body = SecurityEventPage),
        (status = 422, description = "`validation_failed`: bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn security_events(
    services: web::Data<Services>,
    auth: Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = paging::limit(q.limit.as_deref())?;
    let cursor = paging::cursor(q.cursor.as_deref())?;
    let page = services
        .audit
        .for_owner(&auth.0.user_id, cursor, limit)
        .await?;
    Ok(HttpResponse::Ok().json(SecurityEventPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = User), crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn me(services: web::Data<Services>, auth: Auth) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.users.me(&auth.0).await?))
}

/// Changes the password; every other session of the caller ends.
#[utoipa::path(put, path = "/api/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; other sessions revoked"),
        (status = 401, description = "`invalid_credentials` (wrong current password) or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn change_password(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    services
        .users
        .change_password(&auth.0, &b.current_password, &b.new_password)
        .await?;
    Ok(no_content())
}

/// Deletes the account, its sessions and its tasks.
#[utoipa::path(delete, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses((status = 204, description = "Deleted"),
        (status = 401, description = "`invalid_credentials` (wrong password) or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn delete_me(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    services
        .users
        .delete_account(&auth.0, &body.0.password)
        .await?;
    Ok(no_content())
}

/// Another user's public profile.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "A user id")),
    responses((status = 200, description = "The user", body = PublicUser),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn profile(
    services: web::Data<Services>,
    _auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.users.profile(&id).await?))
}
