//! The caller's tasks. Every call is scoped to the caller; another user's task is "not
//! found", exactly like a missing one.

use repos::{TaskQuery, TaskRepo};

use crate::domain::{Id, Parsed, TaskDescription, TaskPatch, TaskTitle};
use crate::paging::{cursor, flag, limit};
use crate::reads::Reads;
use crate::sessions::Principal;
use crate::views::{Task, TaskPage};
use crate::{FieldError, ServiceError};

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
    reads: Reads,
}

/// A description, if one was given.
fn description(raw: Option<&str>) -> Result<Option<TaskDescription>, FieldError> {
    raw.map(TaskDescription::parse).transpose()
}

impl TaskService {
    pub(crate) fn new(tasks: TaskRepo, reads: Reads) -> Self {
        Self { tasks, reads }
    }

    /// Creates a task for the caller.
    pub async fn create(&self, who: &Principal, input: NewTaskInput) -> Result<Task, ServiceError> {
        let (title, description) = (
            TaskTitle::parse(&input.title),
            description(input.description.as_deref()),
        )
            .all()?;
        let done = input.done.unwrap_or(false);
        let task = self
            .tasks
            .create(&who.user_id, &title, description.as_ref(), done)
            .await?;
        self.reads.wrote(&who.user_id).await;
        Ok(task.into())
    }

    /// One of the caller's tasks.
    pub async fn get(&self, who: &Principal, id: &str) -> Result<Task, ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        Ok(self.tasks.get(&who.user_id, &id.to_string()).await?.into())
    }

    /// A page of the caller's tasks, oldest first; a replica may serve it, once it has
    /// the caller's own last write.
    pub async fn list(
        &self,
        who: &Principal,
        input: TaskListInput,
    ) -> Result<TaskPage, ServiceError> {
        let (limit, after, done) = (
            limit(input.limit.as_deref()),
            cursor(input.cursor.as_deref()),
            flag("done", input.done.as_deref()),
        )
            .all()?;
        let query = TaskQuery {
            user_id: who.user_id.clone(),
            after,
            done,
            limit,
        };
        let freshness = self.reads.for_reader(&who.user_id).await;
        let page = self.tasks.list(query, freshness).await?.map(Task::from);
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
        let (title, description) = (
            input.title.as_deref().map(TaskTitle::parse).transpose(),
            input
                .description
                .map(|d| description(d.as_deref()))
                .transpose(),
        )
            .all()?;
        let patch = TaskPatch {
            title,
            description,
            done: input.done,
        };
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        if patch.is_empty() {
            return Ok(self.tasks.get(&who.user_id, &id).await?.into());
        }
        let task = self.tasks.update(&who.user_id, &id, patch).await?;
        self.reads.wrote(&who.user_id).await;
        Ok(task.into())
    }

    /// Deletes one of the caller's tasks.
    pub async fn delete(&self, who: &Principal, id: &str) -> Result<(), ServiceError> {
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        self.tasks.delete(&who.user_id, &id.to_string()).await?;
        self.reads.wrote(&who.user_id).await;
        Ok(())
    }
}
