//! `/api/auth`: register, login, refresh, logout, sessions.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use services::{LoginInput, Services, SessionView, SignIn, TokenPair, User};
use utoipa::{OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem, SecondFactorRequired};
use crate::extract::{Auth, BearerToken, Client, JsonBody};

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(paths(register, login, refresh, logout, logout_all, sessions, revoke_session), tags((name = "auth", description = "Accounts and sessions")))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/register").route(web::post().to(register)))
        .service(resource("/api/auth/login").route(web::post().to(login)))
        .service(resource("/api/auth/refresh").route(web::post().to(refresh)))
        .service(resource("/api/auth/logout").route(web::post().to(logout)))
        .service(resource("/api/auth/logout-all").route(web::post().to(logout_all)))
        .service(resource("/api/auth/sessions").route(web::get().to(sessions)))
        .service(resource("/api/auth/sessions/{id}").route(web::delete().to(revoke_session)));
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-32 of a-z, 0-9, `_`, `.`, `-` (stored lower-case).
    #[schema(
        example = "alice",
        min_length = 3,
        max_length = 32,
        pattern = "^[A-Za-z0-9_.-]+$"
    )]
    pub username: String,
    #[schema(example = "alice@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit: `maxLength`
    /// holds for ASCII; a character of more bytes leaves room for fewer); not the username
    /// or email.
    #[schema(example = "correct horse battery", format = Password, min_length = 8, max_length = 72)]
    pub password: String,
}

/// A login by username or by email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice")]
    pub username: Option<String>,
    pub email: Option<String>,
    #[schema(example = "correct horse battery", format = Password)]
    pub password: String,
}

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

fn tokens(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pair)
}

/// Creates an account and mails its verification link. When verification is required, a
/// taken address is answered as a new one (its owner is mailed instead).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created (with `REQUIRE_EMAIL_VERIFICATION=true`, also the answer for an address that has an account, whose owner is told)", body = User, headers(("Location" = String, description = "The user's profile URL"))),
        (status = 409, description = "`username_taken`, or `email_taken` while verification is not required", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many registrations from this address", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn register(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let user = services
        .registration
        .register(&b.username, &b.email, &b.password, &client.0)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/users/{}", user.id)))
        .json(user))
}

/// Logs in and opens a session.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = TokenPair),
        (status = 401, description = "`invalid_credentials`: unknown user or wrong password, told apart by neither body nor timing", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`mfa_required`: the right password for an account with a second factor; no session yet. `mfa_token` and `expires_in` go to `POST /api/auth/mfa`. Or `email_unverified` (a `Problem` without those two)", body = SecondFactorRequired, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many failures for this account or address", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn login(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let input = LoginInput {
        username: b.username,
        email: b.email,
        password: b.password,
    };
    Ok(match services.sign_in.login(input, client.0).await? {
        SignIn::Complete(pair) => tokens(pair),
        SignIn::SecondFactor(challenge) => crate::error::second_factor_required(&challenge),
    })
}

/// Exchanges a refresh token for a new pair (rotation).
///
/// The previous refresh token, presented again within the grace (10 s), returns the same
/// current pair; presented later, the whole session is revoked (`refresh_token_reused`).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "The session's new tokens", body = TokenPair),
        (status = 401, description = "`token_invalid`, `token_expired`, `token_revoked` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn refresh(
    services: web::Data<Services>,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(tokens(
        services.sessions.refresh(&body.0.refresh_token).await?,
    ))
}

/// Ends the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Logged out"), crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn logout(
    req: HttpRequest,
    services: web::Data<Services>,
    token: BearerToken,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    let who = services.sessions.logout(&token.0, &client.0).await?;
    req.extensions_mut()
        .insert(crate::telemetry::request::UserId(who.user_id));
    Ok(no_content())
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session ended"), crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn logout_all(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
) -> Result<HttpResponse, ApiError> {
    services.sessions.logout_all(&auth.0, &client.0).await?;
    Ok(no_content())
}

/// The caller's live sessions; `current` marks this one.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Live sessions, oldest first", body = Vec<SessionView>),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn sessions(services: web::Data<Services>, auth: Auth) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.sessions.sessions(&auth.0).await?))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from the list")),
    responses((status = 204, description = "Session ended"),
        (status = 404, description = "No such session of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn revoke_session(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services
        .sessions
        .revoke_session(&auth.0, &id, &client.0)
        .await?;
    Ok(no_content())
}
