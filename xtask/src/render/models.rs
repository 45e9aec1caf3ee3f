//! `crates/models/src/<plural>.rs`: the table and its row.

use crate::spec::Resource;

pub fn render(r: &Resource) -> String {
    let (t, c) = (&r.plural, &r.camel);
    let columns: String = r
        .fields
        .iter()
        .map(|f| format!("        {} -> {},\n", f.name, f.diesel_type()))
        .collect();
    let fields: String = r
        .fields
        .iter()
        .map(|f| format!("    pub {}: {},\n", f.name, f.column_type()))
        .collect();
    format!(
        r#"//! The `{t}` table and its row (written by `cargo xtask new-resource`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::table! {{
    {t} (id) {{
        id -> Text,
        user_id -> Text,
{columns}        created_at -> Timestamp,
        updated_at -> Timestamp,
    }}
}}

/// A row of `{t}`. A new one binds every column.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = {t})]
pub struct {c} {{
    pub id: String,
    pub user_id: String,
{fields}    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}}
"#
    )
}
