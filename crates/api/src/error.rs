//! The one mapping from errors to HTTP: every error is `application/problem+json`
//! (RFC 9457) with a stable `code`. The match is exhaustive, with no catch-all arm, so a
//! new error variant cannot compile until someone decides its status.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;
use services::{FieldError, ServiceError};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// The status's standard phrase.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    /// A stable, machine-readable code (see the README's table).
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    /// What happened, for a person.
    #[schema(example = "the request has invalid fields")]
    pub detail: String,
    /// Per-field problems, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Dependency states, for `/ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<serde_json::Value>,
    /// For `account_banned`: when the ban ends (absent: until an admin lifts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub banned_until: Option<services::views::Timestamp>,
}

/// The 403 `mfa_required` of a login whose password was right, for an account with a
/// second factor: a problem (no session yet) that says how to go on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecondFactorRequired {
    #[serde(flatten)]
    pub problem: Problem,
    /// The token of the sign-in, for `POST /api/auth/mfa`.
    pub mfa_token: String,
    /// Seconds the `mfa_token` lives.
    #[schema(example = 300)]
    pub expires_in: u64,
}

/// The answer to a sign-in that needs its second factor: 403 `mfa_required`, carrying the
/// challenge's token. Not an error of the service: the password was right.
pub(crate) fn second_factor_required(challenge: &services::Challenge) -> HttpResponse {
    let status = StatusCode::FORBIDDEN;
    let body = SecondFactorRequired {
        problem: Problem {
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            code: "mfa_required",
            detail: "the password is right; now send a code of the second factor with mfa_token to POST /api/auth/mfa".to_owned(),
            errors: None,
            checks: None,
            banned_until: None,
        },
        mfa_token: challenge.token.expose().to_owned(),
        expires_in: challenge.expires_in.as_secs(),
    };
    with_body(problem_builder(status), &body)
}

/// An answer of `status` as `application/problem+json`, never cached.
fn problem_builder(status: StatusCode) -> HttpResponseBuilder {
    let mut res = HttpResponse::build(status);
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    ));
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    res
}

/// `res` with `body` as JSON (a body of strings and numbers always serializes).
fn with_body(mut res: HttpResponseBuilder, body: &impl Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => res.body(bytes),
        Err(_) => res.finish(),
    }
}

/// Everything a handler or an extractor can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The body is not JSON (or is empty).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON of the wrong shape.
    #[error("invalid body")]
    InvalidBody(Vec<FieldError>),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A form route (introspection) was sent something else.
    #[error("not a form")]
    NotAForm,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No `Authorization: Bearer` header.
    #[error("token missing")]
    TokenMissing,
    /// The body did not arrive within the body deadline.
    #[error("request timeout")]
    RequestTimeout,
    /// A cross-origin request from an origin, or with a method or header, not allowed.
    #[error("CORS request refused: {0}")]
    CorsRejected(String),
    /// `/ready` found a dependency down.
    #[error("not ready")]
    NotReady(serde_json::Value),
}

/// A query parameter that does not parse is a 422 naming it.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Service(ServiceError::from(e))
    }
}

/// How long a client should wait after a 503.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(2);

struct Mapping {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    retry_after: Option<Duration>,
    /// `WWW-Authenticate` value for 401s.
    challenge: Option<&'static str>,
    banned_until: Option<services::views::Timestamp>,
}

fn map(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Mapping {
    Mapping {
        status,
        code,
        detail: detail.into(),
        errors: None,
        retry_after: None,
        challenge: None,
        banned_until: None,
    }
}

fn unauthorized(code: &'static str, detail: &str, challenge: &'static str) -> Mapping {
    Mapping {
        challenge: Some(challenge),
        ..map(StatusCode::UNAUTHORIZED, code, detail)
    }
}

const INVALID_TOKEN: &str = r#"Bearer realm="strata", error="invalid_token""#;

impl ApiError {
    fn mapping(&self) -> Mapping {
        use ServiceError as S;
        match self {
            ApiError::Service(e) => match e {
                S::Validation(errors) => Mapping {
                    errors: Some(errors.clone()),
                    ..map(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "the request has invalid fields",
                    )
                },
                S::UsernameTaken => map(
                    StatusCode::CONFLICT,
                    "username_taken",
                    "that username is already taken",
                ),
                S::EmailTaken => map(
                    StatusCode::CONFLICT,
                    "email_taken",
                    "that email is already registered",
                ),
                S::InvalidCredentials => map(
                    StatusCode::UNAUTHORIZED,
                    "invalid_credentials",
                    "wrong username, email or password",
                ),
                S::TokenInvalid => {
                    unauthorized("token_invalid", "the token is not valid", INVALID_TOKEN)
                }
                S::InvalidClient => unauthorized(
                    "invalid_client",
                    "introspection needs the HTTP Basic credentials of a configured client",
                    r#"Basic realm="strata""#,
                ),
                S::TokenExpired => {
                    unauthorized("token_expired", "the token has expired", INVALID_TOKEN)
                }
                S::TokenRevoked => unauthorized(
                    "token_revoked",
                    "the session has ended; log in again",
                    INVALID_TOKEN,
                ),
                S::RefreshTokenReused => unauthorized(
                    "refresh_token_reused",
                    "this refresh token was already used; the session has been revoked",
                    INVALID_TOKEN,
                ),
                S::RateLimited { retry_after } => Mapping {
                    retry_after: Some(*retry_after),
                    ..map(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "too many failed attempts; try again later",
                    )
                },
                S::InvalidOrExpiredToken => map(
                    StatusCode::BAD_REQUEST,
                    "invalid_or_expired_token",
                    "this link is not valid, was already used, or has expired; ask for a new one",
                ),
                S::EmailUnverified => map(
                    StatusCode::FORBIDDEN,
                    "email_unverified",
                    "confirm your email address first: open the link we mailed you",
                ),
                S::InvalidMfaCode => map(
                    StatusCode::UNAUTHORIZED,
                    "invalid_mfa_code",
                    "that code is wrong, old or already used",
                ),
                S::InvalidMfaToken => map(
                    StatusCode::UNAUTHORIZED,
                    "invalid_mfa_token",
                    "this sign-in is unknown, finished, expired or had too many wrong codes; log in again",
                ),
                S::MfaAlreadyEnabled => map(
                    StatusCode::CONFLICT,
                    "mfa_already_enabled",
                    "the second factor is already on; turn it off first to enrol another device",
                ),
                S::MfaNotEnabled => map(
                    StatusCode::CONFLICT,
                    "mfa_not_enabled",
                    "the second factor is not on",
                ),
                S::MfaNotPending => map(
                    StatusCode::CONFLICT,
                    "mfa_not_pending",
                    "no enrolment was started; POST /api/users/me/mfa/totp first",
                ),
                S::NotFound => map(StatusCode::NOT_FOUND, "not_found", "no such resource"),
                S::Forbidden => map(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this route is for admins (signed in with a second factor where that is required)",
                ),
                S::AccountBanned { until } => Mapping {
                    banned_until: *until,
                    ..map(
                        StatusCode::FORBIDDEN,
                        "account_banned",
                        match until {
                            Some(_) => "this account is banned until banned_until",
                            None => "this account is banned until an admin lifts the ban",
                        },
                    )
                },
                S::InvalidPasskey => map(
                    StatusCode::UNAUTHORIZED,
                    "invalid_passkey",
                    "this passkey sign-in or registration is not valid: ask for new options and try again",
                ),
                S::PasskeyLimit(max) => map(
                    StatusCode::CONFLICT,
                    "passkey_limit",
                    format!("an account holds at most {max} passkeys: remove one first"),
                ),
                S::LastSignInMethod => map(
                    StatusCode::CONFLICT,
                    "last_sign_in_method",
                    "this is the account's last way to sign in: set a password (a reset by mail) or add a passkey first",
                ),
                S::PasskeysOff => map(
                    StatusCode::NOT_FOUND,
                    "passkeys_off",
                    "passkeys are not configured on this server (WEBAUTHN_RP_ID)",
                ),
                S::LastAdmin => map(
                    StatusCode::CONFLICT,
                    "last_admin",
                    "this is the last admin: make another admin first",
                ),
                S::CannotBanSelf => map(
                    StatusCode::CONFLICT,
                    "cannot_ban_yourself",
                    "an admin cannot ban its own account",
                ),
                S::Unavailable { what, .. } => Mapping {
                    retry_after: Some(RETRY_UNAVAILABLE),
                    ..map(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "service_unavailable",
                        format!("the {what} is unavailable; try again shortly"),
                    )
                },
                S::Overloaded => Mapping {
                    retry_after: Some(RETRY_UNAVAILABLE),
                    ..map(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "service_unavailable",
                        "too many password checks are waiting; try again shortly",
                    )
                },
                S::Internal { .. } => map(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side",
                ),
            },
            ApiError::MalformedJson(why) => map(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {why}"),
            ),
            ApiError::InvalidBody(errors) => Mapping {
                errors: Some(errors.clone()),
                ..map(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "the request has invalid fields",
                )
            },
            ApiError::UnsupportedMediaType => map(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            ApiError::NotAForm => map(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/x-www-form-urlencoded",
            ),
            ApiError::PayloadTooLarge => map(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the body is larger than 64 KiB",
            ),
            ApiError::RouteNotFound => map(StatusCode::NOT_FOUND, "not_found", "no such route"),
            ApiError::MethodNotAllowed => map(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            ),
            ApiError::TokenMissing => unauthorized(
                "token_missing",
                "send an access token as Authorization: Bearer <token>",
                r#"Bearer realm="strata""#,
            ),
            ApiError::RequestTimeout => map(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the body did not arrive in time",
            ),
            ApiError::CorsRejected(why) => map(
                StatusCode::BAD_REQUEST,
                "cors_rejected",
                format!("cross-origin request refused: {why}"),
            ),
            ApiError::NotReady(_) => Mapping {
                retry_after: Some(RETRY_UNAVAILABLE),
                ..map(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "a dependency is unavailable",
                )
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.mapping().status
    }

    fn error_response(&self) -> HttpResponse {
        let m = self.mapping();
        match self {
            ApiError::Service(e @ ServiceError::Internal { .. }) => {
                // The whole chain, once, with the request id of the span around it.
                tracing::error!(error = %services::error::error_chain(e), "internal error")
            }
            ApiError::Service(ServiceError::Unavailable { what, detail }) => {
                tracing::warn!(dependency = %what, error = %detail, "dependency unavailable")
            }
            _ => {}
        }
        let checks = match self {
            ApiError::NotReady(checks) => Some(checks.clone()),
            _ => None,
        };
        problem_response(m, checks)
    }
}

fn problem_response(m: Mapping, checks: Option<serde_json::Value>) -> HttpResponse {
    let body = Problem {
        status: m.status.as_u16(),
        title: m.status.canonical_reason().unwrap_or("Error").to_owned(),
        code: m.code,
        detail: m.detail,
        errors: m.errors,
        checks,
        banned_until: m.banned_until,
    };
    let mut res = problem_builder(m.status);
    if m.status == StatusCode::REQUEST_TIMEOUT {
        // What is left of a late body cannot be told from the next request: close.
        res.force_close();
    }
    if let Some(wait) = m.retry_after {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        res.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
    }
    if let Some(challenge) = m.challenge {
        res.insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        ));
    }
    with_body(res, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn check(e: ApiError, status: u16, code: &str) -> HttpResponse {
        let res = e.error_response();
        assert_eq!(res.status().as_u16(), status, "{code}");
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let res2 = e.error_response();
        let bytes = res2.into_body().try_into_bytes().unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        assert_eq!(json["code"], code);
        assert_eq!(json["status"], status);
        res
    }

    #[test]
    fn every_error_has_its_status_and_code() {
        use ServiceError as S;
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (S::invalid("email", "bad").into(), 422, "validation_failed"),
            (S::UsernameTaken.into(), 409, "username_taken"),
            (S::EmailTaken.into(), 409, "email_taken"),
            (S::InvalidCredentials.into(), 401, "invalid_credentials"),
            (S::TokenInvalid.into(), 401, "token_invalid"),
            (S::TokenExpired.into(), 401, "token_expired"),
            (S::TokenRevoked.into(), 401, "token_revoked"),
            (S::InvalidClient.into(), 401, "invalid_client"),
            (S::RefreshTokenReused.into(), 401, "refresh_token_reused"),
            (
                S::RateLimited {
                    retry_after: Duration::from_millis(1500),
                }
                .into(),
                429,
                "rate_limited",
            ),
            (S::NotFound.into(), 404, "not_found"),
            (S::Forbidden.into(), 403, "forbidden"),
            (
                S::AccountBanned { until: None }.into(),
                403,
                "account_banned",
            ),
            (S::LastAdmin.into(), 409, "last_admin"),
            (S::InvalidPasskey.into(), 401, "invalid_passkey"),
            (S::PasskeyLimit(10).into(), 409, "passkey_limit"),
            (S::PasskeysOff.into(), 404, "passkeys_off"),
            (S::LastSignInMethod.into(), 409, "last_sign_in_method"),
            (S::CannotBanSelf.into(), 409, "cannot_ban_yourself"),
            (S::InvalidMfaCode.into(), 401, "invalid_mfa_code"),
            (S::InvalidMfaToken.into(), 401, "invalid_mfa_token"),
            (S::MfaAlreadyEnabled.into(), 409, "mfa_already_enabled"),
            (S::MfaNotEnabled.into(), 409, "mfa_not_enabled"),
            (S::MfaNotPending.into(), 409, "mfa_not_pending"),
            (
                S::Unavailable {
                    what: "token store",
                    detail: "down".into(),
                }
                .into(),
                503,
                "service_unavailable",
            ),
            (S::Overloaded.into(), 503, "service_unavailable"),
            (S::internal("secret cause").into(), 500, "internal_error"),
            (ApiError::MalformedJson("eof".into()), 400, "malformed_json"),
            (ApiError::InvalidBody(vec![]), 422, "validation_failed"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (ApiError::NotAForm, 415, "unsupported_media_type"),
            (ApiError::PayloadTooLarge, 413, "payload_too_large"),
            (ApiError::RouteNotFound, 404, "not_found"),
            (ApiError::MethodNotAllowed, 405, "method_not_allowed"),
            (ApiError::TokenMissing, 401, "token_missing"),
            (ApiError::RequestTimeout, 408, "request_timeout"),
            (
                ApiError::CorsRejected("origin".into()),
                400,
                "cors_rejected",
            ),
            (
                ApiError::NotReady(serde_json::json!({})),
                503,
                "service_unavailable",
            ),
        ];
        for (e, status, code) in cases {
            check(e, status, code);
        }
    }

    #[test]
    fn unauthorized_carries_a_bearer_challenge_and_waits_carry_retry_after() {
        let res = check(ApiError::TokenMissing, 401, "token_missing");
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_some());
        let res = check(
            ServiceError::RateLimited {
                retry_after: Duration::from_millis(1500),
            }
            .into(),
            429,
            "rate_limited",
        );
        assert_eq!(
            res.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }

    #[test]
    fn a_500_body_never_shows_the_cause() {
        let res = ApiError::from(ServiceError::internal("db password is hunter2")).error_response();
        let bytes = res.into_body().try_into_bytes().unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
    }
}
