//! The signing section: which algorithm signs access tokens, the key that seals the
//! signing keys' private halves, and how long each step of their life cycle takes.

use std::time::Duration;

use services::signing::{SigningAlgorithm, SigningSettings};

use super::{AppEnv, Reader};

impl Reader<'_> {
    /// `JWT_ALGORITHM`, `SIGNING_KEY_ENCRYPTION_KEY` (and `_PREVIOUS`), `JWKS_MAX_AGE`,
    /// `JWT_KEYS_REFRESH`.
    pub(super) fn signing(&mut self, app_env: AppEnv) -> SigningSettings {
        let d = SigningSettings::default();
        let algorithm = self.parse("JWT_ALGORITHM", d.algorithm, |v| {
            SigningAlgorithm::parse(v).ok_or_else(|| format!("{v:?} must be EdDSA, ES256 or HS256"))
        });
        let sealing = self.sealing_keys("SIGNING_KEY_ENCRYPTION_KEY");
        if algorithm.is_asymmetric() && sealing.is_none() && !self.has("SIGNING_KEY_ENCRYPTION_KEY")
        {
            self.errors.push(format!(
                "SIGNING_KEY_ENCRYPTION_KEY: required with JWT_ALGORITHM={} (64 hex digits; the signing keys' private halves are sealed under it)",
                algorithm.name()
            ));
        }
        let jwks_max_age = self.duration("JWKS_MAX_AGE", d.jwks_max_age);
        let refresh = self.duration("JWT_KEYS_REFRESH", d.refresh);
        let rotation = self
            .raw("JWT_KEY_ROTATION")
            .map(|_| self.duration("JWT_KEY_ROTATION", Duration::from_secs(30 * 24 * 3600)));
        for (key, value) in [
            ("JWKS_MAX_AGE", jwks_max_age),
            ("JWT_KEYS_REFRESH", refresh),
        ] {
            if value < Duration::from_secs(1) {
                self.errors.push(format!("{key}: must be at least 1s"));
            }
        }
        if jwks_max_age < refresh {
            let line = "JWKS_MAX_AGE is shorter than JWT_KEYS_REFRESH: an instance may sign with a new key before it is published long enough";
            if app_env == AppEnv::Production {
                self.errors.push(format!("JWKS_MAX_AGE: {line}"));
            } else {
                tracing::warn!("{line}");
            }
        }
        if let Some(every) = rotation.filter(|every| *every < jwks_max_age) {
            let line = format!(
                "JWT_KEY_ROTATION ({}s) is shorter than JWKS_MAX_AGE: keys would pile up unsigned",
                every.as_secs()
            );
            if app_env == AppEnv::Production {
                self.errors.push(line);
            } else {
                tracing::warn!("{line}");
            }
        }
        SigningSettings {
            algorithm,
            sealing,
            jwks_max_age,
            refresh,
            rotation,
        }
    }
}

impl Reader<'_> {
    /// `INTROSPECTION_CLIENTS`: `id:secret` pairs, comma-separated; each secret at least 16
    /// characters. `INTROSPECTION_MAX_PER_MINUTE` per client.
    pub(super) fn introspection(&mut self) -> services::introspection::IntrospectionSettings {
        use services::introspection::{IntrospectionClient, IntrospectionSettings};
        let d = IntrospectionSettings::default();
        let mut clients = Vec::new();
        for pair in self
            .raw("INTROSPECTION_CLIENTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match pair.split_once(':') {
                Some((id, secret)) if !id.is_empty() && secret.chars().count() >= 16 => {
                    clients.push(IntrospectionClient::new(id, secret));
                }
                _ => self.errors.push(format!(
                    "INTROSPECTION_CLIENTS: {:?} must be client_id:secret with a secret of 16 or more characters",
                    pair.split(':').next().unwrap_or_default()
                )),
            }
        }
        let per_minute = self.number("INTROSPECTION_MAX_PER_MINUTE", d.per_minute, 1..=1_000_000);
        IntrospectionSettings {
            clients,
            per_minute,
        }
    }
}
