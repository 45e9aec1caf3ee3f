//! Sign-in with OpenID Connect providers, as a relying party: the authorization code
//! flow with PKCE (S256), `state` and `nonce`, bound to the browser that started it; the ID
//! token checked for its signature, exact issuer, audience, `azp`, times and nonce; and an
//! account found by (provider, subject) only. The page receives a one-time code in the URL
//! fragment and trades it for the usual token pair, or a second-factor challenge.
//!
//! Linking: a known identity signs in to its account. An unknown one with an address the
//! provider verified, which no account has, makes a new account without a password. An
//! address that belongs to an account is never linked by a sign-in, whatever the provider
//! says (that is the pre-account takeover); an unverified one makes nothing.

mod accounts;
mod http;
mod landing;
mod linking;
mod provider;
mod settings;
mod verify;

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
};
use repos::{IdentityRepo, ProviderAccount, RateCounters, SessionStore, UserRepo};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ceremonies::Ceremonies;
use crate::client::ClientInfo;
use crate::sessions::{banned, Opening, SignInMethod};
use crate::signin::{SecondStep, SignIn};
use crate::{ServiceError, Sessions};
use verify::MAX_SUBJECT;

pub use landing::{return_path, Failure, Landing};
pub use linking::IdentityView;
pub use provider::{ProviderStatus, Providers, REFRESH_EVERY, RETRY_EVERY};
pub use settings::OidcProviderSettings;

/// The token-store kind of flows waiting for their callback.
const FLOWS: &str = "oidc-flow";

/// How long a flow waits for its callback unless `OIDC_FLOW_TIMEOUT` says otherwise.
pub const DEFAULT_FLOW_TTL: Duration = Duration::from_secs(600);

/// The token-store kind of one-time codes waiting for the page, and their life.
const CODES: &str = "oidc-code";
const CODE_TTL: Duration = Duration::from_secs(60);

/// Most flows, and codes, waiting at once on every instance together.
const MAX_WAITING: usize = 50_000;

/// The window of the per-address limit on sign-in starts.
const START_WINDOW: Duration = Duration::from_secs(60);

/// The limits of the flows: `OIDC_STARTS_PER_MINUTE` and `OIDC_FLOW_TIMEOUT`.
#[derive(Debug, Clone, Copy)]
pub struct OidcLimits {
    pub starts_per_minute: u64,
    pub flow_ttl: Duration,
}

/// A started sign-in: where to send the browser, and the value of the cookie that binds
/// the flow to it (only its hash is stored).
#[derive(Debug)]
pub struct Started {
    pub location: String,
    pub browser: String,
}

/// What the provider's redirect brought back.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer that answered, when the provider says.
    pub iss: Option<String>,
}

/// A flow waiting for its callback.
#[derive(Serialize, Deserialize)]
struct Flow {
    provider: String,
    verifier: String,
    nonce: String,
    return_to: String,
    /// SHA-256 (hex) of the cookie the browser was given.
    browser: String,
    /// For a link from a signed-in session: whose account the provider's joins.
    link_to: Option<String>,
}

/// How a flow ended well.
enum Ended {
    SignedIn { code: String, return_to: String },
    Linked { return_to: String },
}

/// An account signed in at a provider, waiting for the page to trade its code.
#[derive(Serialize, Deserialize)]
struct Handoff {
    user_id: String,
    /// The flow's browser (the SHA-256 of its cookie): only it may trade the code, so a
    /// code handed to another browser signs nobody in there (a login CSRF).
    browser: String,
}

/// Sign-in with the configured providers.
#[derive(Clone)]
pub struct Oidc {
    pub(crate) providers: Providers,
    pub(crate) store: repos::AnyTokenStore,
    pub(crate) flows: Ceremonies,
    pub(crate) codes: Ceremonies,
    pub(crate) identities: IdentityRepo,
    pub(crate) users: UserRepo,
    pub(crate) sessions: Sessions,
    pub(crate) second_step: SecondStep,
    pub(crate) proofs: crate::proofs::Proofs,
    pub(crate) mailer: crate::mail::Mailer,
    pub(crate) audit: crate::audit::Audit,
    /// `OIDC_STARTS_PER_MINUTE`, per client address.
    pub(crate) starts_per_minute: u64,
    /// `OIDC_FLOW_TIMEOUT`: how long a flow waits for its callback.
    pub(crate) flow_ttl: Duration,
    /// `PUBLIC_URL`, without a trailing `/`: where the page and the callback are.
    pub(crate) public_url: String,
}

impl Oidc {
    /// Sign-in with `providers`, its waiting flows and codes in `store`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        providers: Providers,
        store: repos::AnyTokenStore,
        identities: IdentityRepo,
        users: UserRepo,
        sessions: Sessions,
        second_step: SecondStep,
        (proofs, mailer, audit): (
            crate::proofs::Proofs,
            crate::mail::Mailer,
            crate::audit::Audit,
        ),
        limits: OidcLimits,
        public_url: &str,
    ) -> Self {
        Self {
            providers,
            flows: Ceremonies::new(store.clone(), FLOWS, limits.flow_ttl, MAX_WAITING),
            codes: Ceremonies::new(store.clone(), CODES, CODE_TTL, MAX_WAITING),
            store,
            identities,
            users,
            sessions,
            second_step,
            proofs,
            mailer,
            audit,
            starts_per_minute: limits.starts_per_minute,
            flow_ttl: limits.flow_ttl,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The configured providers.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Whether a provider is configured by that name.
    pub fn knows(&self, provider: &str) -> bool {
        self.providers.knows(provider)
    }

    /// How long a flow waits for its callback (and its cookie lives).
    pub fn flow_ttl(&self) -> Duration {
        self.flow_ttl
    }

    /// `PUBLIC_URL`, where the page and the callbacks are.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    fn redirect_uri(&self, provider: &str) -> Result<RedirectUrl, ServiceError> {
        let url = format!("{}/api/auth/oidc/{provider}/callback", self.public_url);
        RedirectUrl::new(url).map_err(|e| ServiceError::internal_from("the callback URL", e))
    }

    /// Starts a sign-in with `provider`: the provider's authorization URL (with `state`,
    /// `nonce` and a PKCE challenge) and the cookie that binds the flow to this browser.
    /// `return_to` is a path of the page (422 otherwise); the flow waits `OIDC_FLOW_TIMEOUT`.
    pub async fn start(
        &self,
        provider: &str,
        return_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Started, ServiceError> {
        return_path(return_to)?;
        self.providers.ready(provider)?;
        // Each start stores a flow for ten minutes: one address may start only so many.
        let key = format!("oidc-start:ip:{}", client.ip.as_deref().unwrap_or("-"));
        let counts = self
            .store
            .rate_hit(std::slice::from_ref(&key), START_WINDOW)
            .await?;
        if let Some(c) = counts.first().filter(|c| c.count > self.starts_per_minute) {
            return Err(ServiceError::RateLimited {
                retry_after: c.resets_in.max(Duration::from_secs(1)),
            });
        }
        self.start_flow(provider, return_to, None).await
    }

    /// A flow that signs in, or with `link_to` links to that account.
    async fn start_flow(
        &self,
        provider: &str,
        return_to: Option<&str>,
        link_to: Option<String>,
    ) -> Result<Started, ServiceError> {
        let return_to = return_path(return_to)?;
        let ready = self.providers.ready(provider)?;
        let s = &ready.settings;
        let client = CoreClient::from_provider_metadata(
            (*ready.metadata).clone(),
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(s.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_uri(provider)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let browser = random_hex();
        let flow = Flow {
            provider: provider.to_owned(),
            verifier: verifier.secret().clone(),
            nonce: random_hex(),
            return_to,
            browser: digest(&browser),
            link_to,
        };
        let state = self.flows.wait(&flow).await?;
        let nonce = flow.nonce.clone();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in &s.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(Started {
            location: url.to_string(),
            browser,
        })
    }

    /// Ends a sign-in at the provider's redirect: where the page is to be sent, with a
    /// one-time code for the token pair, or the reason there is none. `browser` is the
    /// flow's cookie as this browser sent it.
    pub async fn finish(
        &self,
        provider: &str,
        callback: Callback,
        browser: Option<&str>,
    ) -> Landing {
        match self.finished(provider, callback, browser).await {
            Ok(Ended::SignedIn { code, return_to }) => {
                Landing::signed_in(&self.public_url, &return_to, &code)
            }
            Ok(Ended::Linked { return_to }) => {
                Landing::linked(&self.public_url, &return_to, provider)
            }
            Err(failure) => Landing::failed(&self.public_url, failure),
        }
    }

    async fn finished(
        &self,
        provider: &str,
        callback: Callback,
        browser: Option<&str>,
    ) -> Result<Ended, Failure> {
        let state = callback.state.as_deref().unwrap_or_default();
        let flow: Flow = self
            .flows
            .take(state)
            .await
            .map_err(Failure::from_service)?
            .filter(|f: &Flow| f.provider == provider)
            .ok_or(Failure::State)?;
        if browser.map(digest).as_deref() != Some(flow.browser.as_str()) {
            return Err(Failure::Browser);
        }
        if let Some(error) = &callback.error {
            tracing::info!(provider, error = %error.chars().take(64).collect::<String>(),
                "an OpenID provider refused the sign-in");
            return Err(Failure::Provider);
        }
        let code = callback.code.ok_or(Failure::Provider)?;
        let asserted = self
            .verified(provider, code, &flow, callback.iss.as_deref())
            .await?;
        if asserted.subject.is_empty() || asserted.subject.len() > MAX_SUBJECT {
            return Err(Failure::Token);
        }
        if let Some(user_id) = &flow.link_to {
            let account = ProviderAccount {
                provider: provider.to_owned(),
                issuer: asserted.issuer,
                subject: asserted.subject,
                email: asserted.email,
            };
            self.link(user_id, account).await?;
            return Ok(Ended::Linked {
                return_to: flow.return_to,
            });
        }
        let user_id = self.account_of(provider, asserted).await?;
        let code = self
            .codes
            .wait(&Handoff {
                user_id,
                browser: flow.browser.clone(),
            })
            .await
            .map_err(Failure::from_service)?;
        Ok(Ended::SignedIn {
            code,
            return_to: flow.return_to,
        })
    }

    /// Trades the page's one-time code for the usual token pair, or a second-factor
    /// challenge for an account with one; once, within a minute of the callback, and only
    /// in the browser that went through the flow (`browser`: its cookie).
    pub async fn redeem(
        &self,
        code: &str,
        browser: Option<&str>,
        client: ClientInfo,
    ) -> Result<SignIn, ServiceError> {
        if code.len() > 64 {
            return Err(ServiceError::invalid(
                "code",
                "must be at most 64 characters",
            ));
        }
        let handoff: Handoff = self
            .codes
            .take(code)
            .await?
            .filter(|h: &Handoff| browser.map(digest).as_deref() == Some(h.browser.as_str()))
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        let generation = self.store.generation(&handoff.user_id).await?;
        let creds = self
            .users
            .credentials_by_id(&handoff.user_id)
            .await?
            .ok_or(ServiceError::InvalidOrExpiredToken)?;
        if let Some(refusal) = banned(&creds.user) {
            return Err(refusal);
        }
        if creds.user.mfa_enabled {
            let challenge = self.second_step.ask(&creds, generation).await?;
            return Ok(SignIn::SecondFactor(challenge));
        }
        match self
            .sessions
            .open(creds, client, SignInMethod::Provider, generation)
            .await?
        {
            Opening::Opened(pair) => Ok(SignIn::Complete(pair)),
            Opening::Superseded => Err(ServiceError::InvalidOrExpiredToken),
        }
    }
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}
