//! `crates/api/src/routes/<plural>.rs`: the HTTP side, with its part of the OpenAPI
//! document and a test that the documented limits are the domain's.

use crate::render::services::capital;
use crate::spec::{Field, Kind, Resource};

/// The `#[schema(...)]` of a request field; `nullable`: its Rust type is an `Option` (null
/// is then documented as allowed, and means what absent means, or clears the field).
fn schema(f: &Field, nullable: bool) -> String {
    let mut parts = Vec::new();
    match &f.kind {
        Kind::Text { min, max } => {
            if *min > 0 {
                parts.push(format!("min_length = {min}"));
            }
            parts.push(format!("max_length = {max}"));
        }
        Kind::Int { min, max } => {
            parts.push(format!("minimum = {min}"));
            parts.push(format!("maximum = {max}"));
        }
        Kind::DateTime => {
            let ty = if nullable { "Option<String>" } else { "String" };
            parts.push(format!("value_type = {ty}, format = DateTime"));
        }
        Kind::Bool => {}
    }
    if nullable && f.optional && f.kind != Kind::DateTime {
        parts.insert(0, format!("value_type = Option<{}>", f.wire_type()));
    }
    parts.push(format!("example = {}", example(f)));
    format!("    #[schema({})]\n", parts.join(", "))
}

fn example(f: &Field) -> String {
    match &f.kind {
        Kind::Text { .. } => {
            let v = f.sample_json(0);
            if v.len() > 40 {
                "\"…\"".to_owned()
            } else {
                v
            }
        }
        Kind::Int { min, max } => {
            if *min <= 0 && *max >= 0 {
                "0".to_owned()
            } else {
                min.to_string()
            }
        }
        Kind::Bool => "true".to_owned(),
        Kind::DateTime => "\"2030-01-02T03:04:05Z\"".to_owned(),
    }
}

pub fn render(r: &Resource) -> String {
    let (t, s, c) = (&r.plural, &r.singular, &r.camel);
    let an = capital(&r.a().replace('_', " "));
    let create_fields: String = r
        .fields
        .iter()
        .map(|f| {
            let ty = if f.required() {
                f.wire_type().to_owned()
            } else {
                format!("Option<{}>", f.wire_type())
            };
            format!(
                "    /// {}.\n{}    pub {}: {ty},\n",
                capital(&f.rule()),
                schema(f, !f.required()),
                f.name
            )
        })
        .collect();
    let update_fields: String = r
        .fields
        .iter()
        .map(|f| {
            if f.optional {
                format!(
                    "    /// {}; null clears it, absent leaves it.\n    #[serde(default, deserialize_with = \"super::present\")]\n{}    pub {}: Option<Option<{}>>,\n",
                    capital(&f.limits()), schema(f, true), f.name, f.wire_type()
                )
            } else {
                format!(
                    "    /// {}; absent or null leaves it.\n{}    pub {}: Option<{}>,\n",
                    capital(&f.limits()),
                    schema(f, true),
                    f.name,
                    f.wire_type()
                )
            }
        })
        .collect();
    let list_flags: String = r
        .flags()
        .map(|f| {
            format!(
                "    /// Only {t} whose `{n}` is `true` or `false`.\n    #[param(value_type = Option<bool>)]\n    pub {n}: Option<String>,\n",
                n = f.name
            )
        })
        .collect();
    let moves = |fields: &mut dyn Iterator<Item = &Field>| -> String {
        fields
            .map(|f| format!("{n}: b.{n},\n", n = f.name))
            .collect()
    };
    let create_moves = moves(&mut r.fields.iter());
    let list_moves: String = r
        .flags()
        .map(|f| format!("{n}: q.{n},\n", n = f.name))
        .collect();
    let mut bad_params = vec!["`limit`".to_owned(), "`cursor`".to_owned()];
    bad_params.extend(r.flags().map(|f| format!("`{}`", f.name)));
    let bad_params = match bad_params.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    let limit_checks: String = r
        .fields
        .iter()
        .flat_map(|f| {
            let ty = f.domain_type(r);
            let (min, max, keys) = match &f.kind {
                Kind::Text { min, .. } => (
                    if *min > 0 {
                        format!("Some({ty}::MIN_CHARS as f64)")
                    } else {
                        "None".to_owned()
                    },
                    format!("Some({ty}::MAX_CHARS as f64)"),
                    ("minLength", "maxLength"),
                ),
                Kind::Int { .. } => (
                    format!("Some({ty}::MIN as f64)"),
                    format!("Some({ty}::MAX as f64)"),
                    ("minimum", "maximum"),
                ),
                _ => return Vec::new(),
            };
            ["Create", "Update"]
                .iter()
                .map(|verb| {
                    format!(
                        "            ({verb:?}, {n:?}, {k0:?}, {min}, {k1:?}, {max}),\n",
                        verb = format!("{verb}{c}Request"),
                        n = f.name,
                        k0 = keys.0,
                        k1 = keys.1,
                    )
                })
                .collect()
        })
        .collect();
    let mut limit_types: Vec<String> = r
        .fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Text { .. } | Kind::Int { .. }))
        .map(|f| f.domain_type(r))
        .collect();
    limit_types.sort();
    let limit_test = if limit_types.is_empty() {
        String::new()
    } else {
        format!(
            r#"
#[cfg(test)]
mod tests {{
    use services::domain::{t}::{{{types}}};
    use utoipa::OpenApi;

    /// The documented limits are the domain types' own: the hostile suite reads them from
    /// the served document.
    #[test]
    fn documented_limits_are_the_domain_limits() {{
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).unwrap_or_default();
        for (schema, field, low_key, low, high_key, high) in [
{limit_checks}        ] {{
            let p = &doc["components"]["schemas"][schema]["properties"][field];
            assert_eq!(
                (p[low_key].as_f64(), p[high_key].as_f64()),
                (low, high),
                "{{schema}}.{{field}}: {{p}}"
            );
        }}
    }}
}}
"#,
            types = limit_types.join(", ")
        )
    };
    format!(
        r#"//! `/api/{t}`: the caller's {t} (written by `cargo xtask new-resource`).

use actix_web::http::header;
use actix_web::{{web, HttpResponse}};
use serde::Deserialize;
use services::{t}::{{{c}, {c}ListInput, {c}Page, {c}PatchInput, New{c}Input}};
use services::Services;
use utoipa::{{IntoParams, OpenApi, ToSchema}};

use super::{{no_content, resource}};
use crate::error::{{ApiError, Problem}};
use crate::extract::{{Auth, JsonBody}};

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, update, delete),
    tags((name = "{t}", description = "The caller's {t}"))
)]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {{
    cfg.service(
        resource("/api/{t}")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        resource("/api/{t}/{{id}}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}}

/// A new {s}.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Create{c}Request {{
{create_fields}}}

/// A partial update: absent fields are left alone, and so is a null one unless the field
/// is optional, when null clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Update{c}Request {{
{update_fields}}}

/// The list query. Values are checked by the service so each gets a field message.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct {c}ListQuery {{
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
{list_flags}}}

/// Creates a {s}.
#[utoipa::path(post, path = "/api/{t}", tag = "{t}", security(("bearer" = [])), request_body = Create{c}Request,
    responses((status = 201, description = "Created", body = {c}, headers(("Location" = String, description = "The {s}'s URL"))),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn create(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<Create{c}Request>,
) -> Result<HttpResponse, ApiError> {{
    let b = body.0;
    let input = New{c}Input {{
        {create_moves}
    }};
    let created = services.resources.{t}.create(&auth.0, input).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/{t}/{{}}", created.id)))
        .json(created))
}}

/// A page of the caller's {t}, oldest first (keyset pagination).
#[utoipa::path(get, path = "/api/{t}", tag = "{t}", security(("bearer" = [])), params({c}ListQuery),
    responses((status = 200, description = "A page", body = {c}Page),
        (status = 422, description = "`validation_failed`: bad {bad_params}", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn list(
    services: web::Data<Services>,
    auth: Auth,
    query: web::Query<{c}ListQuery>,
) -> Result<HttpResponse, ApiError> {{
    let q = query.into_inner();
    let input = {c}ListInput {{
        limit: q.limit,
        cursor: q.cursor,
        {list_moves}
    }};
    Ok(HttpResponse::Ok().json(services.resources.{t}.list(&auth.0, input).await?))
}}

/// One of the caller's {t}.
#[utoipa::path(get, path = "/api/{t}/{{id}}", tag = "{t}", security(("bearer" = [])),
    params(("id" = String, Path, description = "{an} id")),
    responses((status = 200, description = "The {s}", body = {c}),
        (status = 404, description = "No such {s} of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn get(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {{
    Ok(HttpResponse::Ok().json(services.resources.{t}.get(&auth.0, &id).await?))
}}

/// Changes some fields of one of the caller's {t}.
#[utoipa::path(patch, path = "/api/{t}/{{id}}", tag = "{t}", security(("bearer" = [])),
    params(("id" = String, Path, description = "{an} id")), request_body = Update{c}Request,
    responses((status = 200, description = "The {s} as stored", body = {c}),
        (status = 404, description = "No such {s} of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn update(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<Update{c}Request>,
) -> Result<HttpResponse, ApiError> {{
    let b = body.0;
    let input = {c}PatchInput {{
        {create_moves}
    }};
    Ok(HttpResponse::Ok().json(services.resources.{t}.update(&auth.0, &id, input).await?))
}}

/// Deletes one of the caller's {t}.
#[utoipa::path(delete, path = "/api/{t}/{{id}}", tag = "{t}", security(("bearer" = [])),
    params(("id" = String, Path, description = "{an} id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such {s} of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn delete(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {{
    services.resources.{t}.delete(&auth.0, &id).await?;
    Ok(no_content())
}}
{limit_test}"#
    )
}
