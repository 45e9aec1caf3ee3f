//! Models layer: the Diesel schema and one struct per row shape. Used only by `repos`.
//!
//! It imports Diesel and chrono, nothing of strata's. Ids are UUID v7 strings and times are
//! naive UTC timestamps truncated to microseconds, the common ground of the three backends.

pub mod schema;

mod mail;
mod task;
mod user;

pub use mail::{OneTimeToken, OutboxMail};
pub use task::{NewTask, Task};
pub use user::{NewUser, User};
