//! The admin section: who may use the admin routes, and how long the audit trail is kept.

use std::time::Duration;

use super::{AppEnv, Reader};

impl Reader<'_> {
    /// `ADMIN_REQUIRE_SECOND_FACTOR` (default: on in production) and `AUDIT_RETENTION`
    /// (default 365 days; at least one second).
    pub(super) fn admin(&mut self, app_env: AppEnv) -> (bool, Duration) {
        let second_factor = self.parse(
            "ADMIN_REQUIRE_SECOND_FACTOR",
            app_env == AppEnv::Production,
            |v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("{v:?} must be true or false")),
            },
        );
        let retention = self.duration("AUDIT_RETENTION", Duration::from_secs(365 * 24 * 3600));
        if retention < Duration::from_secs(1) {
            self.errors
                .push("AUDIT_RETENTION: must be at least 1s".into());
        }
        (second_factor, retention)
    }
}
