//! The caller's tasks. Every call is scoped to the caller; another user's task is "not
//! found", exactly like a missing one.

use repos::{TaskPatch, TaskQuery, TaskRepo};

use crate::domain::{Checks, Id, TaskDescription, TaskTitle};
use crate::paging::{flag, PageRequest};
use crate::sessions::Principal;
use crate::views::{Task, TaskPage};
use crate::ServiceError;

/// A new task as sent by the client.
#[derive(Debug, Clone, Default)]
pub struct NewTaskInput {
    pub title: String,
    pub description: Option<String>,
    pub done: Option<bool>,
}

/// A partial update; `description: Some(None)` clears the description.
#[derive(Debug, Clone, Default)]
pub struct TaskPatchInput {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub done: Option<bool>,
}

/// The query of a list request, unparsed, so every bad parameter gets a field message.
#[derive(Debug, Clone, Default)]
pub struct TaskListInput {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub done: Option<String>,
}

/// Task operations.
#[derive(Clone)]
pub struct TaskService {
    tasks: TaskRepo,
}

fn description(raw: Option<String>, checks: &mut Checks) -> Option<String> {
    raw.and_then(|d| {
        checks
            .take(TaskDescription::parse(&d))
            .map(|d| d.as_str().to_owned())
    })
}

impl TaskService {
    pub(crate) fn new(tasks: TaskRepo) -> Self {
        Self { tasks }
    }

    /// Creates a task for the caller.
    pub async fn create(&self, who: &Principal, input: NewTaskInput) -> Result<Task, ServiceError> {
        let mut checks = Checks::default();
        let title = checks.take(TaskTitle::parse(&input.title));
        let description = description(input.description, &mut checks);
        checks.finish()?;
        let title = title.ok_or_else(|| ServiceError::internal("validated title went missing"))?;
        let task = self
            .tasks
            .create(
                &who.user_id,
                title.as_str(),
                description.as_deref(),
                input.done.unwrap_or(false),
            )
            .await?;
        Ok(task.into())
    }

    /// One of the caller's tasks.
    pub async fn get(&self, who: &Principal, id: &str) -> Result<Task, ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        Ok(self.tasks.get(&who.user_id, &id.to_string()).await?.into())
    }

    /// A page of the caller's tasks, oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        input: TaskListInput,
    ) -> Result<TaskPage, ServiceError> {
        let mut checks = Checks::default();
        let page = PageRequest::parse(input.limit.as_deref(), input.cursor.as_deref(), &mut checks);
        let done = flag("done", input.done.as_deref(), &mut checks);
        checks.finish()?;
        let page = self
            .tasks
            .list(TaskQuery {
                user_id: who.user_id.clone(),
                after: page.after,
                done,
                limit: page.limit,
            })
            .await?
            .map(Task::from);
        Ok(TaskPage {
            items: page.items,
            next_cursor: page.next_cursor,
        })
    }

    /// Changes the given fields of one of the caller's tasks.
    pub async fn update(
        &self,
        who: &Principal,
        id: &str,
        input: TaskPatchInput,
    ) -> Result<Task, ServiceError> {
        let mut checks = Checks::default();
        let title = input.title.and_then(|t| {
            checks
                .take(TaskTitle::parse(&t))
                .map(|t| t.as_str().to_owned())
        });
        let description = input.description.map(|d| description(d, &mut checks));
        checks.finish()?;
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        if title.is_none() && description.is_none() && input.done.is_none() {
            return Ok(self.tasks.get(&who.user_id, &id).await?.into());
        }
        let patch = TaskPatch {
            title,
            description,
            done: input.done,
        };
        Ok(self.tasks.update(&who.user_id, &id, patch).await?.into())
    }

    /// Deletes one of the caller's tasks.
    pub async fn delete(&self, who: &Principal, id: &str) -> Result<(), ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        Ok(self.tasks.delete(&who.user_id, &id.to_string()).await?)
    }
}
