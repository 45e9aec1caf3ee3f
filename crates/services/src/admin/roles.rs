//! `api admin grant` and `api admin revoke`: the command line makes the first admin (there
//! is no other way to become one) and unmakes admins, with the database alone.

use domain::{Email, Username};
use repos::{AdminRepo, UserRecord, UserRepo};
use serde_json::json;

use crate::audit::{event, AuditKind};
use crate::client::ClientInfo;
use crate::ServiceError;

/// Roles by username or address, for the command line.
#[derive(Clone)]
pub struct Roles {
    users: UserRepo,
    repo: AdminRepo,
    /// `ADMIN_REQUIRE_SECOND_FACTOR`: only an account with a second factor becomes admin.
    require_second_factor: bool,
}

impl Roles {
    pub(crate) fn new(users: UserRepo, repo: AdminRepo, require_second_factor: bool) -> Self {
        Self {
            users,
            repo,
            require_second_factor,
        }
    }

    /// Gives the account `name_or_email` names the role `role` (`admin` or `user`); the
    /// audit trail records it with no actor and `via: cli`.
    pub async fn set(&self, name_or_email: &str, role: &str) -> Result<UserRecord, ServiceError> {
        if ![repos::users::ADMIN, repos::users::USER].contains(&role) {
            return Err(ServiceError::invalid("role", "must be user or admin"));
        }
        let user = self.find(name_or_email).await?;
        if role == repos::users::ADMIN && self.require_second_factor && !user.mfa_enabled {
            return Err(ServiceError::invalid("role", super::SECOND_FACTOR_FIRST));
        }
        let record = event(
            AuditKind::AdminRoleChanged,
            None,
            Some(&user.id),
            &ClientInfo::default(),
            json!({ "role": role, "via": "cli" }),
        );
        Ok(self
            .repo
            .set_role(&user.id, role, repos::now_utc(), record)
            .await?)
    }

    /// The account a username or an address names.
    async fn find(&self, name_or_email: &str) -> Result<UserRecord, ServiceError> {
        let key = name_or_email.trim().to_lowercase();
        let found = if key.contains('@') {
            match Email::parse(&key) {
                Ok(email) => self.users.find_by_email(&email).await?,
                Err(_) => None,
            }
        } else {
            match Username::parse(&key) {
                Ok(name) => self.users.find_by_username(&name).await?,
                Err(_) => None,
            }
        };
        found.ok_or(ServiceError::NotFound)
    }
}
