//! The routes, one file per resource. Handlers parse HTTP, call one service, and shape the
//! answer; the rules live in the services.

pub mod auth;
pub mod docs;
pub mod health;
pub mod mfa;
pub mod recovery;
pub mod tasks;
pub mod users;

use actix_web::{web, HttpResponse, Resource};

use crate::error::ApiError;

/// A resource whose unmatched methods answer 405 as problem+json. Every route is made
/// here, so tests can list the route table (see [`registered`]).
pub(crate) fn resource(path: &str) -> Resource {
    #[cfg(test)]
    REGISTERED.with_borrow_mut(|paths| paths.push(path.to_owned()));
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

#[cfg(test)]
thread_local! {
    /// The paths [`resource`] made on this thread.
    static REGISTERED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The paths of every route [`configure`] registers.
#[cfg(test)]
pub(crate) fn registered() -> Vec<String> {
    REGISTERED.with_borrow_mut(std::mem::take);
    // `App::configure` runs `configure` at once.
    drop(actix_web::App::new().configure(configure));
    REGISTERED.with_borrow_mut(std::mem::take)
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    docs::configure(cfg);
    auth::configure(cfg);
    recovery::configure(cfg);
    mfa::configure(cfg);
    users::configure(cfg);
    tasks::configure(cfg);
}

/// A 204 answer.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
