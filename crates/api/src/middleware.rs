//! Two small middlewares: `HEAD` served as `GET` without a body (RFC 9110 §9.3.2), and
//! CORS refusals answered as problem+json like every other error.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

/// Routes a `HEAD` request as the `GET` of the same resource. actix-http's codec remembers
/// the request came as `HEAD` and sends the headers alone.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Answers a refused CORS preflight (which actix-cors answers as a plain-text 400) as a
/// problem+json 400 `cors_rejected`, and turns a refusal the CORS middleware returns as an
/// error into the same.
pub async fn cors_errors_as_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // What actix-cors takes for a preflight (with or without an Origin).
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let res = next.call(req).await.map_err(|e| {
        let Some(cors) = e.as_error::<actix_cors::CorsError>() else {
            return e;
        };
        InternalError::from_response(cors.to_string(), refusal(&cors.to_string())).into()
    })?;
    if !(preflight && res.status() == StatusCode::BAD_REQUEST) {
        return Ok(res.map_into_left_body());
    }
    let (http, res) = res.into_parts();
    // actix-cors's refusal is one short line naming what was not allowed.
    let why = actix_web::body::to_bytes_limited(res.into_body(), 1024)
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| "not allowed".to_owned());
    Ok(ServiceResponse::new(http, refusal(&why)).map_into_right_body())
}

fn refusal(why: &str) -> HttpResponse {
    let mut res = ApiError::CorsRejected(why.to_owned()).error_response();
    crate::app::add_security_headers(res.headers_mut());
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    res
}
