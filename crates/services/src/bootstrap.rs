//! Start-up: open the database (running its migrations), connect the token store, and
//! wire the services. The binary calls this and never names a repository.

use std::time::Duration;

use repos::database::{self, DbError};
use repos::{AnyTokenStore, MemoryTokenStore, RedisOptions, RedisTokenStore};

use crate::{AuthSettings, JwtKeys, Services};

pub use repos::database::{
    default_pool_size, Backend, DatabaseConfig, DatabaseUrl, PoolOptions, Pooler,
    DEFAULT_DATABASE_URL,
};

/// Where the data lives.
#[derive(Debug, Clone)]
pub struct Infra {
    /// The primary, how it is reached, and its replicas.
    pub database: DatabaseConfig,
    /// `None`: the in-memory token store (one process only).
    pub redis: Option<RedisOptions>,
}

/// Opens the database (its migrations first) off the async workers.
async fn open(config: &DatabaseConfig) -> Result<database::Database, StartupError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || database::connect(&config))
        .await
        .map_err(|e| StartupError::Database(DbError::Blocking(e.to_string())))?
        .map_err(StartupError::from)
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("token store: {0}")]
    TokenStore(String),
    #[error("signing keys: {0}")]
    SigningKeys(String),
}

/// Parses a `DATABASE_URL` (re-exported for the binary's configuration).
pub fn parse_database_url(url: &str) -> Result<DatabaseUrl, DbError> {
    DatabaseUrl::parse(url)
}

/// Default pool options with `size` connections.
pub fn pool_options(size: u32, checkout_timeout: Duration) -> PoolOptions {
    PoolOptions {
        max_size: size,
        checkout_timeout,
    }
}

/// Applies the pending migrations and returns how many ran (`api migrate`).
pub async fn migrate(config: &DatabaseConfig) -> Result<usize, StartupError> {
    let (url, pooler) = (config.url.clone(), config.pooler);
    tokio::task::spawn_blocking(move || database::migrate(&url, pooler))
        .await
        .map_err(|e| StartupError::Database(DbError::Blocking(e.to_string())))?
        .map_err(StartupError::from)
}

/// Opens the database alone (running its migrations) and returns the signing keys' life
/// cycle over it, for `api keys …`.
pub async fn signing_keys(
    infra: Infra,
    settings: AuthSettings,
) -> Result<crate::signing::SigningKeys, StartupError> {
    let db = open(&infra.database).await?;
    Ok(crate::signing::SigningKeys::new(
        repos::SigningKeyRepo::new(db),
        &settings,
        crate::signing::RingHandle::default(),
    ))
}

/// The roles, over the database alone: what `api admin grant` and `revoke` need.
/// `require_second_factor`: `ADMIN_REQUIRE_SECOND_FACTOR`.
pub async fn roles(
    infra: Infra,
    require_second_factor: bool,
) -> Result<crate::admin::Roles, StartupError> {
    let db = open(&infra.database).await?;
    Ok(crate::admin::Roles::new(
        repos::UserRepo::new(db.clone()),
        repos::AdminRepo::new(db),
        require_second_factor,
    ))
}

/// Opens everything and returns the services. Fails fast, with the real cause, when the
/// database or Redis cannot be reached.
pub async fn start(
    infra: Infra,
    keys: JwtKeys,
    settings: AuthSettings,
) -> Result<Services, StartupError> {
    let db = open(&infra.database).await?;
    let store = match &infra.redis {
        Some(options) => {
            let store = RedisTokenStore::new(options)
                .map_err(|e| StartupError::TokenStore(e.to_string()))?;
            store.ping().await.map_err(|e| {
                StartupError::TokenStore(format!(
                    "cannot reach Redis at {}: {e}",
                    database::redact_url(&options.url)
                ))
            })?;
            store
                .check_server_version()
                .await
                .map_err(|e| StartupError::TokenStore(e.to_string()))?;
            AnyTokenStore::Redis(store)
        }
        None => AnyTokenStore::Memory(MemoryTokenStore::new()),
    };
    tracing::info!(database = %infra.database.url.backend(), pooler = %infra.database.pooler,
        replicas = infra.database.replicas.len(), token_store = store.kind(), "connected");
    let services = Services::new(crate::Repos::over(db, store), keys, settings);
    services
        .signing
        .start()
        .await
        .map_err(|e| StartupError::SigningKeys(e.to_string()))?;
    Ok(services)
}
