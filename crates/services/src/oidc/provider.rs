//! The configured providers as strata knows them: each one's discovery document and key
//! set, fetched at start-up and again every [`REFRESH_EVERY`] (every [`RETRY_EVERY`] while
//! one is down), and the keys once more when a token names one they lack (at most once a
//! [`KEYS_AT_MOST_EVERY`]). A provider whose last fetch failed is down: its routes answer
//! 503 and `/ready` names it, while every other route goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::IssuerUrl;

use super::http::ProviderHttp;
use super::settings::OidcProviderSettings;
use crate::ServiceError;

/// How often every provider's document and keys are fetched again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

/// How soon a provider that is down is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// How long a provider's last good document serves after its fetches start failing, before
/// the provider counts as down (a blip should not fail sign-ins that would work).
pub const STALE_FOR: Duration = Duration::from_secs(900);

/// The least time between two fetches of a provider's keys for an unknown key id.
pub const KEYS_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// One provider: its settings, and its document (with its keys) once fetched.
struct Provider {
    settings: OidcProviderSettings,
    metadata: RwLock<Option<Arc<CoreProviderMetadata>>>,
    /// Whether it serves sign-ins: its last fetch worked, or one did within [`STALE_FOR`].
    up: AtomicBool,
    /// When a fetch last worked.
    fetched: Mutex<Option<Instant>>,
    /// When its keys were last fetched because a token named one they lacked.
    keys_fetched: Mutex<Option<Instant>>,
}

/// A provider's document and settings, as one sign-in uses them.
#[derive(Clone)]
pub(crate) struct Ready {
    pub settings: OidcProviderSettings,
    pub metadata: Arc<CoreProviderMetadata>,
}

/// Whether a provider's document is at hand, for `/ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub name: String,
    pub up: bool,
}

/// Every configured provider, by name.
#[derive(Clone)]
pub struct Providers {
    by_name: Arc<BTreeMap<String, Provider>>,
    pub(crate) http: ProviderHttp,
}

impl Providers {
    /// The providers of `settings`, none fetched yet ([`Providers::refresh`]).
    pub fn new(settings: Vec<OidcProviderSettings>) -> Self {
        let by_name = settings
            .into_iter()
            .map(|s| {
                let provider = Provider {
                    settings: s.clone(),
                    metadata: RwLock::new(None),
                    up: AtomicBool::new(false),
                    fetched: Mutex::new(None),
                    keys_fetched: Mutex::new(None),
                };
                (s.name, provider)
            })
            .collect();
        Self {
            by_name: Arc::new(by_name),
            http: ProviderHttp::new(),
        }
    }

    /// Whether a provider is configured by that name.
    pub fn knows(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Whether any provider is configured.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Fetches every provider's document and keys again; a provider that cannot be
    /// reached is down until a fetch works. Says whether every provider is up.
    pub async fn refresh(&self) -> bool {
        let mut all_up = true;
        for (name, provider) in self.by_name.iter() {
            let was_up = provider.up.load(Ordering::Relaxed);
            match self.discover(&provider.settings).await {
                Ok(metadata) => {
                    let mut held = provider.metadata.write().unwrap_or_else(|p| p.into_inner());
                    *held = Some(Arc::new(metadata));
                    *provider.fetched.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(Instant::now());
                    provider.up.store(true, Ordering::Relaxed);
                    if !was_up {
                        tracing::info!(provider = %name, "OpenID provider reached");
                    }
                }
                Err(e) => {
                    let fresh_enough = provider
                        .fetched
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some_and(|at| at.elapsed() < STALE_FOR);
                    provider.up.store(fresh_enough, Ordering::Relaxed);
                    all_up = false;
                    tracing::warn!(provider = %name, error = %e,
                        "an OpenID provider's discovery document could not be fetched");
                }
            }
        }
        all_up
    }

    /// Keeps every provider's document fresh until `stop`: at once, then every
    /// [`REFRESH_EVERY`], or every [`RETRY_EVERY`] while one is down.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.is_empty() {
            return;
        }
        loop {
            let every = if self.refresh().await {
                REFRESH_EVERY
            } else {
                RETRY_EVERY
            };
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(every) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    async fn discover(&self, s: &OidcProviderSettings) -> Result<CoreProviderMetadata, String> {
        let issuer = IssuerUrl::new(s.issuer.clone()).map_err(|e| e.to_string())?;
        CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| crate::error::error_chain(&e))
    }

    /// The provider `name` ready for a sign-in: `NotFound` if none is configured by that
    /// name, `Unavailable` if it is down.
    pub(crate) fn ready(&self, name: &str) -> Result<Ready, ServiceError> {
        let provider = self.by_name.get(name).ok_or(ServiceError::NotFound)?;
        let held = provider.metadata.read().unwrap_or_else(|p| p.into_inner());
        let metadata = held
            .clone()
            .filter(|_| provider.up.load(Ordering::Relaxed))
            .ok_or_else(|| ServiceError::Unavailable {
                what: "OpenID provider",
                detail: format!("{name}: its discovery document could not be fetched"),
            })?;
        Ok(Ready {
            settings: provider.settings.clone(),
            metadata,
        })
    }

    /// Fetches `name`'s keys again after a token named a key they lack, unless that was
    /// done less than [`KEYS_AT_MOST_EVERY`] ago; the provider as it is then, if the keys
    /// changed.
    pub(crate) async fn refetch_keys(&self, name: &str) -> Option<Ready> {
        let provider = self.by_name.get(name)?;
        let last = *provider
            .keys_fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < KEYS_AT_MOST_EVERY) {
            return None;
        }
        let ready = self.ready(name).ok()?;
        let keys = CoreJsonWebKeySet::fetch_async(ready.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %name, error = %crate::error::error_chain(&e),
                "an OpenID provider's keys could not be fetched")
            })
            .ok()?;
        *provider
            .keys_fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let metadata = Arc::new((*ready.metadata).clone().set_jwks(keys));
        let mut held = provider.metadata.write().unwrap_or_else(|p| p.into_inner());
        *held = Some(Arc::clone(&metadata));
        Some(Ready {
            settings: ready.settings,
            metadata,
        })
    }

    /// Each provider and whether its document is at hand.
    pub fn statuses(&self) -> Vec<ProviderStatus> {
        self.by_name
            .iter()
            .map(|(name, p)| ProviderStatus {
                name: name.clone(),
                up: p.up.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The configured providers' names and what their buttons say, for the page.
    pub fn listed(&self) -> Vec<(String, String)> {
        self.by_name
            .values()
            .map(|p| (p.settings.name.clone(), p.settings.display_name.clone()))
            .collect()
    }
}
