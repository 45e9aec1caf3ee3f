//! The OpenID Connect providers strata signs in with (`OIDC_PROVIDERS` and each one's
//! `OIDC_<NAME>_*`).

/// One provider: where its discovery document is, and strata's client there.
#[derive(Clone)]
pub struct OidcProviderSettings {
    /// Lower-case name from `OIDC_PROVIDERS`: the routes' `{provider}`.
    pub name: String,
    /// The issuer exactly as the provider writes it in its tokens.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Asked for beside `openid` (default `email profile`).
    pub scopes: Vec<String>,
    /// What the page shows on the provider's button.
    pub display_name: String,
}

impl std::fmt::Debug for OidcProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}
