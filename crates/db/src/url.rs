use std::fmt;

use crate::DbError;

/// The three SQL backends strata runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Postgres,
    Mysql,
    Sqlite,
}

impl Backend {
    /// The OpenTelemetry `db.system` name.
    pub fn system_name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL",
            Backend::Sqlite => "SQLite",
        })
    }
}

/// A parsed `DATABASE_URL`: the backend and the string its driver wants.
///
/// `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver receives: the URL for PostgreSQL and MySQL, a path for SQLite.
    target: String,
}

/// The default when `DATABASE_URL` is unset: a SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/strata.db";

impl DatabaseUrl {
    /// Reads the scheme and keeps the rest for the driver. Any scheme but postgres,
    /// postgresql, mysql and sqlite is refused, so a typo can never create a SQLite file.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let url = url.trim();
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" => Backend::Mysql,
            "sqlite" => Backend::Sqlite,
            _ => {
                return Err(DbError::UnsupportedUrl {
                    scheme: scheme.chars().take(32).collect(),
                })
            }
        };
        let target = match backend {
            Backend::Sqlite => sqlite_target(url)?,
            Backend::Postgres => postgres_target(url),
            Backend::Mysql => url.to_owned(),
        };
        Ok(Self { backend, target })
    }

    /// Which backend the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The string handed to the driver (contains the password, if any: never log it).
    pub fn expose(&self) -> &str {
        &self.target
    }

    /// True for a SQLite database that lives only in memory.
    pub fn is_sqlite_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.target.contains("mode=memory")
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", redact_url(&self.target))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.target))
    }
}

fn sqlite_target(url: &str) -> Result<String, DbError> {
    if url == "sqlite::memory:" {
        // A named shared-cache memory database, so every pooled connection sees the same data.
        let n: u64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return Ok(format!("file:strata-mem-{n}?mode=memory&cache=shared"));
    }
    let path = url.strip_prefix("sqlite://").ok_or_else(|| {
        DbError::InvalidUrl("a SQLite URL is sqlite://PATH or sqlite::memory:".into())
    })?;
    if path.is_empty() {
        return Err(DbError::InvalidUrl(
            "sqlite:// needs a file path, e.g. sqlite://data/strata.db".into(),
        ));
    }
    Ok(path.to_owned())
}

/// Adds a connect timeout to PostgreSQL URLs that have none, so an unreachable host fails
/// start-up in seconds instead of hanging.
fn postgres_target(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout=5")
}

/// Replaces the password of a `scheme://user:password@host` URL with `***`, and the value
/// of any secret query parameter (`password`, `sslpassword`, libpq's spellings).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let tail = redact_query(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// The path and query with the values of secret parameters replaced by `***`.
fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _))
                if ["password", "sslpassword"].contains(&name.to_ascii_lowercase().as_str()) =>
            {
                format!("{name}=***")
            }
            _ => param.to_owned(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_backend() {
        let cases = [
            ("postgres://u@h/db", Backend::Postgres),
            ("postgresql://u@h/db", Backend::Postgres),
            ("mysql://root@127.0.0.1/test", Backend::Mysql),
            ("sqlite://data/x.db", Backend::Sqlite),
            ("sqlite::memory:", Backend::Sqlite),
        ];
        for (url, backend) in cases {
            assert_eq!(
                DatabaseUrl::parse(url).map(|u| u.backend()).ok(),
                Some(backend),
                "{url}"
            );
        }
    }

    #[test]
    fn unknown_scheme_is_refused_and_named() {
        for url in ["postgre://x", "mysq://x", "data/strata.db", "", "http://x"] {
            let err = DatabaseUrl::parse(url)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("unsupported DATABASE_URL scheme"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn sqlite_needs_a_path() {
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(DbError::InvalidUrl(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite:foo.db"),
            Err(DbError::InvalidUrl(_))
        ));
        let mem = DatabaseUrl::parse("sqlite::memory:").ok();
        assert!(mem.is_some_and(|m| m.is_sqlite_memory()));
    }

    #[test]
    fn postgres_gets_a_connect_timeout() {
        let u = DatabaseUrl::parse("postgres://u@h/db?sslmode=disable").ok();
        assert_eq!(
            u.map(|u| u.expose().to_owned()).as_deref(),
            Some("postgres://u@h/db?sslmode=disable&connect_timeout=5")
        );
    }

    #[test]
    fn passwords_never_show() {
        let u = DatabaseUrl::parse("postgres://alice:s3cret@db:5432/app").ok();
        let shown = format!(
            "{u:?} {}",
            u.as_ref().map(|u| u.to_string()).unwrap_or_default()
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("alice:***@db:5432/app"), "{shown}");
        assert_eq!(redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact_url("mysql://a:b@c@h/db"), "mysql://a:***@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=s3cret&sslmode=require&SSLPASSWORD=k"),
            "postgres://h/db?user=u&password=***&sslmode=require&SSLPASSWORD=***"
        );
    }
}
