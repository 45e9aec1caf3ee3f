//! Sign-in with OpenID Connect providers: the redirect to the provider, its redirect
//! back, and the page's trade of a one-time code for the token pair.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use services::oidc::{Callback, IdentityView, Started};
use services::{Services, SignIn, TokenPair};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Client, JsonBody};

/// The cookie binding a flow to the browser that started it, on an https site: `__Host-`
/// makes the browser refuse one set by a sibling subdomain or over plain http (a cookie
/// planted to steer the flow).
const FLOW_COOKIE_SECURE: &str = "__Host-strata_oidc";

/// The same on a plain-http site (development), where `__Host-` cannot be used.
const FLOW_COOKIE_PLAIN: &str = "strata_oidc";

/// This module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(providers, authorize, callback, token, identities, link, unlink))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/auth/oidc/providers").route(web::get().to(providers)))
        .service(resource("/api/auth/oidc/token").route(web::post().to(token)))
        .service(resource("/api/auth/oidc/{provider}/authorize").route(web::get().to(authorize)))
        .service(resource("/api/auth/oidc/{provider}/callback").route(web::get().to(callback)))
        .service(resource("/api/users/me/identities").route(web::get().to(identities)))
        .service(
            resource("/api/users/me/identities/{id}")
                .route(web::post().to(link))
                .route(web::delete().to(unlink)),
        );
}

/// A provider the page shows a button for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    /// What the routes call it.
    #[schema(example = "google")]
    pub name: String,
    #[schema(example = "Google")]
    pub display_name: String,
    /// Whether its discovery document is at hand (`false`: its routes answer 503).
    pub up: bool,
}

/// Where the page wants to be sent back to.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// A path of this site (default `/`).
    #[param(max_length = 512)]
    pub return_to: Option<String>,
}

/// What the provider's redirect brings back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's refusal, when there is one.
    pub error: Option<String>,
    /// The issuer that answered (RFC 9207).
    pub iss: Option<String>,
}

/// The one-time code from the page's URL fragment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcTokenRequest {
    #[schema(max_length = 64)]
    pub code: String,
}

/// The configured providers.
#[utoipa::path(get, path = "/api/auth/oidc/providers", tag = "auth",
    responses((status = 200, description = "Each provider, for a button", body = [ProviderView])))]
pub async fn providers(services: web::Data<Services>) -> HttpResponse {
    let statuses = services.oidc.providers().statuses();
    let list: Vec<ProviderView> = services
        .oidc
        .providers()
        .listed()
        .into_iter()
        .map(|(name, display_name)| ProviderView {
            up: statuses.iter().any(|s| s.name == name && s.up),
            name,
            display_name,
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// Starts a sign-in with a provider: a redirect to it, and a short-lived cookie that binds
/// the flow to this browser.
#[utoipa::path(get, path = "/api/auth/oidc/{provider}/authorize", tag = "auth",
    params(("provider" = String, Path, description = "A name of `OIDC_PROVIDERS`"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider (`state`, `nonce`, PKCE S256)"),
        (status = 404, description = "`not_found`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `return_to` is not a path of this site", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many starts from this address (`OIDC_STARTS_PER_MINUTE`)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::Unavailable,
    ))]
pub async fn authorize(
    services: web::Data<Services>,
    client: Client,
    provider: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    let started = services
        .oidc
        .start(&provider, query.return_to.as_deref(), &client.0)
        .await?;
    let cookie = started_cookie(&services, &started);
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, started.location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

/// A started flow's cookie, for as long as the flow waits.
fn started_cookie(services: &Services, started: &Started) -> Cookie<'static> {
    let ttl = services.oidc.flow_ttl().as_secs();
    let age = CookieAge::seconds(i64::try_from(ttl).unwrap_or(600));
    flow_cookie(services, started.browser.clone(), age)
}

/// What a link is proven by, and where the page wants to be sent back to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The password again; an account without one instead needs a sign-in of the last
    /// ten minutes.
    #[schema(format = Password)]
    pub password: Option<String>,
    /// A path of this site (default `/`).
    #[schema(max_length = 512)]
    pub return_to: Option<String>,
}

/// Where the page sends the browser to link a provider's account.
#[derive(Serialize, ToSchema)]
pub struct LinkStarted {
    /// The provider's authorization URL; the flow ends on the page with `#oidc_linked=…`
    /// or `#oidc_error=…`.
    pub location: String,
}

/// The caller's identities at providers.
#[utoipa::path(get, path = "/api/users/me/identities", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "Oldest first", body = [IdentityView]),
        (status = 401, description = "A token error", body = Problem, content_type = "application/problem+json"),
        crate::openapi::Unavailable,
    ))]
pub async fn identities(
    services: web::Data<Services>,
    auth: Auth,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.oidc.identities(&auth.0).await?))
}

/// Starts linking an account at a provider to the caller's: the URL to send the browser
/// to, and the flow's cookie.
#[utoipa::path(post, path = "/api/users/me/identities/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The provider's name (a name of `OIDC_PROVIDERS`)")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Where to send the browser", body = LinkStarted),
        (status = 401, description = "`invalid_credentials` (wrong or missing password) or a token error", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such provider", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong passwords", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn link(
    services: web::Data<Services>,
    auth: Auth,
    provider: web::Path<String>,
    body: JsonBody<LinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let started = services
        .oidc
        .start_link(
            &auth.0,
            &provider,
            b.password.as_deref(),
            b.return_to.as_deref(),
        )
        .await?;
    let cookie = started_cookie(&services, &started);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .json(LinkStarted {
            location: started.location,
        }))
}

/// Unlinks one of the caller's identities, unless it is the account's last way to sign in.
#[utoipa::path(delete, path = "/api/users/me/identities/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The identity's id")),
    responses(
        (status = 204, description = "Unlinked; a notice is mailed"),
        (status = 401, description = "A token error", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such identity of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_sign_in_method`: no password, passkey or other identity would be left", body = Problem, content_type = "application/problem+json"),
        crate::openapi::Unavailable,
    ))]
pub async fn unlink(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services.oidc.unlink(&auth.0, &id, &client.0).await?;
    Ok(no_content())
}

/// The provider's redirect back: to the page, with a one-time code in the URL fragment,
/// or the reason there is none (`#oidc_error=…`). Never tokens.
#[utoipa::path(get, path = "/api/auth/oidc/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "A name of `OIDC_PROVIDERS`"), CallbackQuery),
    responses(
        (status = 302, description = "To the page: `#oidc_code=…` or `#oidc_error=…`"),
        (status = 404, description = "`not_found`: no such provider", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn callback(
    services: web::Data<Services>,
    provider: web::Path<String>,
    query: web::Query<CallbackQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !services.oidc.knows(&provider) {
        return Err(services::ServiceError::NotFound.into());
    }
    let q = query.into_inner();
    let callback = Callback {
        code: q.code,
        state: q.state,
        error: q.error,
        iss: q.iss,
    };
    let browser = flow_cookie_value(&services, &request);
    let landing = services
        .oidc
        .finish(&provider, callback, browser.as_deref())
        .await;
    let mut answer = HttpResponse::Found();
    answer
        .insert_header((header::LOCATION, landing.location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    // A code is traded by this browser only: its cookie stays until then.
    if !landing.signed_in {
        answer.cookie(flow_cookie(&services, String::new(), CookieAge::ZERO));
    }
    Ok(answer.finish())
}

/// Trades the one-time code of a provider's sign-in for a session's tokens (once, within
/// a minute); an account with a second factor gets its challenge instead.
#[utoipa::path(post, path = "/api/auth/oidc/token", tag = "auth", request_body = OidcTokenRequest,
    responses(
        (status = 200, description = "A new session's tokens", body = TokenPair),
        (status = 400, description = "`invalid_or_expired_token`: an unknown, used or stale code", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`mfa_required` (with `mfa_token`), or `account_banned`", body = crate::error::SecondFactorRequired, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::Unavailable,
    ))]
pub async fn token(
    services: web::Data<Services>,
    client: Client,
    request: HttpRequest,
    body: JsonBody<OidcTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let browser = flow_cookie_value(&services, &request);
    let mut answer = match services
        .oidc
        .redeem(&body.0.code, browser.as_deref(), client.0)
        .await?
    {
        SignIn::Complete(pair) => tokens(pair),
        SignIn::SecondFactor(challenge) => crate::error::second_factor_required(&challenge),
    };
    let gone = flow_cookie(&services, String::new(), CookieAge::ZERO);
    answer
        .add_cookie(&gone)
        .map_err(|e| ApiError::from(services::ServiceError::internal_from("a cookie", e)))?;
    Ok(answer)
}

fn tokens(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pair)
}

/// Whether the site is https (its cookie is then `Secure` and `__Host-`).
fn secure_site(services: &Services) -> bool {
    !services.oidc.public_url().starts_with("http://")
}

/// The flow's cookie as this browser sent it.
fn flow_cookie_value(services: &Services, request: &HttpRequest) -> Option<String> {
    let name = if secure_site(services) {
        FLOW_COOKIE_SECURE
    } else {
        FLOW_COOKIE_PLAIN
    };
    request.cookie(name).map(|c| c.value().to_owned())
}

/// The flow's cookie: `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a
/// top-level GET, which Lax lets through), path `/` (as `__Host-` requires), `Secure` on
/// an https site.
fn flow_cookie(services: &Services, value: String, age: CookieAge) -> Cookie<'static> {
    let secure = secure_site(services);
    let name = if secure {
        FLOW_COOKIE_SECURE
    } else {
        FLOW_COOKIE_PLAIN
    };
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(age)
        .finish()
}
