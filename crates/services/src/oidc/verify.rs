//! Trading the provider's code for its tokens and checking the ID token: the signature by
//! the provider's published keys (fetched again once for a key they lack), the exact
//! issuer, the audience and `azp`, the times and the nonce.

use chrono::Utc;
use openidconnect::core::{CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, Nonce, OAuth2TokenResponse,
    PkceCodeVerifier, SignatureVerificationError, TokenResponse,
};

use super::{Failure, Flow, Oidc};

/// How far in the future an ID token's `iat` may be (clocks differ a little).
const IAT_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// Who the ID token says signed in.
pub(super) struct Asserted {
    /// The token's `iss` (checked to be the provider's exactly).
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username_hint: Option<String>,
}

impl Oidc {
    /// Trades the code for tokens and checks the ID token; once more with the provider's
    /// keys fetched again if it names a key they lack.
    pub(super) async fn verified(
        &self,
        provider: &str,
        code: String,
        flow: &Flow,
        iss: Option<&str>,
    ) -> Result<Asserted, Failure> {
        let ready = self
            .providers
            .ready(provider)
            .map_err(Failure::from_service)?;
        if iss.is_some_and(|iss| iss != ready.metadata.issuer().as_str()) {
            return Err(Failure::Token);
        }
        let s = &ready.settings;
        let client = CoreClient::from_provider_metadata(
            (*ready.metadata).clone(),
            ClientId::new(s.client_id.clone()),
            Some(ClientSecret::new(s.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_uri(provider).map_err(Failure::from_service)?);
        let exchange = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| Failure::Provider)?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()));
        let tokens = exchange
            .request_async(&self.providers.http)
            .await
            .map_err(|e| {
                tracing::info!(provider, error = %crate::error::error_chain(&e),
                    "an OpenID provider's token answer was refused");
                Failure::Provider
            })?;
        let _ = tokens.access_token();
        let id_token = tokens.id_token().ok_or(Failure::Token)?;
        let nonce = Nonce::new(flow.nonce.clone());
        let check = |metadata: &openidconnect::core::CoreProviderMetadata| {
            let client = CoreClient::from_provider_metadata(
                metadata.clone(),
                ClientId::new(s.client_id.clone()),
                Some(ClientSecret::new(s.client_secret.clone())),
            );
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(ASYMMETRIC)
                .set_issue_time_verifier_fn(|iat| {
                    if iat > Utc::now() + IAT_SKEW {
                        Err(format!("issued in the future ({iat})"))
                    } else {
                        Ok(())
                    }
                });
            let claims = id_token.claims(&verifier, &nonce)?;
            authorized_party(claims, &s.client_id)?;
            Ok(asserted(claims))
        };
        match check(&ready.metadata) {
            Ok(a) => Ok(a),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // Another sign-in may have fetched the new keys meanwhile; else fetch them.
                let now = self.providers.ready(provider).ok();
                if let Some(Ok(a)) = now.as_ref().map(|r| check(&r.metadata)) {
                    return Ok(a);
                }
                let Some(fresh) = self.providers.refetch_keys(provider).await else {
                    tracing::info!(
                        provider,
                        "an ID token names a key the provider has not published"
                    );
                    return Err(Failure::Token);
                };
                check(&fresh.metadata).map_err(|e| refused_token(provider, &e))
            }
            Err(e) => Err(refused_token(provider, &e)),
        }
    }
}

/// The algorithms an ID token may be signed with: the provider's keys only, never the
/// client secret (an HS256 token would be checked against a secret strata shares).
const ASYMMETRIC: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// OpenID Connect Core 3.1.3.7: an `azp` must be the client, and a token for several
/// audiences must name one (openidconnect 4.1 leaves this to the caller).
fn authorized_party(
    claims: &CoreIdTokenClaims,
    client_id: &str,
) -> Result<(), ClaimsVerificationError> {
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client_id => Err(ClaimsVerificationError::InvalidAudience(
            format!("azp {:?} is not this client", azp.as_str()),
        )),
        None if claims.audiences().len() > 1 => Err(ClaimsVerificationError::InvalidAudience(
            "several audiences and no azp".into(),
        )),
        _ => Ok(()),
    }
}

/// The most characters of a `sub` (OpenID Connect Core 2: 255 ASCII at most).
pub(super) const MAX_SUBJECT: usize = 255;

fn asserted(claims: &CoreIdTokenClaims) -> Asserted {
    Asserted {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        // Kept only as an address strata would accept, so it fits where it is stored.
        email: claims
            .email()
            .and_then(|e| domain::Email::parse(e.as_str()).ok())
            .map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified() == Some(true),
        username_hint: claims.preferred_username().map(|u| u.as_str().to_owned()),
    }
}

fn refused_token(provider: &str, e: &ClaimsVerificationError) -> Failure {
    tracing::info!(provider, error = %e, "an ID token was refused");
    Failure::Token
}
