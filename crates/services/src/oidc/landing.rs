//! Where a sign-in with a provider sends the browser back to: a path of the page, with a
//! one-time code or the reason there is none in the URL fragment (never in the query: a
//! fragment is sent to no server and in no `Referer`).

use crate::domain::FieldError;
use crate::ServiceError;

/// Why a sign-in with a provider gave no tokens: the `oidc_error` the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An unknown, used or stale `state`, or one of another provider.
    State,
    /// The callback was opened in another browser than the one that started the flow.
    Browser,
    /// The provider answered with an error, or refused the code.
    Provider,
    /// The ID token did not pass its checks.
    Token,
    /// The provider's address belongs to an account here: it is never linked by a sign-in.
    EmailTaken,
    /// No address the provider verified: no account is made.
    EmailUnverified,
    /// A link's provider account is linked to another account already.
    IdentityTaken,
    /// The provider or the token store was down.
    Unavailable,
}

impl Failure {
    /// The code the page reads.
    pub fn code(self) -> &'static str {
        match self {
            Failure::State => "oidc_state_invalid",
            Failure::Browser => "oidc_browser_mismatch",
            Failure::Provider => "oidc_provider_error",
            Failure::Token => "oidc_id_token_invalid",
            Failure::EmailTaken => "oidc_email_taken",
            Failure::EmailUnverified => "oidc_email_unverified",
            Failure::IdentityTaken => "oidc_identity_taken",
            Failure::Unavailable => "service_unavailable",
        }
    }

    /// A service failure on the way: an unknown record is a refused state; an outage, or
    /// anything else (a bug, logged as an error), is `Unavailable`: worth trying again.
    pub(crate) fn from_service(e: ServiceError) -> Self {
        match e {
            ServiceError::Unavailable { what, detail } => {
                tracing::warn!(dependency = %what, error = %detail, "an OpenID sign-in met an outage");
                Failure::Unavailable
            }
            ServiceError::NotFound => Failure::State,
            other => {
                tracing::error!(error = ?other, "an OpenID sign-in failed");
                Failure::Unavailable
            }
        }
    }
}

/// Where the browser goes at the end of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    pub location: String,
    /// Whether it carries a code (`false`: a failure's reason).
    pub signed_in: bool,
}

impl Landing {
    pub(crate) fn signed_in(public_url: &str, return_to: &str, code: &str) -> Self {
        Self {
            location: format!("{public_url}{return_to}#oidc_code={code}"),
            signed_in: true,
        }
    }

    pub(crate) fn linked(public_url: &str, return_to: &str, provider: &str) -> Self {
        Self {
            location: format!("{public_url}{return_to}#oidc_linked={provider}"),
            signed_in: false,
        }
    }

    /// A failure lands on the page's root: the flow's own path may be unknown.
    pub(crate) fn failed(public_url: &str, failure: Failure) -> Self {
        Self {
            location: format!("{public_url}/#oidc_error={}", failure.code()),
            signed_in: false,
        }
    }
}

/// The page path a flow returns to: `/` by default; otherwise a path under `PUBLIC_URL`
/// (it starts with one `/`, holds no `\`, fragment or control character, at most 512
/// bytes), so a flow cannot be made to end on another site.
pub fn return_path(return_to: Option<&str>) -> Result<String, ServiceError> {
    let path = return_to.unwrap_or("/");
    let route = path.split('?').next().unwrap_or_default();
    let fits = path.len() <= 512
        && path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains(['\\', '#', '%'])
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        // The page's own paths: no dot-segment out of them, and not the API.
        && !route.split('/').any(|s| s == "." || s == "..")
        && !route.starts_with("/api/");
    if fits {
        Ok(path.to_owned())
    } else {
        Err(FieldError::new(
            "return_to",
            "must be a path of this site, starting with one /",
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn only_a_path_of_this_site_is_a_return_path() {
        assert_eq!(return_path(None).ok().as_deref(), Some("/"));
        assert_eq!(
            return_path(Some("/tasks?x=1")).ok().as_deref(),
            Some("/tasks?x=1")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a#b",
            "/a\tb",
            "/../api/x",
            "/a/./b",
            "/%2e%2e/x",
            "/api/auth/oidc/token",
            "",
        ] {
            assert!(return_path(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
