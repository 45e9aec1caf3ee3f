use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::tasks;

/// A row of `tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
pub struct Task {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub done: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Alias kept for symmetry with `NewUser`: a new task binds every column.
pub type NewTask = Task;
