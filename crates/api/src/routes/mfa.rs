//! The second factor: enrolment under `/api/users/me/mfa`, and the sign-in step after the
//! password at `/api/auth/mfa`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use services::{BackupCodes, Enrolment, Services, TokenPair};
use utoipa::{OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Client, JsonBody};

/// This module's part of the OpenAPI document: its operations (tagged `auth`).
#[derive(OpenApi)]
#[openapi(paths(login, begin, confirm, regenerate, disable))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/mfa").route(web::post().to(login)))
        .service(
            resource("/api/users/me/mfa/totp")
                .route(web::post().to(begin))
                .route(web::delete().to(disable)),
        )
        .service(resource("/api/users/me/mfa/totp/confirm").route(web::post().to(confirm)))
        .service(resource("/api/users/me/mfa/recovery-codes").route(web::post().to(regenerate)));
}

/// The password, asked again before an enrolment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPasswordRequest {
    #[schema(format = Password)]
    pub password: String,
}

/// A code from the authenticator app.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCodeRequest {
    /// The six digits the app shows now.
    #[schema(example = "123456", max_length = 64)]
    pub code: String,
}

/// The password and a code: a TOTP code or an unused backup code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaProofRequest {
    #[schema(format = Password)]
    pub password: String,
    /// Six digits from the app, or a backup code (`abcd-efgh-ijkl-mnop`).
    #[schema(example = "123456", max_length = 64)]
    pub code: String,
}

/// The second step of a sign-in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// The `mfa_token` of the login's 403 `mfa_required`; any other text is 401
    /// `invalid_mfa_token`.
    #[schema(example = "q0Hq3n7oXk2mYb0fV1cJ8wzR4tP6sUaLdE9gNhK5iMx")]
    pub mfa_token: String,
    /// Six digits from the app, or a backup code (`abcd-efgh-ijkl-mnop`).
    #[schema(example = "123456", max_length = 64)]
    pub code: String,
}

fn no_store(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
}

/// Completes a sign-in with a second factor and opens the session.
///
/// A TOTP code is accepted once (one step of clock skew either way); a backup code once.
/// An `mfa_token` lives 5 minutes, opens one session, and dies after 5 wrong codes.
#[utoipa::path(post, path = "/api/auth/mfa", tag = "auth", request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = TokenPair),
        (status = 401, description = "`invalid_mfa_code` (wrong, old or used code) or `invalid_mfa_token` (unknown, used, expired or spent)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong codes or passwords for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn login(
    services: web::Data<Services>,
    client: Client,
    body: JsonBody<MfaLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let pair = services
        .second_step
        .complete(&b.mfa_token, &b.code, client.0)
        .await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(pair))
}

/// Starts an enrolment: a new TOTP secret for an authenticator app.
///
/// The second factor is not on until a code confirms it; starting again replaces the secret.
#[utoipa::path(post, path = "/api/users/me/mfa/totp", tag = "users", security(("bearer" = [])),
    request_body = MfaPasswordRequest,
    responses(
        (status = 200, description = "The secret, its key URI and its QR code", body = Enrolment),
        (status = 401, description = "`invalid_credentials` (wrong password) or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`email_unverified`: verify the account's address first", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn begin(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<MfaPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let enrolment = services.mfa.begin(&auth.0, &body.0.password).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(enrolment))
}

/// Turns the second factor on with a first code, and returns the backup codes.
#[utoipa::path(post, path = "/api/users/me/mfa/totp/confirm", tag = "users", security(("bearer" = [])),
    request_body = MfaCodeRequest,
    responses(
        (status = 200, description = "On; ten backup codes, shown this once", body = BackupCodes),
        (status = 401, description = "`invalid_mfa_code` or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`email_unverified`: verify the account's address first", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`, or `mfa_not_pending` (no enrolment started)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong codes for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn confirm(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<MfaCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let codes = services.mfa.confirm(&auth.0, &body.0.code).await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(codes))
}

/// Replaces the backup codes; the old ones stop working.
#[utoipa::path(post, path = "/api/users/me/mfa/recovery-codes", tag = "users", security(("bearer" = [])),
    request_body = MfaProofRequest,
    responses(
        (status = 200, description = "Ten new backup codes, shown this once", body = BackupCodes),
        (status = 401, description = "`invalid_credentials`, `invalid_mfa_code` or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords or codes for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn regenerate(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<MfaProofRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let codes = services
        .mfa
        .regenerate(&auth.0, &b.password, &b.code)
        .await?;
    Ok(no_store(&mut HttpResponse::Ok()).json(codes))
}

/// Turns the second factor off (a backup code will do when the device is lost); every
/// other session of the account ends.
#[utoipa::path(delete, path = "/api/users/me/mfa/totp", tag = "users", security(("bearer" = [])),
    request_body = MfaProofRequest,
    responses(
        (status = 204, description = "Off; the secret and the backup codes are forgotten, every other session ended"),
        (status = 401, description = "`invalid_credentials`, `invalid_mfa_code` or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords or codes for this account", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn disable(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<MfaProofRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    services.mfa.disable(&auth.0, &b.password, &b.code).await?;
    Ok(no_content())
}
