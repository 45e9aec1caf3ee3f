use std::fmt;

/// What stands between strata and PostgreSQL: nothing, or a pooler that hands each
/// transaction whichever server connection is free (PgBouncer's `pool_mode = transaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// strata's own connections reach the server: statements are prepared once per
    /// connection and kept, and each connection gets its session settings.
    #[default]
    Direct,
    /// A transaction pooler. A server connection outlives the client's use of it, so no
    /// statement stays prepared under a name (another client would find it, or miss it)
    /// and no session setting is sent (the next client would inherit it).
    PgBouncer,
}

impl Pooler {
    /// Reads `DATABASE_POOLER`: `none` (or empty) or `pgbouncer`.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "none" | "direct" => Ok(Pooler::Direct),
            "pgbouncer" => Ok(Pooler::PgBouncer),
            other => Err(format!(
                "must be none or pgbouncer (a transaction pooler), not {:?}",
                other.chars().take(32).collect::<String>()
            )),
        }
    }

    /// True when statements may not be kept prepared on a connection.
    pub fn forbids_session_state(self) -> bool {
        self == Pooler::PgBouncer
    }
}

impl fmt::Display for Pooler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pooler::Direct => "direct connections (prepared statements cached)",
            Pooler::PgBouncer => {
                "through a transaction pooler (no prepared-statement cache, no session settings)"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pooler_names_are_few_and_a_typo_is_refused() {
        assert_eq!(Pooler::parse(""), Ok(Pooler::Direct));
        assert_eq!(Pooler::parse("none"), Ok(Pooler::Direct));
        assert_eq!(Pooler::parse(" PgBouncer "), Ok(Pooler::PgBouncer));
        assert!(Pooler::parse("pgbounce").is_err());
    }
}
