//! A partial update of a task, parsed: what the service checked is what the query writes.

use crate::{TaskDescription, TaskTitle};

/// The fields a partial update changes; `None` leaves a field alone and
/// `description: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub done: Option<bool>,
}

impl TaskPatch {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.done.is_none()
    }
}
