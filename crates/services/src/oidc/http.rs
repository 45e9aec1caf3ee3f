//! The HTTP client openidconnect sends through: the workspace's reqwest (rustls on ring,
//! as lettre's), so the crate's own reqwest is not built. No redirects are followed (the
//! spec allows none here), answers are capped, and each call has a deadline.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{http, AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};

/// Most bytes of a provider's answer (a discovery document, a key set, a token).
const MAX_BODY: usize = 256 * 1024;

/// A provider call's whole deadline.
const DEADLINE: Duration = Duration::from_secs(10);

/// reqwest, as openidconnect's async HTTP client; or why it could not be built, which
/// every call then answers (the providers are down, and say why in the log).
#[derive(Clone, Debug)]
pub(crate) struct ProviderHttp(Result<reqwest::Client, String>);

impl ProviderHttp {
    pub(crate) fn new() -> Self {
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DEADLINE)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("the HTTP client for OpenID providers: {e}"));
        Self(client)
    }
}

type Failure = HttpClientError<reqwest::Error>;

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Failure>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let client = self
                .0
                .as_ref()
                .map_err(|e| HttpClientError::Other(e.clone()))?;
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let mut response = client.execute(request).await.map_err(Box::new)?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(Box::new)? {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(HttpClientError::Other(format!(
                        "an answer over {MAX_BODY} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            answer.body(body).map_err(HttpClientError::Http)
        })
    }
}
