//! Email verification, password reset and change of address: the mailed-link flows. The
//! links open pages (`/verify-email`, `/reset-password`) that change nothing on a GET;
//! the page POSTs the token here.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use services::Services;
use utoipa::{OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Client, JsonBody};

/// This module's part of the OpenAPI document: its operations (tagged `auth`).
#[derive(OpenApi)]
#[openapi(paths(verify_email, resend, request_reset, confirm_reset, change_email))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/verify-email").route(web::post().to(verify_email)))
        .service(resource("/api/auth/verify-email/resend").route(web::post().to(resend)))
        .service(resource("/api/auth/password-reset").route(web::post().to(request_reset)))
        .service(resource("/api/auth/password-reset/confirm").route(web::post().to(confirm_reset)))
        .service(resource("/api/users/me/email").route(web::put().to(change_email)));
}

/// A mailed token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The `token` of the mailed link; any other text is 400 `invalid_or_expired_token`.
    #[schema(example = "q0Hq3n7oXk2mYb0fV1cJ8wzR4tP6sUaLdE9gNhK5iMx")]
    pub token: String,
}

/// The address to mail a reset link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(example = "alice@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// A reset token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmRequest {
    #[schema(example = "q0Hq3n7oXk2mYb0fV1cJ8wzR4tP6sUaLdE9gNhK5iMx")]
    pub token: String,
    /// At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit: `maxLength`
    /// holds for ASCII; a character of more bytes leaves room for fewer); not the username
    /// or email.
    #[schema(example = "a brand new password", format = Password, min_length = 8, max_length = 72)]
    pub new_password: String,
}

/// A new address, and the password (and, for an account with a second factor, a code of
/// it) to prove it is the owner asking.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    #[schema(example = "alice@new.example.com", format = Email, max_length = 254)]
    pub new_email: String,
    #[schema(format = Password)]
    pub password: String,
    /// A current TOTP code or an unused backup code: required when the account has a
    /// second factor, ignored otherwise.
    #[schema(example = "123456", max_length = 64)]
    pub code: Option<String>,
}

/// The address to mail a new verification link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendRequest {
    #[schema(example = "alice@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// The answer to a request whose result is mailed.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "accepted")]
    pub status: &'static str,
    /// What happens next.
    pub detail: &'static str,
}

fn accepted(detail: &'static str) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(Accepted {
            status: "accepted",
            detail,
        })
}

/// Verifies the address (or completes a change of address) with a mailed token.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 204, description = "Verified"),
        (status = 400, description = "`invalid_or_expired_token`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: the new address was registered meanwhile", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn verify_email(
    services: web::Data<Services>,
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    services.recovery.verify_email(&body.0.token).await?;
    Ok(no_content())
}

/// Mails a new verification link to the address, if it has an account that is not
/// verified yet: the answer is the same for every well-formed address. No session is
/// needed, so an owner whose link lapsed (and who cannot sign in) gets a new one.
#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "auth", request_body = ResendRequest,
    responses((status = 202, description = "The same for every well-formed address: a link is on its way if the address has an unverified account and mails left this hour", body = Accepted),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn resend(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<ResendRequest>,
) -> Result<HttpResponse, ApiError> {
    services
        .recovery
        .resend_verification(&body.0.email, &client.0)
        .await?;
    Ok(accepted(
        "if the address has an account that is not verified yet, a new link is on its way",
    ))
}

/// Mails a reset link, if the address has an account: the answer is the same either way.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "The same for every well-formed address", body = Accepted),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn request_reset(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    services
        .recovery
        .request_password_reset(&body.0.email, &client.0)
        .await?;
    Ok(accepted(
        "if an account has this address, a reset link is on its way",
    ))
}

/// Sets a new password with a reset token; every session of the account ends.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmRequest,
    responses((status = 204, description = "Password set; every session ended"),
        (status = 400, description = "`invalid_or_expired_token`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn confirm_reset(
    services: web::Data<Services>,
    body: JsonBody<ResetConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    services
        .recovery
        .confirm_password_reset(&b.token, &b.new_password)
        .await?;
    Ok(no_content())
}

/// Asks to change the account's address: a link goes to the new one, a notice to the old.
#[utoipa::path(put, path = "/api/users/me/email", tag = "users", security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses((status = 202, description = "A link is on its way to the new address", body = Accepted),
        (status = 429, description = "`rate_limited`: too many changes asked for by this account (or wrong passwords)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 401, description = "`invalid_credentials` (wrong password), `invalid_mfa_code` (wrong, old or used code), or a token error", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable))]
pub async fn change_email(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    services
        .users
        .change_email(&auth.0, &b.new_email, &b.password, b.code.as_deref())
        .await?;
    Ok(accepted("a link is on its way to the new address"))
}
