//! The OpenID Connect section: `OIDC_PROVIDERS` and each provider's `OIDC_<NAME>_*`.

use std::time::Duration;

use services::oidc::OidcProviderSettings;

use super::Reader;

impl Reader<'_> {
    /// `OIDC_PROVIDERS` (comma-separated names of `a-z`, `0-9`; none by default) and for
    /// each `OIDC_<NAME>_ISSUER` (an `https` URL, or `http` on loopback), `_CLIENT_ID`,
    /// `_CLIENT_SECRET`, `_SCOPES` (default `openid email profile`) and `_DISPLAY_NAME`
    /// (default the name). Each missing or bad value is a line of its own.
    pub(super) fn oidc(&mut self) -> Vec<OidcProviderSettings> {
        let Some(list) = self.raw("OIDC_PROVIDERS") else {
            return Vec::new();
        };
        let mut out: Vec<OidcProviderSettings> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_lowercase();
            if name.len() > 32
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                self.errors.push(format!(
                    "OIDC_PROVIDERS: {name:?} must be 1 to 32 of a-z and 0-9"
                ));
                continue;
            }
            if seen.contains(&name) {
                self.errors
                    .push(format!("OIDC_PROVIDERS: {name:?} is named twice"));
                continue;
            }
            seen.push(name.clone());
            if let Some(provider) = self.provider(&name) {
                out.push(provider);
            }
        }
        out
    }

    /// `OIDC_FLOW_TIMEOUT` (10 minutes, 1 s to 1 h): how long a flow waits for the
    /// provider's redirect back.
    pub(super) fn oidc_flow_timeout(&mut self, default: Duration) -> Duration {
        let timeout = self.duration("OIDC_FLOW_TIMEOUT", default);
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&timeout) {
            self.errors
                .push("OIDC_FLOW_TIMEOUT must be between 1s and 1h".to_owned());
        }
        timeout
    }

    fn provider(&mut self, name: &str) -> Option<OidcProviderSettings> {
        let key = |field: &str| format!("OIDC_{}_{field}", name.to_ascii_uppercase());
        let needed = |field: &str, this: &mut Self| {
            let k = key(field);
            let v = this.raw(&k);
            if v.is_none() {
                this.errors.push(format!(
                    "{k} is needed for the provider {name:?} in OIDC_PROVIDERS"
                ));
            }
            v
        };
        let issuer = needed("ISSUER", self);
        let client_id = needed("CLIENT_ID", self);
        let client_secret = needed("CLIENT_SECRET", self);
        let issuer = issuer.filter(|i| {
            let ok = issuer_fits(i);
            if !ok {
                self.errors.push(format!(
                    "{}: {i:?} must be an https URL (http only on 127.0.0.1 or localhost)",
                    key("ISSUER")
                ));
            }
            ok
        })?;
        let scopes = self
            .raw(&key("SCOPES"))
            .unwrap_or_else(|| "openid email profile".to_owned())
            .split([' ', ','])
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(str::to_owned)
            .collect();
        let display_name = self
            .raw(&key("DISPLAY_NAME"))
            .unwrap_or_else(|| name.to_owned());
        Some(OidcProviderSettings {
            name: name.to_owned(),
            issuer,
            client_id: client_id?,
            client_secret: client_secret?,
            scopes,
            display_name,
        })
    }
}

/// An issuer strata will trust: `https`, or `http` on the loopback (development, tests).
fn issuer_fits(issuer: &str) -> bool {
    let Ok(url) = services::passkeys::Url::parse(issuer) else {
        return false;
    };
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) => true,
        ("http", Some(host)) => matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    }
}
