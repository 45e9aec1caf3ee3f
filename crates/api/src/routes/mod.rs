//! The routes, one file per resource. Handlers parse HTTP, call one service, and shape the
//! answer; the rules live in the services.

pub mod auth;
pub mod docs;
pub mod health;
pub mod tasks;
pub mod users;

use actix_web::{web, HttpResponse, Resource};

use crate::error::ApiError;

/// A resource whose unmatched methods answer 405 as problem+json.
pub(crate) fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    docs::configure(cfg);
    auth::configure(cfg);
    users::configure(cfg);
    tasks::configure(cfg);
}

/// A 204 answer.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
