//! `crates/domain/src/<plural>.rs`: the checked values, a new row, and a partial update.

use crate::spec::{Field, Kind, Resource};

fn value_type(r: &Resource, f: &Field) -> String {
    let ty = f.domain_type(r);
    let name = &f.name;
    match &f.kind {
        Kind::Text { min, max } => format!(
            r#"
/// A {s}'s `{name}`: {min} to {max} characters, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct {ty}(String);

impl {ty} {{
    /// Fewest characters.
    pub const MIN_CHARS: usize = {min};
    /// Most characters.
    pub const MAX_CHARS: usize = {max};

    /// Checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {{
        text({name:?}, raw, Self::MIN_CHARS, Self::MAX_CHARS).map(Self)
    }}

    /// The text.
    pub fn as_str(&self) -> &str {{
        &self.0
    }}
}}
"#,
            s = r.singular
        ),
        Kind::Int { min, max } => format!(
            r#"
/// A {s}'s `{name}`: a whole number from {min} to {max}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct {ty}(i64);

impl {ty} {{
    /// Smallest value.
    pub const MIN: i64 = {min};
    /// Largest value.
    pub const MAX: i64 = {max};

    /// Checks `n`.
    pub fn parse(n: i64) -> Result<Self, FieldError> {{
        whole({name:?}, n, Self::MIN, Self::MAX).map(Self)
    }}

    /// The number.
    pub fn get(&self) -> i64 {{
        self.0
    }}
}}
"#,
            s = r.singular
        ),
        Kind::Bool | Kind::DateTime => String::new(),
    }
}

pub fn render(r: &Resource) -> String {
    let c = &r.camel;
    let mut checks = Vec::new();
    if r.has(|k| matches!(k, Kind::Text { .. })) {
        checks.push("text");
    }
    if r.has(|k| matches!(k, Kind::Int { .. })) {
        checks.push("whole");
    }
    let mut uses = String::new();
    if !checks.is_empty() {
        uses += &format!("use crate::checks::{{{}}};\n", checks.join(", "));
    }
    uses += if r.has_time() {
        "use crate::{FieldError, Instant};\n"
    } else if checks.is_empty() {
        ""
    } else {
        "use crate::FieldError;\n"
    };
    let types: String = r.fields.iter().map(|f| value_type(r, f)).collect();
    let new_fields: String = r
        .fields
        .iter()
        .map(|f| {
            let ty = f.domain_type(r);
            let ty = if f.optional {
                format!("Option<{ty}>")
            } else {
                ty
            };
            format!("    pub {}: {ty},\n", f.name)
        })
        .collect();
    let patch_fields: String = r
        .fields
        .iter()
        .map(|f| {
            let ty = f.domain_type(r);
            let ty = if f.optional {
                format!("Option<Option<{ty}>>")
            } else {
                format!("Option<{ty}>")
            };
            format!("    pub {}: {ty},\n", f.name)
        })
        .collect();
    let empty = r
        .fields
        .iter()
        .map(|f| format!("self.{}.is_none()", f.name))
        .collect::<Vec<_>>()
        .join(" && ");
    format!(
        r#"//! The checked values of a {s} (written by `cargo xtask new-resource`): what the service
//! parsed is what the query writes.

{uses}{types}
/// A new {s}, every field checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct New{c} {{
{new_fields}}}

/// A partial update of a {s}: `None` leaves a field alone; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct {c}Patch {{
{patch_fields}}}

impl {c}Patch {{
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {{
        {empty}
    }}
}}
"#,
        s = r.singular
    )
}
