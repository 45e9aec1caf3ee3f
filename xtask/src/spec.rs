//! What the command line asks for: a resource's names and its fields, checked before
//! anything is written.

use std::fmt;

/// A field's type, with its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Text of `min..=max` characters.
    Text {
        min: usize,
        max: usize,
    },
    /// A whole number in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// A point in time, RFC 3339 on the wire.
    DateTime,
}

/// One field: `name:type[:min..=max][=default][?]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub kind: Kind,
    /// The value a create without this field gets (text and int as written, bool).
    pub default: Option<String>,
    /// `?`: the field may be null.
    pub optional: bool,
}

/// The resource: `notes` is routed at `/api/notes`, its row is a `Note`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Plural, snake_case: the table, the modules and the route.
    pub plural: String,
    /// Singular, snake_case.
    pub singular: String,
    /// Singular, CamelCase: the prefix of every type.
    pub camel: String,
    pub fields: Vec<Field>,
}

/// A refusal, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(message.into()))
}

/// Rust's keywords, strict and reserved: none can name a module or a field.
#[rustfmt::skip]
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
    "true", "try", "type", "unsafe", "use", "where", "while", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield",
    "union",
];

/// SQL words reserved by PostgreSQL, MySQL/MariaDB or SQLite that a name could plausibly be.
#[rustfmt::skip]
const SQL_KEYWORDS: &[&str] = &[
    "all", "alter", "and", "any", "array", "asc", "between", "both", "by", "case", "cast",
    "check", "collate", "column", "constraint", "create", "cross", "current", "current_date",
    "current_time", "current_timestamp", "current_user", "database", "default", "delete",
    "desc", "distinct", "drop", "end", "except", "exists", "fetch", "foreign", "from", "full",
    "grant", "group", "having", "index", "inner", "insert", "intersect", "interval", "into",
    "is", "join", "key", "keys", "leading", "left", "like", "limit", "natural", "not", "null",
    "of", "offset", "on", "only", "or", "order", "outer", "over", "primary", "range",
    "references", "right", "row", "rows", "schema", "select", "session_user", "set", "some",
    "table", "then", "to", "trailing", "union", "unique", "update", "user", "using", "values",
    "when", "window", "with",
];

/// Names strata already uses for a table, a route or a module of every layer.
#[rustfmt::skip]
const TAKEN: &[&str] = &[
    "tasks", "users", "auth", "health", "ready", "docs", "mfa", "recovery", "sessions", "me",
    "mail", "outbox", "backup_codes", "recovery_codes", "one_time_tokens", "mailed_tokens",
    "password", "paging", "probe", "token_store", "views", "settings", "signin", "jwt", "seal",
    "error", "domain", "checks", "clock", "lock", "schema", "static", "openapi", "api",
    "resources", "bootstrap", "attempts", "registration", "proofs", "client", "outcomes",
    "timestamp", "field_error", "task_patch", "user", "task", "admin", "metrics", "telemetry",
    "extract", "middleware", "app", "config", "routes", "http", "tokens", "passwords",
    "attacks", "errors", "forge", "races", "database", "infra", "common", "prop_parsers",
    "support", "lib", "main", "repos", "services", "models", "db", "testkit", "xtask", "keys",
    "signing", "signing_keys", "wellknown", "introspect", "introspection", "mail_outbox",
    "generated",
];

/// Type names the generated code uses unqualified: a resource's type may not be one.
#[rustfmt::skip]
const TAKEN_TYPES: &[&str] = &[
    "Option", "Result", "String", "Vec", "Box", "Some", "None", "Ok", "Err", "Default",
    "Clone", "Debug", "Value", "Page", "Timestamp", "Instant", "Id", "Parsed", "Principal",
    "Services", "Database", "HttpResponse", "ApiError", "Problem", "Auth", "JsonBody",
    "Deserialize", "Serialize", "ToSchema", "IntoParams", "OpenApi", "FieldError",
    "ServiceError", "RepoError", "Ctx", "Case", "Api", "Fixture", "Doc", "Task", "User",
];

/// Columns every resource has, query parameters every list takes, the names the service's
/// methods hold their own values in, and the suffixes of the resource's own types
/// (`NotePatch`, `NotePage`, …).
#[rustfmt::skip]
const RESERVED_FIELDS: &[&str] = &[
    "id", "user_id", "created_at", "updated_at", "limit", "cursor", "items", "next_cursor",
    "input", "who", "after", "new", "patch", "page", "query", "repo", "service", "record",
    "list_input", "patch_input", "list_query", "row",
];

/// The most fields a resource has: Diesel's tables and tuples stop at 16 columns here.
pub const MAX_FIELDS: usize = 12;

fn snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
}

fn keyword(name: &str) -> Option<&'static str> {
    if RUST_KEYWORDS.contains(&name) {
        Some("a Rust keyword")
    } else if SQL_KEYWORDS.contains(&name) {
        Some("an SQL keyword")
    } else {
        None
    }
}

/// `notes` → `note`, `categories` → `category`, `boxes` → `box`, `classes` → `class`,
/// `expenses` → `expense`; a name without a plural `s` is its own singular. English has
/// more exceptions than rules: the plan shows the result, and `--singular` overrides it.
pub fn singular(plural: &str) -> String {
    if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else if ["sses", "xes", "zzes", "ches", "shes"]
        .iter()
        .any(|s| plural.ends_with(s))
    {
        plural[..plural.len() - 2].to_owned()
    } else if let Some(stem) = plural.strip_suffix('s').filter(|s| !s.ends_with('s')) {
        stem.to_owned()
    } else {
        plural.to_owned()
    }
}

/// `due_date` → `DueDate`.
pub fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Checks the resource's name; `existing` are the resources already generated, `singular`
/// the singular when the plural's own (`notes` → `note`) would be wrong.
pub fn resource(
    name: &str,
    singular: Option<&str>,
    fields: Vec<Field>,
    existing: &[String],
) -> Result<Resource, SpecError> {
    if !snake(name) || name.len() > 40 {
        return refuse(format!(
            "`{name}` is not a resource name: use a plural in snake_case (a-z, 0-9, _), like `notes`"
        ));
    }
    if let Some(what) = keyword(name) {
        return refuse(format!("`{name}` is {what}: pick another name"));
    }
    if TAKEN.contains(&name) || existing.iter().any(|e| e == name) {
        return refuse(format!(
            "`{name}` clashes with an existing resource or module"
        ));
    }
    let singular = match singular {
        Some(s) if !snake(s) => return refuse(format!("`{s}` is not a singular in snake_case")),
        Some(s) => s.to_owned(),
        None => self::singular(name),
    };
    if singular == name {
        return refuse(format!(
            "`{name}` needs a plural: the route is `/api/{name}`, a row is one of them \
             (give `--singular <word>` if the plural has no `s`)"
        ));
    }
    if TAKEN_TYPES.contains(&camel(&singular).as_str()) {
        return refuse(format!(
            "`{name}`: its type `{}` clashes with a type the code uses",
            camel(&singular)
        ));
    }
    if TAKEN.contains(&singular.as_str()) || keyword(&singular).is_some() {
        return refuse(format!(
            "`{name}`: its singular `{singular}` clashes with an existing name or keyword"
        ));
    }
    if fields.is_empty() {
        return refuse("give at least one field, like `body:text:1..=10000`");
    }
    if fields.len() > MAX_FIELDS {
        return refuse(format!("at most {MAX_FIELDS} fields"));
    }
    for (i, f) in fields.iter().enumerate() {
        if fields[..i].iter().any(|g| g.name == f.name) {
            return refuse(format!("field `{}` is given twice", f.name));
        }
    }
    Ok(Resource {
        plural: name.to_owned(),
        camel: camel(&singular),
        singular,
        fields,
    })
}

fn range<T: std::str::FromStr + PartialOrd + Copy>(
    spec: &str,
    raw: &str,
) -> Result<(T, T), SpecError> {
    let bad = || SpecError(format!("`{spec}`: `{raw}` is not a range like `1..=200`"));
    let (lo, hi) = raw.split_once("..=").ok_or_else(bad)?;
    let (lo, hi) = (
        lo.parse().map_err(|_| bad())?,
        hi.parse().map_err(|_| bad())?,
    );
    if lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Parses `name:type[:min..=max][=default][?]`.
pub fn field(spec: &str) -> Result<Field, SpecError> {
    let (rest, optional) = match spec.strip_suffix('?') {
        Some(rest) => (rest, true),
        None => (spec, false),
    };
    let (name, rest) = rest.split_once(':').ok_or_else(|| {
        SpecError(format!(
            "`{spec}` is not a field: write `name:type[:min..=max][=default][?]`"
        ))
    })?;
    if !snake(name) {
        return refuse(format!(
            "`{spec}`: `{name}` is not a field name in snake_case"
        ));
    }
    if let Some(what) = keyword(name) {
        return refuse(format!("`{spec}`: `{name}` is {what}"));
    }
    if RESERVED_FIELDS.contains(&name) {
        return refuse(format!("`{spec}`: every resource already has `{name}`"));
    }
    // The type runs to the first `:` or `=`; a range may hold `=` itself (`..=`).
    let type_end = rest.find([':', '=']).unwrap_or(rest.len());
    let (ty, mut rest) = rest.split_at(type_end);
    let mut limits = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after.find("..=").map_or(after.len(), |i| {
            i + 3 + after[i + 3..].find('=').unwrap_or(after.len() - i - 3)
        });
        limits = Some(&after[..end]);
        rest = &after[end..];
    }
    let default = rest.strip_prefix('=').map(str::to_owned);
    if default.is_none() && !rest.is_empty() {
        return refuse(format!("`{spec}`: cannot read `{rest}`"));
    }
    let kind = match ty {
        "text" => {
            let (min, max) = limits.map_or(Ok((0, 1000)), |r| range(spec, r))?;
            if max == 0 {
                return refuse(format!(
                    "`{spec}`: text of at most 0 characters holds nothing"
                ));
            }
            Kind::Text { min, max }
        }
        "int" => {
            let (min, max) =
                limits.map_or(Ok((i32::MIN.into(), i32::MAX.into())), |r| range(spec, r))?;
            Kind::Int { min, max }
        }
        "bool" | "datetime" if limits.is_some() => {
            return refuse(format!("`{spec}`: a {ty} has no range"));
        }
        "bool" => Kind::Bool,
        "datetime" => Kind::DateTime,
        other => {
            return refuse(format!(
                "`{spec}`: unknown type `{other}` (text, int, bool or datetime)"
            ))
        }
    };
    if let Some(d) = &default {
        if optional {
            return refuse(format!(
                "`{spec}`: a field is either optional (`?`) or has a default, not both"
            ));
        }
        let fits = match &kind {
            Kind::Text { min, max } => (*min..=*max).contains(&d.chars().count()),
            Kind::Int { min, max } => d.parse::<i64>().is_ok_and(|n| (*min..=*max).contains(&n)),
            Kind::Bool => d == "true" || d == "false",
            Kind::DateTime => false,
        };
        if !fits {
            return refuse(format!(
                "`{spec}`: the default `{d}` is not a valid {ty} for this field"
            ));
        }
    }
    Ok(Field {
        name: name.to_owned(),
        kind,
        default,
        optional,
    })
}

impl Field {
    /// A create must give it: not optional, no default.
    pub fn required(&self) -> bool {
        !self.optional && self.default.is_none()
    }

    /// Parsing it can fail (text, int, datetime); a bool cannot.
    pub fn checked(&self) -> bool {
        self.kind != Kind::Bool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str) -> Field {
        match field(spec) {
            Ok(f) => f,
            Err(e) => panic!("{spec}: {e}"),
        }
    }

    #[test]
    fn the_field_grammar_reads_ranges_defaults_and_optionals() {
        let body = ok("body:text:1..=10000");
        assert_eq!(body.kind, Kind::Text { min: 1, max: 10000 });
        assert!(body.required());
        let pinned = ok("pinned:bool=false");
        assert_eq!(
            (pinned.kind, pinned.default.as_deref()),
            (Kind::Bool, Some("false"))
        );
        let due = ok("due:datetime?");
        assert!(due.optional && due.kind == Kind::DateTime);
        let summary = ok("summary:text:0..=200?");
        assert_eq!(summary.kind, Kind::Text { min: 0, max: 200 });
        assert!(summary.optional);
        let n = ok("rank:int:-5..=5=0");
        assert_eq!(
            (n.kind, n.default.as_deref()),
            (Kind::Int { min: -5, max: 5 }, Some("0"))
        );
        assert_eq!(
            ok("title:text=untitled").default.as_deref(),
            Some("untitled")
        );
    }

    #[test]
    fn bad_fields_are_refused_with_one_line() {
        for bad in [
            "body",
            "body:string",
            "body:text:10..=1",
            "body:text:1..10",
            "Body:text",
            "type:text",
            "select:text",
            "id:text",
            "flag:bool:1..=2",
            "flag:bool=yes",
            "flag:bool=true?",
            "n:int:1..=5=9",
            "when:datetime=now",
            "patch:text",
            "who:bool",
        ] {
            let e = field(bad).err().map(|e| e.0);
            assert!(
                e.as_ref().is_some_and(|e| !e.contains('\n')),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn resource_names_are_plural_snake_case_and_free() {
        let f = || vec![ok("body:text")];
        let r = resource("notes", None, f(), &[]).map(|r| (r.singular, r.camel));
        assert_eq!(r, Ok(("note".to_owned(), "Note".to_owned())));
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("expenses"), "expense");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(camel("line_items"), "LineItems");
        for bad in [
            "tasks",
            "users",
            "Notes",
            "note",
            "match",
            "select",
            "my-notes",
            "notes_",
            "options",
            "results",
            "common",
            "repos",
            "mail_outbox",
        ] {
            assert!(resource(bad, None, f(), &[]).is_err(), "{bad}");
        }
        assert!(resource("notes", None, f(), &["notes".to_owned()]).is_err());
        assert!(resource("notes", None, vec![], &[]).is_err());
        let movies = resource("movies", Some("movie"), f(), &[]).map(|r| r.camel);
        assert_eq!(movies, Ok("Movie".to_owned()));
    }
}
