//! Access-token signing keys with a life cycle: `next` (published, not yet signing) →
//! `current` (signs) → `previous` (still verifies) → `retired` (unpublished), or `revoked`
//! after a leak. Keys live in the database, the private half sealed; every instance reads
//! them into its [`RingHandle`] at start-up and every `JWT_KEYS_REFRESH`, and takes the
//! steps that are due. A step is a conditional update, so of N instances one takes it.
//! Between refreshes an instance looks every [`WATCH_EVERY`] for a change of the published
//! keys (a rotation or a revocation by another process) and reads them at once.

mod clock;
mod material;
mod ring;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use repos::{SigningKeyRecord, SigningKeyRepo};

pub use clock::Clock;
pub use material::{KeyError, SigningAlgorithm};
pub use ring::RingHandle;

use crate::seal::{Sealer, SealingKeys};
use crate::ServiceError;
use material::KeyMaterial;
use ring::{KeyRing, Signer, Verifier};

/// How often an instance checks whether the published keys changed: the longest a revoked
/// key still verifies on a running instance that can reach the database.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// How keys are made and how long each state lasts.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    /// `JWT_ALGORITHM`.
    pub algorithm: SigningAlgorithm,
    /// `SIGNING_KEY_ENCRYPTION_KEY` (and `_PREVIOUS`): seals the private halves.
    pub sealing: Option<SealingKeys>,
    /// `JWKS_MAX_AGE`: how long verifiers may cache the key set, so how long a new key is
    /// published before it signs.
    pub jwks_max_age: Duration,
    /// `JWT_KEYS_REFRESH`: how often an instance reads the keys and takes due steps.
    pub refresh: Duration,
    /// `JWT_KEY_ROTATION`: a new key is published when the current one has signed this
    /// long; `None`: only `api keys rotate` rotates.
    pub rotation: Option<Duration>,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            algorithm: SigningAlgorithm::Hs256,
            sealing: None,
            jwks_max_age: Duration::from_secs(3600),
            refresh: Duration::from_secs(60),
            rotation: None,
        }
    }
}

/// What `api keys rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A new `next` key is published; it signs from `at` (a later rotation, or any
    /// instance's refresh after that time, promotes it).
    Published { kid: String, at: NaiveDateTime },
    /// The `next` key is not published long enough yet.
    Waiting { kid: String, at: NaiveDateTime },
    /// `kid` signs now; `previous` verifies until its tokens have expired.
    Promoted {
        kid: String,
        previous: Option<String>,
    },
}

/// A key as `api keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub deactivated_at: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
}

/// The key life cycle.
#[derive(Clone)]
pub struct SigningKeys {
    repo: SigningKeyRepo,
    sealer: Option<Sealer>,
    settings: SigningSettings,
    /// How long a previous key still verifies: the access-token lifetime plus leeway.
    verify_window: Duration,
    ring: RingHandle,
    /// `JWT_ISSUER` and the JWK set's URL, for the RFC 8414 metadata.
    issuer: String,
    jwks_uri: String,
    /// The time the life cycle's steps read.
    clock: Clock,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl SigningKeys {
    pub(crate) fn new(repo: SigningKeyRepo, auth: &crate::AuthSettings, ring: RingHandle) -> Self {
        let settings = auth.signing.clone();
        Self {
            repo,
            sealer: settings.sealing.clone().map(Sealer::new),
            settings,
            verify_window: auth.access_ttl + auth.leeway,
            ring,
            issuer: auth.issuer.clone(),
            jwks_uri: format!(
                "{}/.well-known/jwks.json",
                auth.mail.public_url.trim_end_matches('/')
            ),
            clock: Clock::system(),
        }
    }

    /// The same keys on `clock` (tests move a manual clock through a whole life cycle).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The issuer and the JWK set's URL.
    pub fn metadata(&self) -> (String, String) {
        (self.issuer.clone(), self.jwks_uri.clone())
    }

    /// Whether access tokens are signed with these keys (not HS256).
    pub fn enabled(&self) -> bool {
        self.settings.algorithm.is_asymmetric()
    }

    /// How often an instance should call [`SigningKeys::refresh`].
    pub fn refresh_every(&self) -> Duration {
        self.settings.refresh
    }

    fn sealer(&self) -> Result<&Sealer, ServiceError> {
        self.sealer.as_ref().ok_or_else(|| {
            ServiceError::internal("SIGNING_KEY_ENCRYPTION_KEY is not set: keys cannot be sealed")
        })
    }

    /// Makes and stores a `next` key of the configured algorithm.
    async fn publish_new(&self) -> Result<String, ServiceError> {
        let (key, der) = KeyMaterial::generate(self.settings.algorithm)
            .map_err(|e| ServiceError::internal_from("making a signing key", e))?;
        let sealed = self
            .sealer()?
            .seal_bound(&STANDARD.encode(der), key.kid.as_bytes());
        let jwk = serde_json::to_string(&key.jwk)
            .map_err(|e| ServiceError::internal_from("writing a JWK", e))?;
        self.repo
            .insert(SigningKeyRecord {
                kid: key.kid.clone(),
                algorithm: key.algorithm.name().to_owned(),
                state: "next".into(),
                public_jwk: jwk,
                private_sealed: sealed,
                created_at: self.clock.now(),
                activated_at: None,
                deactivated_at: None,
                retired_at: None,
            })
            .await?;
        Ok(key.kid)
    }

    /// At start-up: makes sure a key signs (see [`SigningKeys::refresh`]), then reads them.
    pub async fn start(&self) -> Result<(), ServiceError> {
        self.refresh().await
    }

    /// With an asymmetric algorithm and no key signing (a new install, the switch from
    /// HS256, or the current key revoked), one signs at once: the `next` key if there is
    /// one, else a new key. No verifier can hold an older copy of the keys that would miss
    /// it. Two instances doing this at once leave two current keys; the next refresh keeps
    /// the newer one and makes the other previous.
    async fn ensure_current(&self, keys: &[SigningKeyRecord]) -> Result<bool, ServiceError> {
        if keys.iter().any(|k| k.state == "current") {
            return Ok(false);
        }
        let next = match keys.iter().find(|k| k.state == "next") {
            Some(k) => k.kid.clone(),
            None => self.publish_new().await?,
        };
        self.repo.promote(&next, None, self.clock.now()).await?;
        Ok(true)
    }

    /// Takes the steps that are due, then reads the keys: a key signs if none does; a
    /// `next` key published for `JWKS_MAX_AGE` signs; of two current keys the older becomes
    /// previous; a `previous` key whose tokens have all expired is retired.
    pub async fn refresh(&self) -> Result<(), ServiceError> {
        if self.enabled() {
            let mut keys = self.repo.all().await?;
            if self.ensure_current(&keys).await? {
                keys = self.repo.all().await?;
            }
            let now = self.clock.now();
            let mut current: Vec<&SigningKeyRecord> =
                keys.iter().filter(|k| k.state == "current").collect();
            current.sort_by_key(|k| k.activated_at);
            if let Some((newest, older)) = current.split_last() {
                for old in older {
                    self.repo.demote(&old.kid, now).await?;
                }
                // Scheduled rotation: the current key has signed long enough and no
                // successor is published yet. Two instances may both publish one; the
                // older is promoted first and the other follows a rotation later.
                let signed_since = newest.activated_at.unwrap_or(newest.created_at);
                let has_next = keys.iter().any(|k| k.state == "next");
                if let Some(every) = self.settings.rotation {
                    if !has_next && signed_since + delta(every) <= now {
                        let kid = self.publish_new().await?;
                        tracing::info!(kid = %kid, "scheduled rotation: a new signing key is published");
                    }
                }
                for next in keys.iter().filter(|k| k.state == "next") {
                    if next.created_at + delta(self.settings.jwks_max_age) <= now {
                        self.repo.promote(&next.kid, Some(&newest.kid), now).await?;
                        break;
                    }
                }
            }
            for previous in keys.iter().filter(|k| k.state == "previous") {
                let since = previous.deactivated_at.unwrap_or(previous.created_at);
                if since + delta(self.verify_window) <= now {
                    self.repo.retire(&previous.kid, now).await?;
                }
            }
        }
        self.load().await
    }

    /// Reads the keys into the ring.
    async fn load(&self) -> Result<(), ServiceError> {
        let keys = self.repo.all().await?;
        let mut ring = KeyRing {
            asymmetric_since: self
                .repo
                .first_activation()
                .await?
                .map(|t| t.and_utc().timestamp()),
            ..KeyRing::default()
        };
        let mut published = Vec::new();
        for k in &keys {
            if !["next", "current", "previous"].contains(&k.state.as_str()) {
                continue;
            }
            ring.states.push((k.kid.clone(), k.state.clone()));
            let Some(algorithm) = SigningAlgorithm::parse(&k.algorithm) else {
                tracing::warn!(kid = %k.kid, algorithm = %k.algorithm, "signing key of an unknown algorithm: skipped");
                continue;
            };
            let jwk: Jwk = serde_json::from_str(&k.public_jwk)
                .map_err(|e| ServiceError::internal_from("reading a stored JWK", e))?;
            if k.state != "next" {
                let key = material::decoding_key(&jwk)
                    .map_err(|e| ServiceError::internal_from("reading a stored JWK", e))?;
                ring.verifiers
                    .insert(k.kid.clone(), Verifier { algorithm, key });
            }
            // Keys come oldest first: of two current keys the newer one signs.
            if k.state == "current" && self.enabled() {
                ring.signer = Some(self.open(k, algorithm)?);
            }
            published.push(jwk);
        }
        (ring.jwks, ring.etag) = KeyRing::published(&JwkSet { keys: published });
        self.ring.set(ring);
        Ok(())
    }

    /// The private half of `k`, unsealed.
    fn open(
        &self,
        k: &SigningKeyRecord,
        algorithm: SigningAlgorithm,
    ) -> Result<Signer, ServiceError> {
        let opened = self
            .sealer()?
            .open_bound(&k.private_sealed, k.kid.as_bytes())
            .ok_or_else(|| {
                ServiceError::internal(format!(
                    "signing key {} does not open under SIGNING_KEY_ENCRYPTION_KEY (or _PREVIOUS)",
                    k.kid
                ))
            })?;
        let der = STANDARD
            .decode(opened.plain)
            .map_err(|e| ServiceError::internal_from("reading a sealed key", e))?;
        let key = KeyMaterial::from_der(algorithm, &der)
            .map_err(|e| ServiceError::internal_from("reading a sealed key", e))?;
        Ok(Signer {
            kid: key.kid,
            algorithm,
            key: key.encoding,
        })
    }

    /// `api keys rotate`: publishes a new `next` key, or promotes the one that is due.
    pub async fn rotate(&self) -> Result<Rotation, ServiceError> {
        if !self.enabled() {
            return Err(ServiceError::internal(
                "JWT_ALGORITHM is HS256: there are no signing keys to rotate (rotate JWT_API_SECRET instead)",
            ));
        }
        let keys = self.repo.all().await?;
        let current = keys
            .iter()
            .find(|k| k.state == "current")
            .map(|k| k.kid.clone());
        let outcome = match keys.iter().find(|k| k.state == "next") {
            Some(next) => {
                let at = next.created_at + delta(self.settings.jwks_max_age);
                let now = self.clock.now();
                if at <= now
                    && self
                        .repo
                        .promote(&next.kid, current.as_deref(), now)
                        .await?
                {
                    Rotation::Promoted {
                        kid: next.kid.clone(),
                        previous: current,
                    }
                } else {
                    Rotation::Waiting {
                        kid: next.kid.clone(),
                        at,
                    }
                }
            }
            None => {
                let kid = self.publish_new().await?;
                let at = self.clock.now() + delta(self.settings.jwks_max_age);
                Rotation::Published { kid, at }
            }
        };
        self.load().await?;
        Ok(outcome)
    }

    /// `api keys revoke <kid>`: unpublishes the key; every token it signed fails on every
    /// running instance within [`WATCH_EVERY`]. Whether it was published.
    pub async fn revoke(&self, kid: &str) -> Result<bool, ServiceError> {
        let revoked = self.repo.revoke(kid, self.clock.now()).await?;
        // A revoked current key is replaced at once.
        self.refresh().await?;
        Ok(revoked)
    }

    /// `api keys list`: every key, oldest first.
    pub async fn list(&self) -> Result<Vec<KeyView>, ServiceError> {
        Ok(self
            .repo
            .all()
            .await?
            .into_iter()
            .map(|k| KeyView {
                kid: k.kid,
                algorithm: k.algorithm,
                state: k.state,
                created_at: k.created_at,
                activated_at: k.activated_at,
                deactivated_at: k.deactivated_at,
                retired_at: k.retired_at,
            })
            .collect())
    }

    /// Whether the published keys in the database differ from the ones this instance holds.
    pub async fn changed(&self) -> Result<bool, ServiceError> {
        Ok(self.repo.published_states().await? != self.ring.get().states)
    }

    /// Until `stop` turns true: refreshes every `JWT_KEYS_REFRESH`, and in between reads the
    /// keys as soon as [`SigningKeys::changed`] says so. A failure (the database down) keeps
    /// the keys the instance has; it is logged once, and again when it recovers.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut refresh = tokio::time::interval(self.settings.refresh);
        let mut watch = tokio::time::interval(WATCH_EVERY);
        for timer in [&mut refresh, &mut watch] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer.reset();
        }
        let mut failing = false;
        loop {
            let outcome = tokio::select! {
                _ = stop.changed() => break,
                _ = refresh.tick() => self.refresh().await,
                _ = watch.tick() => match self.changed().await {
                    Ok(true) => self.load().await,
                    other => other.map(|_| ()),
                },
            };
            match outcome {
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "reading the signing keys failed; keeping the ones this instance has");
                }
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("reading the signing keys works again");
                }
                _ => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }

    /// The published key set and its ETag, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> (String, String) {
        self.ring.jwks()
    }

    /// `JWKS_MAX_AGE`, for the key set's `Cache-Control`.
    pub fn jwks_max_age(&self) -> Duration {
        self.settings.jwks_max_age
    }
}

/// Rings for the token checks' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Puts a fresh `alg` key in `ring` as the current one, the first to sign at `since`;
    /// returns its kid.
    pub(crate) fn ring_of(ring: &RingHandle, alg: SigningAlgorithm, since: i64) -> String {
        let (key, der) = match KeyMaterial::generate(alg) {
            Ok(made) => made,
            Err(e) => panic!("{e}"),
        };
        let verifier = match material::decoding_key(&key.jwk) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        let signer = match KeyMaterial::from_der(alg, &der) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        let (jwks, etag) = KeyRing::published(&JwkSet {
            keys: vec![key.jwk.clone()],
        });
        let mut keys = KeyRing {
            signer: Some(Signer {
                kid: key.kid.clone(),
                algorithm: alg,
                key: signer.encoding,
            }),
            jwks,
            etag,
            asymmetric_since: Some(since),
            ..KeyRing::default()
        };
        keys.verifiers.insert(
            key.kid.clone(),
            Verifier {
                algorithm: alg,
                key: verifier,
            },
        );
        ring.set(keys);
        key.kid
    }
}
