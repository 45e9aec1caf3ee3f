//! Configuration from the environment (and `.env`), checked once at start-up: every bad
//! value is reported on a line of its own, and secrets never reach `Debug` or the log.

mod admin;
mod mail;
mod mfa;
mod oidc;
mod passkeys;
mod password;
mod reader;
mod signing;

pub use reader::parse_duration;
use reader::Reader;

use std::net::SocketAddr;
use std::time::Duration;

use services::bootstrap::{
    default_pool_size, parse_database_url, pool_options, Backend, DatabaseConfig, DatabaseUrl,
    Pooler, DEFAULT_DATABASE_URL,
};
use services::{AuthSettings, Infra, JwtKeys, RedisOptions};

/// How the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A string that `Debug` prints as `***`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub infra: Infra,
    pub auth: AuthSettings,
    pub jwt_secret: Secret,
    pub jwt_secret_previous: Option<Secret>,
    pub bind_addr: SocketAddr,
    pub cors_allowed_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` gives the client's address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub app_env: AppEnv,
    pub log_format: LogFormat,
    pub rust_log: String,
    pub shutdown_timeout: Duration,
    /// Longest a request body may take to arrive (408 past it).
    pub body_timeout: Duration,
    pub workers: usize,
    /// Set when `OTEL_EXPORTER_OTLP_ENDPOINT` is.
    pub otel: Option<crate::telemetry::OtelSettings>,
}

impl Reader<'_> {
    /// `DATABASE_URL`, the pool settings, the pooler and the replicas; `None` when they
    /// cannot work.
    fn database(&mut self) -> Option<DatabaseConfig> {
        let database_url = self
            .raw("DATABASE_URL")
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url = match parse_database_url(&database_url) {
            Ok(u) => Some(u),
            Err(e) => {
                self.errors.push(format!("DATABASE_URL: {e}"));
                None
            }
        };
        let default_pool = database_url
            .as_ref()
            .map_or(default_pool_size(Backend::Sqlite), |u| {
                default_pool_size(u.backend())
            });
        let pool_size = self.number("DB_POOL_SIZE", default_pool, 1..=1000);
        let db_timeout = self.duration("DB_TIMEOUT", Duration::from_secs(5));
        let pooler = self.parse("DATABASE_POOLER", Pooler::Direct, Pooler::parse);
        let replicas = self.replica_urls();
        let replica_max_lag = self.duration("REPLICA_MAX_LAG", Duration::from_secs(5));
        let config = DatabaseConfig {
            url: database_url?,
            pool: pool_options(pool_size, db_timeout),
            pooler,
            replicas,
            replica_max_lag,
        };
        if let Some(problem) = config.problem() {
            self.errors.push(problem);
            return None;
        }
        Some(config)
    }

    /// `DATABASE_REPLICA_URLS`: PostgreSQL URLs, comma-separated.
    fn replica_urls(&mut self) -> Vec<DatabaseUrl> {
        let raw = self.raw("DATABASE_REPLICA_URLS").unwrap_or_default();
        let mut urls = Vec::new();
        for (i, url) in raw
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .enumerate()
        {
            match parse_database_url(url) {
                Ok(u) => urls.push(u),
                Err(e) => self
                    .errors
                    .push(format!("DATABASE_REPLICA_URLS (replica {}): {e}", i + 1)),
            }
        }
        urls
    }

    /// The Redis settings (`None`: the in-memory store).
    fn redis(&mut self, app_env: AppEnv) -> Option<RedisOptions> {
        let redis_url = self.raw("REDIS_URL");
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
            {
                self.errors
                    .push("REDIS_URL: must start with redis://, rediss:// or unix://".into());
            }
        }
        let cluster_urls: Vec<String> = self
            .raw("REDIS_CLUSTER_URLS")
            .map(|v| {
                v.split(',')
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if cluster_urls
            .iter()
            .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            self.errors.push(
                "REDIS_CLUSTER_URLS: a comma-separated list of redis:// or rediss:// seed nodes"
                    .into(),
            );
        }
        if redis_url.is_some() && !cluster_urls.is_empty() {
            self.errors
                .push("REDIS_CLUSTER_URLS: set either it or REDIS_URL, not both".into());
        }
        let redis_key_prefix = self
            .raw("REDIS_KEY_PREFIX")
            .unwrap_or_else(|| "strata:".into());
        if redis_key_prefix.contains(['{', '}']) {
            // A hash tag in the prefix would put every key in one cluster slot.
            self.errors
                .push("REDIS_KEY_PREFIX: may not hold { or } (they mark a key's hash tag)".into());
        }
        let redis_timeout = self.duration("REDIS_TIMEOUT", Duration::from_secs(2));
        if app_env == AppEnv::Production && redis_url.is_none() && cluster_urls.is_empty() {
            self.errors.push(
                    "REDIS_URL: required when APP_ENV=production (the in-memory token store serves one process only)".into(),
                );
        }
        if redis_url.is_none() && cluster_urls.is_empty() {
            return None;
        }
        Some(RedisOptions {
            url: redis_url.unwrap_or_default(),
            cluster_urls,
            key_prefix: redis_key_prefix,
            connect_timeout: redis_timeout,
            command_timeout: redis_timeout,
        })
    }

    /// Token lifetimes, password and limit settings.
    fn auth(&mut self) -> AuthSettings {
        let d = AuthSettings::default();
        let auth = AuthSettings {
            issuer: self.raw("JWT_ISSUER").unwrap_or(d.issuer),
            audience: self.raw("JWT_AUDIENCE").unwrap_or(d.audience),
            access_ttl: self.duration("ACCESS_TOKEN_TTL", d.access_ttl),
            refresh_ttl: self.duration("REFRESH_TOKEN_TTL", d.refresh_ttl),
            session_max_lifetime: self.duration("SESSION_MAX_LIFETIME", d.session_max_lifetime),
            refresh_reuse_grace: self.duration("REFRESH_REUSE_GRACE", d.refresh_reuse_grace),
            leeway: self.duration("JWT_LEEWAY", d.leeway),
            // Read with the environment, below.
            password_hash: d.password_hash,
            password_memory_budget_kib: d.password_memory_budget_kib,
            password_rehash: d.password_rehash,
            login_max_per_account: self.number(
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                d.login_max_per_account,
                1..=1_000_000,
            ),
            login_max_per_ip: self.number(
                "LOGIN_MAX_FAILURES_PER_IP",
                d.login_max_per_ip,
                1..=1_000_000,
            ),
            login_window: self.duration("LOGIN_FAILURE_WINDOW", d.login_window),
            register_max_per_ip: self.number(
                "REGISTER_MAX_PER_IP",
                d.register_max_per_ip,
                1..=1_000_000,
            ),
            register_window: self.duration("REGISTER_WINDOW", d.register_window),
            password_queue: self.number("PASSWORD_QUEUE", d.password_queue, 0..=100_000),
            // Read after the HTTP section, whose bind address is the links' default base.
            mail: d.mail,
            mfa: d.mfa,
            signing: d.signing,
            introspection: d.introspection,
            admin_require_second_factor: d.admin_require_second_factor,
            audit_retention: d.audit_retention,
            passkeys: None,
            oidc: Vec::new(),
            oidc_starts_per_minute: d.oidc_starts_per_minute,
            oidc_flow_timeout: d.oidc_flow_timeout,
        };
        for (key, value) in [
            ("ACCESS_TOKEN_TTL", auth.access_ttl),
            ("REFRESH_TOKEN_TTL", auth.refresh_ttl),
            ("SESSION_MAX_LIFETIME", auth.session_max_lifetime),
            ("LOGIN_FAILURE_WINDOW", auth.login_window),
            ("REGISTER_WINDOW", auth.register_window),
        ] {
            if value < Duration::from_secs(1) {
                self.errors.push(format!("{key}: must be at least 1s"));
            }
        }
        if auth.refresh_ttl < auth.access_ttl {
            self.errors
                .push("REFRESH_TOKEN_TTL: must not be shorter than ACCESS_TOKEN_TTL".into());
        }
        auth
    }

    /// The signing secrets, checked against `auth`.
    fn secrets(&mut self, auth: &AuthSettings) -> (Secret, Option<Secret>) {
        let jwt_secret = Secret(self.raw("JWT_API_SECRET").unwrap_or_default());
        let jwt_secret_previous = self.raw("JWT_API_SECRET_PREVIOUS").map(Secret);
        if let Err(e) = JwtKeys::new(
            jwt_secret.expose(),
            jwt_secret_previous.as_ref().map(Secret::expose),
            auth,
        ) {
            self.errors.push(e.to_string());
        }
        (jwt_secret, jwt_secret_previous)
    }

    /// The listener and the HTTP server's settings.
    fn http(&mut self) -> Http {
        let bind_addr = self.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)), |v| {
            v.parse()
                .map_err(|_| format!("{v:?} must be an address like 127.0.0.1:8080"))
        });
        let cors_allowed_origins: Vec<String> = self
            .raw("CORS_ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for origin in &cors_allowed_origins {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                self.errors.push(format!("CORS_ALLOWED_ORIGINS: {origin:?} must be an origin like https://app.example.com"));
            }
        }
        let trusted_proxies = self.parse("TRUSTED_PROXIES", Vec::new(), |v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().map_err(|_| format!("{p:?} is not an IP address")))
                .collect()
        });
        let shutdown_timeout = self.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(30));
        let body_timeout = self.duration("BODY_TIMEOUT", Duration::from_secs(10));
        if body_timeout < Duration::from_millis(100) {
            self.errors
                .push("BODY_TIMEOUT: must be at least 100ms".into());
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let workers = self.number("HTTP_WORKERS", cores, 1..=1024);
        Http {
            bind_addr,
            cors_allowed_origins,
            trusted_proxies,
            shutdown_timeout,
            body_timeout,
            workers,
        }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and its service name.
    fn otel(&mut self) -> Option<crate::telemetry::OtelSettings> {
        let otel = self.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(|endpoint| {
            crate::telemetry::OtelSettings {
                endpoint,
                service_name: self
                    .raw("OTEL_SERVICE_NAME")
                    .unwrap_or_else(|| "strata".into()),
            }
        });
        #[cfg(not(feature = "otlp"))]
        if otel.is_some() {
            self.errors.push(
                "OTEL_EXPORTER_OTLP_ENDPOINT: this build exports no traces (build it with --features otlp)".into(),
            );
        }
        if let Some(o) = &otel {
            if !(o.endpoint.starts_with("http://") || o.endpoint.starts_with("https://")) {
                self.errors
                    .push("OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL".into());
            }
        }
        otel
    }
}

/// What [`Reader::http`] reads.
struct Http {
    bind_addr: SocketAddr,
    cors_allowed_origins: Vec<String>,
    trusted_proxies: Vec<std::net::IpAddr>,
    shutdown_timeout: Duration,
    body_timeout: Duration,
    workers: usize,
}

impl Config {
    /// Reads the process environment (after loading `.env`, if there is one).
    pub fn from_env() -> Result<Self, Vec<String>> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get`; returns every problem found, one line each.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut r = Reader {
            get,
            errors: Vec::new(),
        };
        let app_env = r.parse("APP_ENV", AppEnv::Development, |v| match v {
            "development" | "dev" => Ok(AppEnv::Development),
            "test" => Ok(AppEnv::Test),
            "production" | "prod" => Ok(AppEnv::Production),
            _ => Err(format!("{v:?} must be development, test or production")),
        });
        let database = r.database();
        let redis = r.redis(app_env);
        let mut auth = r.auth();
        let (jwt_secret, jwt_secret_previous) = r.secrets(&auth);
        let http = r.http();
        auth.mail = r.mail(app_env, http.bind_addr);
        auth.passkeys = r.passkeys(&auth.mail.public_url.clone());
        auth.oidc = r.oidc();
        auth.oidc_starts_per_minute = r.number(
            "OIDC_STARTS_PER_MINUTE",
            auth.oidc_starts_per_minute,
            1..=1_000_000,
        );
        auth.oidc_flow_timeout = r.oidc_flow_timeout(auth.oidc_flow_timeout);
        auth.mfa = r.mfa(app_env);
        auth.signing = r.signing(app_env);
        auth.introspection = r.introspection();
        (auth.admin_require_second_factor, auth.audit_retention) = r.admin(app_env);
        (auth.password_hash, auth.password_memory_budget_kib) = r.password(app_env);
        auth.password_rehash = r.password_rehash();
        let log_format = r.parse(
            "LOG_FORMAT",
            if app_env == AppEnv::Production {
                LogFormat::Json
            } else {
                LogFormat::Pretty
            },
            |v| match v {
                "json" => Ok(LogFormat::Json),
                "pretty" => Ok(LogFormat::Pretty),
                _ => Err(format!("{v:?} must be json or pretty")),
            },
        );
        let rust_log = r.raw("RUST_LOG").unwrap_or_else(|| "info".into());
        let otel = r.otel();
        let (Some(database), true) = (database, r.errors.is_empty()) else {
            return Err(r.errors);
        };
        Ok(Config {
            infra: Infra { database, redis },
            auth,
            jwt_secret,
            jwt_secret_previous,
            bind_addr: http.bind_addr,
            cors_allowed_origins: http.cors_allowed_origins,
            trusted_proxies: http.trusted_proxies,
            app_env,
            log_format,
            rust_log,
            shutdown_timeout: http.shutdown_timeout,
            body_timeout: http.body_timeout,
            workers: http.workers,
            otel,
        })
    }

    /// The signing keys (the secrets were checked when the configuration was read).
    pub fn jwt_keys(&self) -> Result<JwtKeys, services::SecretError> {
        JwtKeys::new(
            self.jwt_secret.expose(),
            self.jwt_secret_previous.as_ref().map(Secret::expose),
            &self.auth,
        )
    }
}

#[cfg(test)]
mod tests;
