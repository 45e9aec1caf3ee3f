//! The password hash section: `PASSWORD_HASH` (bcrypt or argon2id) and its parameters,
//! held to OWASP's minimums in production, and argon2id's memory budget.

use services::PasswordScheme;

use super::{AppEnv, Reader};

/// Most memory all argon2id hashes running at once may take, unless set: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET_KIB: u64 = 256 * 1024;

impl Reader<'_> {
    /// Whether a login rehashes an out-of-date hash (`PASSWORD_REHASH`, default true).
    pub(super) fn password_rehash(&mut self) -> bool {
        self.parse("PASSWORD_REHASH", true, |v| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{v:?} must be true or false")),
        })
    }

    /// The scheme new hashes are made by, and the memory budget of the hash slots (KiB).
    pub(super) fn password(&mut self, app_env: AppEnv) -> (PasswordScheme, u64) {
        let kind = self.parse("PASSWORD_HASH", "bcrypt", |v| match v {
            "bcrypt" => Ok("bcrypt"),
            "argon2id" => Ok("argon2id"),
            _ => Err(format!("{v:?} must be bcrypt or argon2id")),
        });
        let cost = self.number("BCRYPT_COST", 12, 4..=31);
        let PasswordScheme::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } = PasswordScheme::ARGON2ID_OWASP
        else {
            unreachable!("argon2id's defaults are argon2id")
        };
        let memory_kib = self.number("ARGON2_MEMORY_KIB", memory_kib, 8..=4 * 1024 * 1024);
        let iterations = self.number("ARGON2_ITERATIONS", iterations, 1..=100);
        let parallelism = self.number("ARGON2_PARALLELISM", parallelism, 1..=64);
        let budget = self.number(
            "ARGON2_MEMORY_BUDGET_KIB",
            DEFAULT_MEMORY_BUDGET_KIB,
            8..=64 * 1024 * 1024,
        );
        let scheme = if kind == "argon2id" {
            PasswordScheme::Argon2id {
                memory_kib,
                iterations,
                parallelism,
            }
        } else {
            PasswordScheme::Bcrypt { cost }
        };
        if let Err(e) = scheme.validate() {
            self.errors.push(format!("ARGON2_MEMORY_KIB: {e}"));
        }
        if u64::from(scheme.memory_kib()) > budget {
            self.errors.push(format!(
                "ARGON2_MEMORY_KIB: one hash ({memory_kib} KiB) does not fit in ARGON2_MEMORY_BUDGET_KIB ({budget})"
            ));
        }
        if let (Some(line), AppEnv::Production) = (scheme.below_owasp_minimum(), app_env) {
            self.errors
                .push(format!("{line}; APP_ENV=production refuses it"));
        }
        (scheme, budget)
    }
}
