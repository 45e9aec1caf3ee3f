//! Accounts and sessions over real repositories, one file per behaviour: registration,
//! login and its rate limits, authentication, refresh with rotation and reuse detection,
//! logout and sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod authenticate;
#[path = "../common/mod.rs"]
mod common;
mod login;
mod refresh;
mod register;
mod sessions;

use std::time::Duration;

use common::{fields, init, init_with, test_settings, Fixture, PASSWORD};

use services::{AuthSettings, ClientInfo, LoginInput, ServiceError};

fn login_by(username: Option<&str>, email: Option<&str>, password: &str) -> LoginInput {
    LoginInput {
        username: username.map(str::to_owned),
        email: email.map(str::to_owned),
        password: password.to_owned(),
    }
}
