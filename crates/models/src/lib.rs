//! Models layer: the Diesel schema and one struct per row shape. Used only by `repos`.
//!
//! It imports Diesel and chrono, nothing of strata's. Ids are UUID v7 strings and times are
//! naive UTC timestamps truncated to microseconds, the common ground of the three backends.

pub mod schema;

mod audit_event;
mod identity;
mod mail;
mod passkey;
mod signing_key;
mod task;
mod user;

// The generated resources' tables and rows, a module each (the list is the workspace's
// resources.rs).
include!("../../../resources.rs");
macro_rules! resource_modules {
    ($($name:ident: $service:ident),* $(,)?) => { $(pub mod $name;)* };
}
with_resources!(resource_modules);

pub use audit_event::AuditEvent;
pub use identity::Identity;
pub use mail::{OneTimeToken, OutboxMail};
pub use passkey::Passkey;
pub use signing_key::SigningKey;
pub use task::{NewTask, Task};
pub use user::{Account, NewUser, User};
