//! `/api/admin`: accounts and the audit trail, for admins. Every handler parses its input,
//! then asks the admin service whether the caller is an admin now
//! ([`services::admin::Admin::authorize`]), then acts.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use services::admin::{Acting, AdminUser, AdminUserDetail, AdminUserPage, UserQuery};
use services::audit::{AuditEntry, AuditFilter, AuditKind};
use services::{paging, FieldError, Services};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Client, JsonBody};

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(
    paths(users, user, ban, lift_ban, end_sessions, reset_mfa, set_role, delete_user, audit),
    components(schemas(AuditPage)),
    tags((name = "admin", description = "Accounts and the audit trail, for admins"))
)]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/admin/users").route(web::get().to(users)))
        .service(
            resource("/api/admin/users/{id}")
                .route(web::get().to(user))
                .route(web::delete().to(delete_user)),
        )
        .service(
            resource("/api/admin/users/{id}/ban")
                .route(web::post().to(ban))
                .route(web::delete().to(lift_ban)),
        )
        .service(resource("/api/admin/users/{id}/sessions").route(web::delete().to(end_sessions)))
        .service(resource("/api/admin/users/{id}/mfa").route(web::delete().to(reset_mfa)))
        .service(resource("/api/admin/users/{id}/role").route(web::put().to(set_role)))
        .service(resource("/api/admin/audit").route(web::get().to(audit)));
}

/// An account id from the path: one this API could have made, else 404 (before anything
/// else, like a route that does not exist).
fn account_id(raw: &str) -> Result<String, ApiError> {
    services::domain::Id::parse(raw)
        .map(|id| id.to_string())
        .ok_or(ApiError::Service(services::ServiceError::NotFound))
}

/// The admin acting, once the service has let it through.
async fn admin(services: &Services, auth: &Auth, client: Client) -> Result<Acting, ApiError> {
    services.admin.authorize(&auth.0).await?;
    Ok(Acting {
        admin_id: Some(auth.0.user_id.clone()),
        client: client.0,
    })
}

/// The account search. Values are checked by the service so each gets a field message.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// A prefix of the username or the email address, any case.
    pub query: Option<String>,
    /// `active`, `banned` or `unverified`.
    pub status: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A ban: until a time, or until lifted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// When the ban lifts itself (RFC 3339, in the future); `null`: until lifted.
    #[schema(value_type = Option<String>, format = DateTime, example = "2027-01-01T00:00:00Z")]
    pub until: Option<DateTime<Utc>>,
    /// Why, for the audit trail (at most 500 characters).
    #[schema(example = "spam", max_length = 500)]
    pub reason: Option<String>,
}

/// A role to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `user` or `admin`.
    #[schema(example = "admin")]
    pub role: String,
}

/// The audit list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events about this account.
    pub user_id: Option<String>,
    /// Events this account caused.
    pub actor_id: Option<String>,
    /// One kind (`signed_in`, `admin_banned`, ...).
    pub kind: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Events before this time (RFC 3339).
    pub until: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of audit events, newest first; pass `next_cursor` as `cursor` for older ones.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

fn time(field: &str, raw: Option<String>) -> Result<Option<chrono::NaiveDateTime>, FieldError> {
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(raw)
            .map(|t| Some(t.naive_utc()))
            .map_err(|_| FieldError::new(field, "must be an RFC 3339 time")),
    }
}

/// The accounts, oldest first, searched by username or address prefix.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(UsersQuery),
    responses((status = 200, description = "A page", body = AdminUserPage),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: bad `limit`, `cursor`, `status` or `query`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn users(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let input = UserQuery {
        limit: paging::limit(q.limit.as_deref())?,
        cursor: paging::cursor(q.cursor.as_deref())?,
        query: q.query,
        status: q.status,
    };
    admin(&services, &auth, client).await?;
    Ok(HttpResponse::Ok().json(services.admin.search(&auth.0, input).await?))
}

/// One account and its live sessions.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")),
    responses((status = 200, description = "The account", body = AdminUserDetail),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn user(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    admin(&services, &auth, client).await?;
    Ok(HttpResponse::Ok().json(services.admin.user(&id).await?))
}

/// Bans an account: every session of it ends at once; its right password then answers 403
/// `account_banned`, a wrong one still 401.
#[utoipa::path(post, path = "/api/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")), request_body = BanRequest,
    responses((status = 200, description = "The account, banned", body = AdminUser),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin` or `cannot_ban_yourself`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn ban(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
    body: JsonBody<BanRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    let b = body.0;
    Ok(HttpResponse::Ok().json(services.admin.ban(&by, &id, b.until, b.reason).await?))
}

/// Lifts an account's ban.
#[utoipa::path(delete, path = "/api/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")),
    responses((status = 200, description = "The account, not banned", body = AdminUser),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn lift_ban(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    Ok(HttpResponse::Ok().json(services.admin.lift_ban(&by, &id).await?))
}

/// Ends every session of an account.
#[utoipa::path(delete, path = "/api/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")),
    responses((status = 204, description = "Every session ended"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn end_sessions(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    services.admin.end_sessions(&by, &id).await?;
    Ok(no_content())
}

/// Turns an account's second factor off (a lost device) and ends its sessions; the owner is
/// mailed a notice.
#[utoipa::path(delete, path = "/api/admin/users/{id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")),
    responses((status = 204, description = "The second factor is off"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enabled`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn reset_mfa(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    services.admin.reset_mfa(&by, &id).await?;
    Ok(no_content())
}

/// Gives an account a role: `user` or `admin`.
#[utoipa::path(put, path = "/api/admin/users/{id}/role", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")), request_body = RoleRequest,
    responses((status = 200, description = "The account", body = AdminUser),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn set_role(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
    body: JsonBody<RoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    Ok(HttpResponse::Ok().json(services.admin.set_role(&by, &id, &body.0.role).await?))
}

/// Deletes an account, its tasks and its sessions.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "An account id")),
    responses((status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn delete_user(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = account_id(&id)?;
    let by = admin(&services, &auth, client).await?;
    services.admin.delete(&by, &id).await?;
    Ok(no_content())
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "A page", body = AuditPage),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a bad filter, `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn audit(
    services: web::Data<Services>,
    auth: Auth,
    client: Client,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            AuditKind::parse(k).ok_or_else(|| FieldError::new("kind", "is not a kind of event"))?,
        ),
    };
    let id = |field: &str, raw: Option<String>| match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(raw) => {
            paging::cursor(Some(raw)).map_err(|_| FieldError::new(field, "is not an account id"))
        }
    };
    let filter = AuditFilter {
        user_id: id("user_id", q.user_id)?,
        actor_id: id("actor_id", q.actor_id)?,
        kind,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
        cursor: paging::cursor(q.cursor.as_deref())?,
        limit: paging::limit(q.limit.as_deref())?,
    };
    admin(&services, &auth, client).await?;
    let page = services.audit.search(filter).await?;
    Ok(HttpResponse::Ok().json(AuditPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
