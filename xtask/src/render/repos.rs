//! `crates/repos/src/<plural>.rs`: the queries, every one scoped to an owner.

use crate::spec::Resource;

pub fn render(r: &Resource) -> String {
    let (t, s, c) = (&r.plural, &r.singular, &r.camel);
    let flags: String = r
        .flags()
        .map(|f| {
            format!(
                "    /// Only {t} with this `{n}` value.\n    pub {n}: Option<bool>,\n",
                n = f.name
            )
        })
        .collect();
    let flag_filters: String = r
        .flags()
        .map(|f| {
            format!(
                "if let Some({n}) = query.{n} {{ q = q.filter({t}::{n}.eq({n})); }}\n",
                n = f.name
            )
        })
        .collect();
    let row_fields: String = r
        .fields
        .iter()
        .map(|f| {
            let v = format!("new.{}", f.name);
            let value = if f.kind == crate::spec::Kind::Bool {
                v
            } else if f.optional {
                format!("{v}.as_ref().map(|v| {})", f.to_column("v"))
            } else {
                f.to_column(&v)
            };
            format!("            {}: {value},\n", f.name)
        })
        .collect();
    let changes: String = r
        .fields
        .iter()
        .map(|f| {
            let n = &f.name;
            if f.optional && f.kind != crate::spec::Kind::Bool {
                format!(
                    "            patch.{n}.map(|v| {t}::{n}.eq(v.map(|v| {}))),\n",
                    f.to_column("v")
                )
            } else {
                format!(
                    "            patch.{n}.map(|v| {t}::{n}.eq({})),\n",
                    f.to_column("v")
                )
            }
        })
        .collect();
    format!(
        r#"//! The `{t}` table (written by `cargo xtask new-resource`). Every call is scoped to an
//! owner: another user's {s} is not found.

use db::{{on_backend, Database}};
use diesel::prelude::*;
use domain::{t}::{{New{c}, {c}Patch}};
use models::{t}::{{{t}, {c}}};

use crate::error::{{one_row, owned_insert_error}};
use crate::{{now_utc, Page, RepoError}};

/// A {s} row. It holds nothing secret, so the row is what the layers above see.
pub type {c}Record = {c};

/// One page request: the owner's {t} with ids after `after`, oldest first.
#[derive(Debug, Clone)]
pub struct {c}Query {{
    pub user_id: String,
    /// The id of the last {s} of the previous page.
    pub after: Option<String>,
{flags}    /// Page size (the caller bounds it).
    pub limit: u32,
}}

/// A page of {t}.
pub type {c}Page = Page<{c}Record>;

/// Reads and writes `{t}`.
#[derive(Debug, Clone)]
pub struct {c}Repo {{
    db: Database,
}}

impl {c}Repo {{
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {{
        Self {{ db }}
    }}

    /// Inserts a {s} for `user_id` with a fresh UUID v7 id. `OwnerGone` if there is no such
    /// user (an account deleted while a request of one of its sessions was running).
    pub async fn create(&self, user_id: &str, new: &New{c}) -> Result<{c}Record, RepoError> {{
        let now = now_utc();
        let row = {c} {{
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.to_owned(),
{row_fields}            created_at: now,
            updated_at: now,
        }};
        self.db
            .write(move |conn| {{
                let insert = diesel::insert_into({t}::table).values(&row);
                on_backend!(conn, |c| insert.execute(c))?;
                Ok(row)
            }})
            .await
            .map_err(owned_insert_error)
    }}

    /// The {s} `id` if `user_id` owns it.
    pub async fn get(&self, user_id: &str, id: &str) -> Result<{c}Record, RepoError> {{
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .run(move |conn| {{
                let query = {t}::table
                    .filter({t}::id.eq(&id))
                    .filter({t}::user_id.eq(&user_id));
                Ok(on_backend!(conn, |c| query.select({c}::as_select()).first(c))?)
            }})
            .await
            .map_err(RepoError::from)
    }}

    /// One page of the owner's {t} in id (creation) order, read by keyset on the
    /// `(user_id, id)` index so the cost does not grow with the number of rows. One boxed
    /// query for every filter (tasks keeps static shapes, whose prepared statements Diesel
    /// caches; measure before copying that).
    pub async fn list(&self, query: {c}Query) -> Result<{c}Page, RepoError> {{
        self.db
            .run(move |conn| {{
                let limit = i64::from(query.limit);
                let rows: Vec<{c}> = on_backend!(conn, |c| {{
                    let mut q = {t}::table
                        .filter({t}::user_id.eq(&query.user_id))
                        .order(({t}::user_id.asc(), {t}::id.asc()))
                        .limit(limit + 1)
                        .select({c}::as_select())
                        .into_boxed();
                    if let Some(after) = &query.after {{
                        q = q.filter({t}::id.gt(after));
                    }}
                    {flag_filters}q.load(c)
                }})?;
                Ok({c}Page::from_rows(rows, query.limit, |row| &row.id))
            }})
            .await
            .map_err(RepoError::from)
    }}

    /// Applies `patch` to the owner's {s} and returns it as stored; fields the patch leaves
    /// out are left alone. Update first, then read, in one transaction.
    pub async fn update(
        &self,
        user_id: &str,
        id: &str,
        patch: {c}Patch,
    ) -> Result<{c}Record, RepoError> {{
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        // Diesel skips a `None` of this tuple, so only the patched columns are set.
        let changes = (
{changes}            {t}::updated_at.eq(now_utc()),
        );
        self.db
            .transaction(move |conn| {{
                let owned = {t}::table
                    .filter({t}::id.eq(&id))
                    .filter({t}::user_id.eq(&user_id));
                let update = diesel::update(owned).set(changes.clone());
                one_row(on_backend!(conn, |c| update.execute(c))?)?;
                Ok(on_backend!(conn, |c| owned.select({c}::as_select()).first(c))?)
            }})
            .await
            .map_err(RepoError::from)
    }}

    /// Deletes the owner's {s}; `NotFound` if there is no such {s} of theirs.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<(), RepoError> {{
        let (user_id, id) = (user_id.to_owned(), id.to_owned());
        self.db
            .write(move |conn| {{
                let delete = diesel::delete(
                    {t}::table
                        .filter({t}::id.eq(&id))
                        .filter({t}::user_id.eq(&user_id)),
                );
                one_row(on_backend!(conn, |c| delete.execute(c))?)
            }})
            .await
            .map_err(RepoError::from)
    }}

    /// How many {t} the user has.
    pub async fn count(&self, user_id: &str) -> Result<i64, RepoError> {{
        let user_id = user_id.to_owned();
        self.db
            .run(move |conn| {{
                let count = {t}::table.filter({t}::user_id.eq(&user_id)).count();
                Ok(on_backend!(conn, |c| count.get_result(c))?)
            }})
            .await
            .map_err(RepoError::from)
    }}
}}
"#
    )
}
