//! HTTP layer: actix-web routes, extractors, the error-to-HTTP mapping, configuration and
//! start-up. It may import `services` only: it never names a row struct, never runs a
//! query or a Redis command.

pub mod app;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
