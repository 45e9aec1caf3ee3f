//! Per-request telemetry: a request id (the caller's `X-Request-Id` when it is sensible, a
//! fresh one otherwise), a span every log line of the request carries, one log line when
//! the request ends, and the request metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use tracing::field::Empty;
use tracing::Instrument;

/// The `X-Request-Id` header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The user a request authenticated as, left in the request's extensions by `Auth`.
#[derive(Debug, Clone)]
pub struct UserId(pub String);

/// Accepts a caller's request id of 1-128 characters from `A-Z a-z 0-9 - _ .`.
fn valid_request_id(v: &str) -> bool {
    (1..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The method as a label: one of the methods RFC 9110 defines (and PATCH), or `other`.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::CONNECT, "CONNECT"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::PATCH, "PATCH"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, label)| label)
}

/// The middleware: wrap the app with `actix_web::middleware::from_fn(observe)`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // A label from a fixed set: invented methods must not grow the metrics or the logs.
    let method = method_label(req.method());
    // The resource map knows the pattern before routing: metrics and span names use the
    // pattern (`/api/tasks/{id}`), never the path, so ids never become labels.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    // Lines logged while the request runs carry the span's fields. The OpenTelemetry
    // fields, and the ones only known at the end, are filled in only when traces are
    // exported: every `record` reformats the span's fields for the log.
    let otel = super::otel_on();
    let span = if otel {
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method,
            route = route.as_str(),
            user_id = Empty,
            trace_id = Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            http.response.status_code = Empty,
        )
    } else {
        tracing::info_span!(
            "request",
            request_id = request_id.as_str(),
            method,
            route = route.as_str()
        )
    };
    let trace_id = super::record_trace_id(&span);
    let start = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let latency = start.elapsed();
    // An error a middleware returned (a CORS refusal) is answered by actix-web from the
    // error alone; it is logged and counted like any answer, and carries the request id.
    let (mut res, status, user_id) = match result {
        Ok(res) => {
            let status = res.status().as_u16();
            let user_id = res
                .request()
                .extensions_mut()
                .remove::<UserId>()
                .map(|u| u.0);
            (Ok(res), status, user_id)
        }
        Err(e) => {
            let answer = e.error_response();
            let status = answer.status().as_u16();
            (Err((e, answer)), status, None)
        }
    };
    if otel {
        span.record("http.response.status_code", status);
        if let Some(u) = &user_id {
            span.record("user_id", u.as_str());
        }
    }
    drop(span);
    // The request's own line carries every field itself, so it is logged outside the span
    // (no copy of the span's fields on it); `telemetry` writes it without the generic
    // JSON formatter.
    tracing::info!(
        target: super::REQUEST_TARGET,
        request_id = request_id.as_str(),
        method,
        route = route.as_str(),
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        user_id = user_id.as_deref(),
        trace_id = trace_id.as_deref(),
        "request"
    );
    crate::metrics::record_request(method, &route, status, latency);
    // The id's own buffer becomes the header value (it was checked or made printable).
    let id = HeaderValue::try_from(request_id).ok();
    match &mut res {
        Ok(res) => {
            if let Some(v) = id {
                res.headers_mut().insert(REQUEST_ID, v);
            }
        }
        Err((_, answer)) => {
            if let Some(v) = id {
                answer.headers_mut().insert(REQUEST_ID, v);
            }
        }
    }
    res.map_err(|(e, answer)| InternalError::from_response(e, answer).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for odd in ["X1METHOD", "get", &"A".repeat(4000)] {
            let m = Method::from_bytes(odd.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(method_label(&m), "other", "{odd:.20}");
        }
    }

    #[test]
    fn only_sensible_request_ids_are_taken_from_the_caller() {
        assert!(valid_request_id("abc-123_x.y"));
        assert!(valid_request_id(&"a".repeat(128)));
        for bad in ["", "a b", "a\nb", "<script>", &"a".repeat(129), "ünï"] {
            assert!(!valid_request_id(bad), "{bad:?}");
        }
    }
}
