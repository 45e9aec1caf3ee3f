//! `crates/services/src/<plural>.rs`: the inputs, the view, and the service's rules.

use crate::spec::{Field, Kind, Resource};

/// The create's parse of `f` from `input`.
fn create_parse(r: &Resource, f: &Field) -> String {
    let n = &f.name;
    match (&f.kind, &f.default, f.optional) {
        (Kind::Bool, Some(d), _) => format!("input.{n}.unwrap_or({d})"),
        (Kind::Bool, None, _) => format!("input.{n}"),
        (Kind::Int { .. }, Some(d), _) => f.parse(r, &format!("input.{n}.unwrap_or({d})")),
        (Kind::Text { .. }, Some(d), _) => {
            f.parse(r, &format!("input.{n}.as_deref().unwrap_or({d:?})"))
        }
        (Kind::Int { .. }, None, true) => format!("input.{n}.map({}).transpose()", parser(r, f)),
        (_, None, true) => format!("input.{n}.as_deref().map({}).transpose()", parser(r, f)),
        (Kind::Int { .. }, None, false) => f.parse(r, &format!("input.{n}")),
        // A time has no default (the grammar refuses one).
        (_, _, _) => f.parse(r, &format!("&input.{n}")),
    }
}

/// The parse of one wire value, as a function: `NoteBody::parse`, or a closure for a time.
fn parser(r: &Resource, f: &Field) -> String {
    match f.kind {
        Kind::DateTime => format!("|raw: &str| {}", f.parse(r, "raw")),
        _ => format!("{}::parse", f.domain_type(r)),
    }
}

/// The update's parse of `f` from `input` (absent stays `None`).
fn patch_parse(r: &Resource, f: &Field) -> String {
    let n = &f.name;
    let one = parser(r, f);
    let deref = if matches!(f.kind, Kind::Int { .. }) {
        ""
    } else {
        ".as_deref()"
    };
    match (&f.kind, f.optional) {
        (Kind::Bool, _) => format!("input.{n}"),
        (_, false) => format!("input.{n}{deref}.map({one}).transpose()"),
        (_, true) => format!("input.{n}.map(|v| v{deref}.map({one}).transpose()).transpose()"),
    }
}

pub fn render(r: &Resource) -> String {
    let (t, s, c) = (&r.plural, &r.singular, &r.camel);
    let wire = |f: &Field, patch: bool| -> String {
        let w = f.wire_type();
        match (patch, f.required(), f.optional) {
            (false, true, _) => w.to_owned(),
            (false, false, _) | (true, _, false) => format!("Option<{w}>"),
            (true, _, true) => format!("Option<Option<{w}>>"),
        }
    };
    let doc = |f: &Field| format!("    /// {}.\n", capital(&f.rule()));
    let new_input: String = r
        .fields
        .iter()
        .map(|f| format!("{}    pub {}: {},\n", doc(f), f.name, wire(f, false)))
        .collect();
    let patch_input: String = r
        .fields
        .iter()
        .map(|f| format!("    pub {}: {},\n", f.name, wire(f, true)))
        .collect();
    let list_flags: String = r
        .flags()
        .map(|f| format!("    pub {}: Option<String>,\n", f.name))
        .collect();
    let view_fields: String = r
        .fields
        .iter()
        .map(|f| format!("    pub {}: {},\n", f.name, f.view_type()))
        .collect();
    let from_row: String = r
        .fields
        .iter()
        .map(|f| {
            let n = &f.name;
            let v = match (&f.kind, f.optional) {
                (Kind::DateTime, false) => format!("Timestamp::from_utc(row.{n})"),
                (Kind::DateTime, true) => format!("row.{n}.map(Timestamp::from_utc)"),
                _ => format!("row.{n}"),
            };
            format!("            {n}: {v},\n")
        })
        .collect();

    let checked: Vec<&Field> = r.checked().collect();
    let names: Vec<String> = checked.iter().map(|f| f.name.clone()).collect();
    let parse_block = |parse: &dyn Fn(&Field) -> String| -> String {
        if checked.is_empty() {
            return String::new();
        }
        let parses: Vec<String> = checked.iter().map(|f| parse(f)).collect();
        format!(
            "let {} = {}.all()?;\n",
            Resource::tuple(&names),
            Resource::tuple(&parses)
        )
    };
    let create_parses = parse_block(&|f| create_parse(r, f));
    let patch_parses = parse_block(&|f| patch_parse(r, f));
    // The struct literal after the parses: a checked field by its parsed name, a bool inline.
    let values = |parse: &dyn Fn(&Field) -> String| -> String {
        r.fields
            .iter()
            .map(|f| match f.checked() {
                true => format!("{},\n", f.name),
                false => format!("{}: {},\n", f.name, parse(f)),
            })
            .collect()
    };
    let new_values = values(&|f| create_parse(r, f));
    let patch_values = values(&|f| patch_parse(r, f));
    let flag_parses: Vec<String> = r
        .flags()
        .map(|f| format!("flag({:?}, input.{}.as_deref())", f.name, f.name))
        .collect();
    let mut list_names = vec!["limit".to_owned(), "after".to_owned()];
    list_names.extend(r.flags().map(|f| f.name.clone()));
    let mut list_parses = vec![
        "limit(input.limit.as_deref())".to_owned(),
        "cursor(input.cursor.as_deref())".to_owned(),
    ];
    list_parses.extend(flag_parses);
    let query_flags: String = r.flags().map(|f| format!("{},\n", f.name)).collect();

    let mut domain_uses: Vec<String> = vec![format!("New{c}"), format!("{c}Patch")];
    domain_uses.extend(
        r.fields
            .iter()
            .filter(|f| matches!(f.kind, Kind::Text { .. } | Kind::Int { .. }))
            .map(|f| f.domain_type(r)),
    );
    domain_uses.sort();
    let mut crate_domain = vec!["Id"];
    if r.has_time() {
        crate_domain.push("Instant");
    }
    crate_domain.push("Parsed");
    let paging = if r.flags().next().is_some() {
        "cursor, flag, limit"
    } else {
        "cursor, limit"
    };
    let create_doc = if r.fields.iter().all(|f| f.required()) {
        String::new()
    } else {
        " Fields left out take their default (or null).".to_owned()
    };
    format!(
        r#"//! The caller's {t} (written by `cargo xtask new-resource`). Every call is scoped to the
//! caller; another user's {s} is "not found", exactly like a missing one.

use ::domain::{t}::{{{domain_uses}}};
use repos::database::Database;
use repos::{t}::{{{c}Query, {c}Record, {c}Repo}};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{{{crate_domain}}};
use crate::paging::{{{paging}}};
use crate::sessions::Principal;
use crate::views::Timestamp;
use crate::ServiceError;

/// A new {s} as sent by the client.
#[derive(Debug, Clone, Default)]
pub struct New{c}Input {{
{new_input}}}

/// A partial update: `None` leaves a field alone; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct {c}PatchInput {{
{patch_input}}}

/// The query of a list request, unparsed, so every bad parameter gets a field message.
#[derive(Debug, Clone, Default)]
pub struct {c}ListInput {{
    pub limit: Option<String>,
    pub cursor: Option<String>,
{list_flags}}}

/// A {s}.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct {c} {{
    pub id: String,
{view_fields}    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}}

impl From<{c}Record> for {c} {{
    fn from(row: {c}Record) -> Self {{
        Self {{
            id: row.id,
{from_row}            created_at: Timestamp::from_utc(row.created_at),
            updated_at: Timestamp::from_utc(row.updated_at),
        }}
    }}
}}

/// A page of {t}. Pass `next_cursor` as `cursor` to get the next page; `null` means this
/// was the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct {c}Page {{
    pub items: Vec<{c}>,
    pub next_cursor: Option<String>,
}}

/// The {t} operations.
#[derive(Clone)]
pub struct {c}Service {{
    {t}: {c}Repo,
}}

impl {c}Service {{
    /// The service over its repository on `database`.
    pub fn over(database: Database) -> Self {{
        Self {{
            {t}: {c}Repo::new(database),
        }}
    }}

    /// Creates a {s} for the caller.{create_doc}
    pub async fn create(&self, who: &Principal, input: New{c}Input) -> Result<{c}, ServiceError> {{
        {create_parses}let new = New{c} {{
            {new_values}
        }};
        Ok(self.{t}.create(&who.user_id, &new).await?.into())
    }}

    /// One of the caller's {t}.
    pub async fn get(&self, who: &Principal, id: &str) -> Result<{c}, ServiceError> {{
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        Ok(self.{t}.get(&who.user_id, &id.to_string()).await?.into())
    }}

    /// A page of the caller's {t}, oldest first.
    pub async fn list(&self, who: &Principal, input: {c}ListInput) -> Result<{c}Page, ServiceError> {{
        let {list_names} = {list_parses}.all()?;
        let page = self
            .{t}
            .list({c}Query {{
                user_id: who.user_id.clone(),
                after,
                {query_flags}limit,
            }})
            .await?
            .map({c}::from);
        Ok({c}Page {{
            items: page.items,
            next_cursor: page.next_cursor,
        }})
    }}

    /// Changes the given fields of one of the caller's {t}.
    pub async fn update(
        &self,
        who: &Principal,
        id: &str,
        input: {c}PatchInput,
    ) -> Result<{c}, ServiceError> {{
        {patch_parses}let patch = {c}Patch {{
            {patch_values}
        }};
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?.to_string();
        if patch.is_empty() {{
            return Ok(self.{t}.get(&who.user_id, &id).await?.into());
        }}
        Ok(self.{t}.update(&who.user_id, &id, patch).await?.into())
    }}

    /// Deletes one of the caller's {t}.
    pub async fn delete(&self, who: &Principal, id: &str) -> Result<(), ServiceError> {{
        let id = Id::parse(id).ok_or(ServiceError::NotFound)?;
        Ok(self.{t}.delete(&who.user_id, &id.to_string()).await?)
    }}
}}
"#,
        domain_uses = domain_uses.join(", "),
        crate_domain = crate_domain.join(", "),
        list_names = Resource::tuple(&list_names),
        list_parses = Resource::tuple(&list_parses),
    )
}

/// `at most 5 characters` → `At most 5 characters`.
pub fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
