//! `/api/tasks`: the caller's tasks.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use services::{NewTaskInput, Services, Task, TaskListInput, TaskPage, TaskPatchInput};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{no_content, resource};
use crate::error::{ApiError, Problem};
use crate::extract::{Auth, JsonBody};

/// This module's part of the OpenAPI document: its operations and its tag.
#[derive(OpenApi)]
#[openapi(paths(create, list, get, update, delete), tags((name = "tasks", description = "The caller's tasks")))]
pub(crate) struct Doc;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/api/tasks")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        resource("/api/tasks/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// A new task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// 1-200 characters (surrounding white space is trimmed).
    #[schema(example = "Buy milk", min_length = 1, max_length = 200)]
    pub title: String,
    /// At most 2000 characters.
    #[schema(example = "Two litres", max_length = 2000)]
    pub description: Option<String>,
    /// Defaults to false.
    #[schema(example = false)]
    pub done: Option<bool>,
}

/// A partial update: absent fields are left alone; `"description": null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskRequest {
    #[schema(example = "Buy oat milk", min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>, example = "One litre", max_length = 2000)]
    pub description: Option<Option<String>>,
    #[schema(example = true)]
    pub done: Option<bool>,
}

/// The list query. Values are checked by the service so each gets a field message.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1-100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only done (`true`) or open (`false`) tasks.
    #[param(value_type = Option<bool>)]
    pub done: Option<String>,
}

/// Creates a task.
#[utoipa::path(post, path = "/api/tasks", tag = "tasks", security(("bearer" = [])), request_body = CreateTaskRequest,
    responses((status = 201, description = "Created", body = Task, headers(("Location" = String, description = "The task's URL"))),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn create(
    services: web::Data<Services>,
    auth: Auth,
    body: JsonBody<CreateTaskRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let input = NewTaskInput {
        title: b.title,
        description: b.description,
        done: b.done,
    };
    let task = services.tasks.create(&auth.0, input).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/tasks/{}", task.id)))
        .json(task))
}

/// A page of the caller's tasks, oldest first (keyset pagination).
#[utoipa::path(get, path = "/api/tasks", tag = "tasks", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page", body = TaskPage),
        (status = 422, description = "`validation_failed`: bad `limit`, `cursor` or `done`", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn list(
    services: web::Data<Services>,
    auth: Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let input = TaskListInput {
        limit: q.limit,
        cursor: q.cursor,
        done: q.done,
    };
    Ok(HttpResponse::Ok().json(services.tasks.list(&auth.0, input).await?))
}

/// One of the caller's tasks.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "A task id")),
    responses((status = 200, description = "The task", body = Task),
        (status = 404, description = "No such task of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn get(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(services.tasks.get(&auth.0, &id).await?))
}

/// Changes some fields of one of the caller's tasks.
#[utoipa::path(patch, path = "/api/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "A task id")), request_body = UpdateTaskRequest,
    responses((status = 200, description = "The task as stored", body = Task),
        (status = 404, description = "No such task of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::BodyErrors, crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn update(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
    body: JsonBody<UpdateTaskRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let input = TaskPatchInput {
        title: b.title,
        description: b.description,
        done: b.done,
    };
    Ok(HttpResponse::Ok().json(services.tasks.update(&auth.0, &id, input).await?))
}

/// Deletes one of the caller's tasks.
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("id" = String, Path, description = "A task id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such task of the caller's", body = Problem, content_type = "application/problem+json"),
        crate::openapi::AuthErrors, crate::openapi::Unavailable))]
pub async fn delete(
    services: web::Data<Services>,
    auth: Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    services.tasks.delete(&auth.0, &id).await?;
    Ok(no_content())
}
