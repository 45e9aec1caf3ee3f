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

/// `/ready`'s answer: `ready`, or `degraded` when a read replica is lagging or down (its
/// reads go to the primary meanwhile) or an OpenID provider cannot be reached (only its
/// sign-ins fail).
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Each read replica, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaView>,
    /// Each OpenID provider, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub oidc_providers: Vec<OidcProviderView>,
}

/// An OpenID provider as `/ready` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcProviderView {
    #[schema(example = "google")]
    pub name: String,
    /// `up`, or `down` (its discovery document could not be fetched: its routes answer 503).
    #[schema(example = "up")]
    pub state: &'static str,
}

/// A read replica as `/ready` shows it: by its place, never its address (`/ready` is
/// open to anyone who can reach the port).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaView {
    /// Its place in `DATABASE_REPLICA_URLS`, from 0.
    pub replica: usize,
    /// `serving`, `lagging` (behind `REPLICA_MAX_LAG`) or `down`.
    #[schema(example = "serving")]
    pub state: &'static str,
    /// How far behind the primary it was at its last check, when it answered.
    pub lag_ms: Option<u64>,
}

impl From<services::health::ReplicaStatus> for ReplicaView {
    fn from(r: services::health::ReplicaStatus) -> Self {
        use services::health::ReplicaState as S;
        let lag_ms = match r.state {
            S::Serving { lag } | S::Lagging { lag } => {
                Some(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX))
            }
            S::Down => None,
        };
        Self {
            replica: r.index,
            state: r.state.label(),
            lag_ms,
        }
    }
}

/// The primary database and the token store both answer. Read replicas are reported but
/// never make the instance unready: their reads go to the primary.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready, or degraded (a replica lagging or down)", body = Readiness),
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
        let replicas: Vec<ReplicaView> = services
            .health
            .replicas()
            .into_iter()
            .map(ReplicaView::from)
            .collect();
        let oidc_providers: Vec<OidcProviderView> = services
            .oidc
            .providers()
            .statuses()
            .into_iter()
            .map(|p| OidcProviderView {
                name: p.name,
                state: if p.up { "up" } else { "down" },
            })
            .collect();
        let degraded = replicas.iter().any(|r| r.state != "serving")
            || oidc_providers.iter().any(|p| p.state != "up");
        return Ok(HttpResponse::Ok().json(Readiness {
            status: if degraded { "degraded" } else { "ready" },
            replicas,
            oidc_providers,
        }));
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
