//! Request extractors: a JSON body with precise 400/413/415/422 answers, the bearer token,
//! and the client's address.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;
use services::{ClientInfo, FieldError, Principal, Services};

use crate::error::ApiError;

/// The largest body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a body may take to arrive once the headers have (`BODY_TIMEOUT`): a body that
/// trickles in is answered 408 and its connection closed, so slow clients cannot hold
/// connections open without end.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub std::time::Duration);

impl Default for BodyDeadline {
    fn default() -> Self {
        Self(std::time::Duration::from_secs(10))
    }
}

type Boxed<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A JSON request body. Unlike `web::Json`, a type mismatch names the field (422), and
/// syntax errors (400), a wrong content type (415) and oversized bodies (413) are told apart.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let deadline = req.app_data::<BodyDeadline>().copied().unwrap_or_default();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let read = tokio::time::timeout(deadline.0, body)
                .await
                .map_err(|_| ApiError::RequestTimeout)?;
            let bytes = read.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson("the body could not be read".into())
                }
            })?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// Parses a JSON document, naming the field a type error is about.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a broken document is a 400 even when its members are wrong too.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::MalformedJson("the body is not UTF-8".into()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    // Every body is an object; serde would otherwise read a struct from an array too.
    if !text.trim_start().starts_with('{') {
        return Err(ApiError::InvalidBody(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let message = strip_position(&inner.to_string());
            let field = match (path.as_str(), quoted_field(&message)) {
                (".", Some(named)) => named.to_owned(),
                (".", None) => "body".to_owned(),
                _ => path,
            };
            ApiError::InvalidBody(vec![FieldError::new(&field, message)])
        } else {
            ApiError::MalformedJson(inner.to_string())
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

/// The field named by serde's "missing field `x`" or "unknown field `x`".
fn quoted_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

/// serde_json appends " at line 1 column 7"; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The caller, proven by a bearer access token whose session is alive.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::TokenMissing)?;
    let value = value.to_str().map_err(|_| ServiceErrorInvalid)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(ServiceErrorInvalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ServiceErrorInvalid.into());
    }
    Ok(token.trim().to_owned())
}

/// The raw bearer token of a request, for the one route that checks it itself (logout).
#[derive(Debug, Clone)]
pub struct BearerToken(pub String);

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(bearer(req).map(BearerToken))
    }
}

/// Shorthand: a present but unusable Authorization header is an invalid token.
struct ServiceErrorInvalid;

impl From<ServiceErrorInvalid> for ApiError {
    fn from(_: ServiceErrorInvalid) -> Self {
        ApiError::Service(services::ServiceError::TokenInvalid)
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Boxed<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let services = req.app_data::<web::Data<Services>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let token = token?;
            let services = services
                .ok_or_else(|| services::ServiceError::internal("services not configured"))?;
            let principal = services.sessions.authenticate(&token).await?;
            // For the request's log line and span.
            req.extensions_mut()
                .insert(crate::telemetry::request::UserId(principal.user_id.clone()));
            Ok(Auth(principal))
        })
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

/// The client's address: the TCP peer, unless the peer is a trusted proxy, in which case
/// the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Addresses a
/// client writes into the header itself sit further left and are never believed.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for.unwrap_or("").split(',').rev().map(str::trim);
    for hop in hops {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => break,
        }
    }
    Some(peer)
}

/// Every `X-Forwarded-For` line of the request joined in order into one list (RFC 9110
/// §5.3): a proxy may add its own line rather than extend the client's, and the right-most
/// entries are the ones that count. A line that is not text stands in the list as an entry
/// that does not parse, so nothing to its left is believed. `Forwarded` (RFC 7239) is not
/// read.
fn forwarded_for(req: &HttpRequest) -> Option<String> {
    let mut lines = req.headers().get_all("x-forwarded-for").peekable();
    lines.peek()?;
    let joined: Vec<&str> = lines.map(|v| v.to_str().unwrap_or("?")).collect();
    Some(joined.join(","))
}

/// The client's address and user agent, kept with the session and used for rate limits.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequest for Client {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<TrustedProxies>>()
            .map(|t| t.0.as_slice())
            .unwrap_or(&[]);
        let forwarded = forwarded_for(req);
        let ip = client_ip(
            req.peer_addr().map(|a| a.ip()),
            forwarded.as_deref(),
            trusted,
        )
        .map(|ip| ip.to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        std::future::ready(Ok(Client(ClientInfo { ip, user_agent })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: String,
        done: Option<bool>,
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let proxy = ip("10.0.0.2").into_iter().collect::<Vec<_>>();
        // No trusted proxy: the peer, whatever the header says.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("1.2.3.4"), &[]),
            ip("203.0.113.9")
        );
        // Through the proxy: the address the proxy saw, not what the client wrote.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.7"), &proxy),
            ip("198.51.100.7")
        );
        // A peer that is not the proxy cannot spoof.
        assert_eq!(
            client_ip(ip("198.51.100.7"), Some("6.6.6.6"), &proxy),
            ip("198.51.100.7")
        );
        // A proxy that adds a line of its own: the lines are one list, right-most counts.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("6.6.6.1,203.0.113.20"), &proxy),
            ip("203.0.113.20")
        );
        // Garbage in the header: fall back to the proxy's own address.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("nonsense"), &proxy),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn every_forwarded_for_line_is_read_in_order() {
        let req = actix_web::test::TestRequest::default()
            .append_header(("x-forwarded-for", "6.6.6.1"))
            .append_header(("x-forwarded-for", "203.0.113.20, 10.0.0.3"))
            .to_http_request();
        assert_eq!(
            forwarded_for(&req).as_deref(),
            Some("6.6.6.1,203.0.113.20, 10.0.0.3")
        );
        let none = actix_web::test::TestRequest::default().to_http_request();
        assert_eq!(forwarded_for(&none), None);
        let bad = actix_web::test::TestRequest::default()
            .append_header(("x-forwarded-for", "6.6.6.1"))
            .append_header((
                "x-forwarded-for",
                actix_web::http::header::HeaderValue::from_bytes(b"\xff")
                    .unwrap_or_else(|e| panic!("{e}")),
            ))
            .to_http_request();
        assert_eq!(forwarded_for(&bad).as_deref(), Some("6.6.6.1,?"));
    }

    #[test]
    fn type_errors_name_the_field_and_syntax_errors_are_malformed() {
        match parse_json::<Body>(br#"{"title": 5}"#) {
            Err(ApiError::InvalidBody(e)) => assert_eq!(e[0].field, "title"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"title": "x", "titel": 1}"#) {
            Err(ApiError::InvalidBody(e)) => assert_eq!(e[0].field, "titel"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"done": true}"#) {
            Err(ApiError::InvalidBody(e)) => assert_eq!(e[0].field, "title"),
            other => panic!("{other:?}"),
        }
        for bad in [
            &b""[..],
            b"{",
            b"{\"title\": \"x\"} trailing",
            b"\xff\xfe",
            b"{\"nonsense\": 1} trailing",
            b"{\"nonsense\": \"x\"",
        ] {
            assert!(
                matches!(parse_json::<Body>(bad), Err(ApiError::MalformedJson(_))),
                "{bad:?}"
            );
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(matches!(
            parse_json::<Body>(deep.as_bytes()),
            Err(ApiError::MalformedJson(_) | ApiError::InvalidBody(_))
        ));
    }
}
