//! The password hash: bcrypt or argon2id, chosen by `PASSWORD_HASH`. A stored hash names its
//! own algorithm and parameters (`$2b$12$…`, `$argon2id$v=19$m=19456,t=2,p=1$…`), so any of
//! them verifies whatever the current setting; one that differs from it is out of date.

use argon2::Params;

use super::argon::{self, MemoryPool};

/// OWASP's password storage guidance: bcrypt's lowest cost, and argon2id's lowest memory
/// (KiB) for each number of iterations (1 to 5; more iterations keep the 5's memory).
pub const OWASP_BCRYPT_COST: u32 = 10;
const OWASP_ARGON2_MEMORY_KIB: [u32; 5] = [47_104, 19_456, 12_288, 9_216, 7_168];

/// How new passwords are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordScheme {
    Bcrypt {
        cost: u32,
    },
    Argon2id {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
}

impl Default for PasswordScheme {
    fn default() -> Self {
        Self::Bcrypt { cost: 12 }
    }
}

impl PasswordScheme {
    /// argon2id at OWASP's first recommendation: 19 MiB, 2 iterations, 1 lane.
    pub const ARGON2ID_OWASP: Self = Self::Argon2id {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// What is weaker than OWASP's minimum, in one line; `None` if nothing.
    pub fn below_owasp_minimum(&self) -> Option<String> {
        match *self {
            Self::Bcrypt { cost } if cost < OWASP_BCRYPT_COST => Some(format!(
                "BCRYPT_COST={cost} is below OWASP's minimum of {OWASP_BCRYPT_COST}"
            )),
            Self::Bcrypt { .. } => None,
            Self::Argon2id {
                memory_kib,
                iterations,
                ..
            } => {
                let at = iterations.clamp(1, 5) as usize - 1;
                let least = OWASP_ARGON2_MEMORY_KIB[at];
                (iterations == 0 || memory_kib < least).then(|| {
                    format!(
                        "ARGON2_MEMORY_KIB={memory_kib} with ARGON2_ITERATIONS={iterations} is below \
                         OWASP's minimum ({least} KiB at that many iterations)"
                    )
                })
            }
        }
    }

    /// The memory one hash takes, in KiB (bcrypt's 4 KiB is left out).
    pub fn memory_kib(&self) -> u32 {
        match *self {
            Self::Bcrypt { .. } => 0,
            Self::Argon2id { memory_kib, .. } => memory_kib,
        }
    }

    fn argon2_params(&self) -> Result<Option<Params>, String> {
        match *self {
            Self::Bcrypt { .. } => Ok(None),
            Self::Argon2id {
                memory_kib,
                iterations,
                parallelism,
            } => Params::new(memory_kib, iterations, parallelism, None)
                .map(Some)
                .map_err(|e| format!("argon2id parameters: {e}")),
        }
    }

    /// Checks the parameters can hash at all (at start-up).
    pub fn validate(&self) -> Result<(), String> {
        self.argon2_params().map(drop)
    }

    /// Hashes `plain` with a fresh salt. Blocking: a bcrypt's or an argon2id's time. (A
    /// `Passwords` hashes with memory it keeps between hashes.)
    pub fn hash(&self, plain: &str) -> Result<String, String> {
        self.hash_with(&MemoryPool::default(), plain)
    }

    /// As [`PasswordScheme::hash`], argon2id's memory borrowed from `pool`.
    pub(crate) fn hash_with(&self, pool: &MemoryPool, plain: &str) -> Result<String, String> {
        match (*self, self.argon2_params()?) {
            (Self::Bcrypt { cost }, _) => {
                bcrypt::hash(plain, cost).map_err(|e| format!("bcrypt: {e}"))
            }
            (Self::Argon2id { .. }, Some(params)) => argon::hash(pool, plain, &params),
            (Self::Argon2id { .. }, None) => Err("argon2id without parameters".into()),
        }
    }

    /// True if `plain` matches `stored`, by the algorithm and parameters `stored` names. A
    /// malformed or unknown hash matches nothing. Blocking.
    pub(crate) fn verify(&self, pool: &MemoryPool, plain: &str, stored: &str) -> bool {
        if stored.starts_with("$argon2") {
            // The memory of this scheme's own hashes is kept for the next one.
            let keep = self.memory_kib() as usize;
            argon::verify(pool, plain, stored, keep)
        } else if stored.starts_with("$2") {
            bcrypt::verify(plain, stored).unwrap_or(false)
        } else {
            false
        }
    }

    /// True if `stored` was made by this scheme with these parameters; otherwise a
    /// successful login hashes the password again.
    pub fn is_current(&self, stored: &str) -> bool {
        match *self {
            Self::Bcrypt { cost } => {
                // `$2b$12$<salt and hash>`
                let mut parts = stored.split('$');
                let (empty, variant, found) = (parts.next(), parts.next(), parts.next());
                empty == Some("")
                    && variant.is_some_and(|v| v.starts_with('2'))
                    && found.and_then(|c| c.parse::<u32>().ok()) == Some(cost)
            }
            Self::Argon2id {
                memory_kib,
                iterations,
                parallelism,
            } => argon2::PasswordHash::new(stored).is_ok_and(|hash| {
                hash.algorithm.as_str() == "argon2id"
                    && hash.version == Some(0x13)
                    && Params::try_from(&hash).is_ok_and(|p| {
                        (p.m_cost(), p.t_cost(), p.p_cost())
                            == (memory_kib, iterations, parallelism)
                    })
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP_ARGON2: PasswordScheme = PasswordScheme::Argon2id {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn each_hash_names_its_algorithm_and_verifies_under_any_setting() {
        let pool = MemoryPool::default();
        let bcrypt = PasswordScheme::Bcrypt { cost: 4 };
        let b = bcrypt.hash_with(&pool, "correct horse").unwrap_or_default();
        let a = CHEAP_ARGON2
            .hash_with(&pool, "correct horse")
            .unwrap_or_default();
        assert!(b.starts_with("$2b$04$"), "{b}");
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        for stored in [&b, &a] {
            for setting in [bcrypt, CHEAP_ARGON2] {
                assert!(setting.verify(&pool, "correct horse", stored));
                assert!(!setting.verify(&pool, "correct horsf", stored));
            }
        }
        assert!(!bcrypt.verify(&pool, "correct horse", "plain text"));
        assert!(!bcrypt.verify(&pool, "correct horse", "$argon2id$garbage"));
    }

    #[test]
    fn a_hash_is_current_only_under_its_own_algorithm_and_parameters() {
        let b4 = PasswordScheme::Bcrypt { cost: 4 };
        let b5 = PasswordScheme::Bcrypt { cost: 5 };
        let pool = MemoryPool::default();
        let b = b4.hash_with(&pool, "pw").unwrap_or_default();
        let a = CHEAP_ARGON2.hash_with(&pool, "pw").unwrap_or_default();
        assert!(b4.is_current(&b));
        assert!(
            !b5.is_current(&b),
            "a raised cost makes older hashes out of date"
        );
        assert!(!CHEAP_ARGON2.is_current(&b));
        assert!(CHEAP_ARGON2.is_current(&a));
        assert!(!b4.is_current(&a));
        let more_memory = PasswordScheme::Argon2id {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
        };
        assert!(!more_memory.is_current(&a));
    }

    #[test]
    fn settings_below_owasp_are_named() {
        assert!(PasswordScheme::Bcrypt { cost: 10 }
            .below_owasp_minimum()
            .is_none());
        assert!(PasswordScheme::Bcrypt { cost: 9 }
            .below_owasp_minimum()
            .is_some_and(|l| l.contains("BCRYPT_COST=9")));
        assert!(PasswordScheme::ARGON2ID_OWASP
            .below_owasp_minimum()
            .is_none());
        let lighter = |memory_kib, iterations| PasswordScheme::Argon2id {
            memory_kib,
            iterations,
            parallelism: 1,
        };
        // OWASP's equivalent settings trade memory for iterations.
        assert!(lighter(12_288, 3).below_owasp_minimum().is_none());
        assert!(lighter(7_168, 9).below_owasp_minimum().is_none());
        assert!(lighter(19_455, 2).below_owasp_minimum().is_some());
        assert!(lighter(19_456, 1).below_owasp_minimum().is_some());
        assert!(CHEAP_ARGON2.below_owasp_minimum().is_some());
    }
}
