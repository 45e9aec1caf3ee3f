//! The routes, one file per resource. Handlers parse HTTP, call one service, and shape the
//! answer; the rules live in the services.

pub mod admin;
pub mod auth;
pub mod docs;
pub mod health;
pub mod introspect;
pub mod mfa;
pub mod oidc;
pub mod passkeys;
pub mod recovery;
pub mod tasks;
pub mod users;
pub mod wellknown;

use actix_web::{web, HttpResponse, Resource};
use utoipa::OpenApi;

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
    wellknown::configure(cfg);
    docs::configure(cfg);
    auth::configure(cfg);
    introspect::configure(cfg);
    recovery::configure(cfg);
    mfa::configure(cfg);
    passkeys::configure(cfg);
    oidc::configure(cfg);
    users::configure(cfg);
    tasks::configure(cfg);
    admin::configure(cfg);
    configure_resources(cfg);
}

/// Every route module's part of the OpenAPI document (its operations and its tag), in the
/// order of [`configure`].
pub(crate) fn documents() -> Vec<utoipa::openapi::OpenApi> {
    let mut docs = vec![
        health::Doc::openapi(),
        wellknown::Doc::openapi(),
        auth::Doc::openapi(),
        introspect::Doc::openapi(),
        recovery::Doc::openapi(),
        mfa::Doc::openapi(),
        passkeys::Doc::openapi(),
        oidc::Doc::openapi(),
        users::Doc::openapi(),
        tasks::Doc::openapi(),
        admin::Doc::openapi(),
    ];
    docs.extend(resource_documents());
    docs
}

// The generated resources' routes (the list is the workspace's resources.rs): a module
// each, which routes and documents itself.
include!("../../../../resources.rs");
macro_rules! resource_routes {
    ($($name:ident: $service:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// The generated resources' routes.
        #[allow(unused_variables)]
        fn configure_resources(cfg: &mut web::ServiceConfig) {
            $($name::configure(cfg);)*
        }

        /// The generated resources' parts of the OpenAPI document.
        fn resource_documents() -> Vec<utoipa::openapi::OpenApi> {
            vec![$($name::Doc::openapi()),*]
        }
    };
}
with_resources!(resource_routes);

/// For a nullable field of a partial update: keeps "absent" (`None`, leave it alone) apart
/// from "null" (`Some(None)`, clear it).
pub(crate) fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A 204 answer.
pub(crate) fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}
