//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use services::Services;
use utoipa::{OpenApi, ToSchema};

use super::resource;
use crate::error::ApiError;

/// `{"status":"ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(paths(health, ready), tags((name = "health", description = "Liveness and readiness")))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health").route(web::get().to(health)))
        .service(resource("/ready").route(web::get().to(ready)));
}

/// The process is alive. Touches no dependency.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Alive", body = Status)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// The database and the token store both answer.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "A dependency is down; `checks` names it", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn ready(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let (db, store) = tokio::join!(
        services.health.database_ready(),
        services.health.token_store_ready()
    );
    let state =
        |r: &Result<(), services::ServiceError>| if r.is_ok() { "ok" } else { "unavailable" };
    if db.is_ok() && store.is_ok() {
        return Ok(HttpResponse::Ok().json(Status { status: "ready" }));
    }
    for (name, r) in [("database", &db), ("token store", &store)] {
        if let Err(e) = r {
            tracing::warn!(dependency = name, error = %e, "not ready");
        }
    }
    Err(ApiError::NotReady(
        json!({ "database": state(&db), "token_store": state(&store) }),
    ))
}
