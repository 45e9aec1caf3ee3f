//! The files a resource is made of, one renderer per layer. Each returns source text; the
//! Rust is formatted by rustfmt once written.

pub mod domain;
pub mod e2e_tests;
pub mod models;
pub mod readme;
pub mod repo_tests;
pub mod repos;
pub mod routes;
pub mod service_tests;
pub mod services;
pub mod sql;

use crate::spec::{camel, Field, Kind, Resource};

/// What a field is in each layer's Rust.
impl Field {
    /// The row struct's type (`models`).
    pub fn column_type(&self) -> String {
        let t = match self.kind {
            Kind::Text { .. } => "String",
            Kind::Int { .. } => "i64",
            Kind::Bool => "bool",
            Kind::DateTime => "NaiveDateTime",
        };
        self.maybe(t)
    }

    /// Diesel's SQL type in `table!`.
    pub fn diesel_type(&self) -> String {
        let t = match self.kind {
            Kind::Text { .. } => "Text",
            Kind::Int { .. } => "BigInt",
            Kind::Bool => "Bool",
            Kind::DateTime => "Timestamp",
        };
        if self.optional {
            format!("Nullable<{t}>")
        } else {
            t.to_owned()
        }
    }

    /// The checked value's type: a newtype for text and int, `bool`, `Instant`.
    pub fn domain_type(&self, r: &Resource) -> String {
        match self.kind {
            Kind::Text { .. } | Kind::Int { .. } => format!("{}{}", r.camel, camel(&self.name)),
            Kind::Bool => "bool".to_owned(),
            Kind::DateTime => "Instant".to_owned(),
        }
    }

    /// The type on the wire and in the service's input (a time is text until parsed).
    pub fn wire_type(&self) -> &'static str {
        match self.kind {
            Kind::Text { .. } | Kind::DateTime => "String",
            Kind::Int { .. } => "i64",
            Kind::Bool => "bool",
        }
    }

    /// The view's type.
    pub fn view_type(&self) -> String {
        let t = match self.kind {
            Kind::Text { .. } => "String",
            Kind::Int { .. } => "i64",
            Kind::Bool => "bool",
            Kind::DateTime => "Timestamp",
        };
        self.maybe(t)
    }

    fn maybe(&self, t: &str) -> String {
        if self.optional {
            format!("Option<{t}>")
        } else {
            t.to_owned()
        }
    }

    /// The column value of a checked value `v` (by reference for text).
    pub fn to_column(&self, v: &str) -> String {
        match self.kind {
            Kind::Text { .. } => format!("{v}.as_str().to_owned()"),
            Kind::Int { .. } => format!("{v}.get()"),
            Kind::Bool => v.to_owned(),
            Kind::DateTime => format!("{v}.naive_utc()"),
        }
    }

    /// The parse of one wire value `raw` (a `&str` for text and times, an `i64`).
    pub fn parse(&self, r: &Resource, raw: &str) -> String {
        match self.kind {
            Kind::Text { .. } | Kind::Int { .. } => {
                format!("{}::parse({raw})", self.domain_type(r))
            }
            Kind::DateTime => format!("Instant::parse({:?}, {raw})", self.name),
            Kind::Bool => raw.to_owned(),
        }
    }

    /// A valid value as JSON source: `which` 0 and 1 give two different ones where the
    /// limits allow.
    pub fn sample_json(&self, which: usize) -> String {
        match &self.kind {
            Kind::Text { min, max } => {
                let n = (*min).max(1).min(*max);
                format!("{:?}", ["a", "b"][which].repeat(n))
            }
            Kind::Int { min, max } => [min, max][which].to_string(),
            Kind::Bool => ["true", "false"][which].to_owned(),
            Kind::DateTime => {
                format!(
                    "{:?}",
                    ["2030-01-02T03:04:05Z", "2031-02-03T04:05:06.123456Z"][which]
                )
            }
        }
    }

    /// Values just outside the limits, on each side that has one, as Rust source building
    /// a `serde_json::Value` (none for a bool, nor past a limit too big for a request body).
    pub fn out_of_limits_json(&self) -> Vec<String> {
        let text = |n: usize| format!("json!(\"x\".repeat({n}))");
        let int = |n: i64| format!("json!({n}_i64)");
        match &self.kind {
            Kind::Text { min, max } => [
                (*max < 60_000).then(|| text(max + 1)),
                (*min > 0).then(|| text(min - 1)),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Kind::Int { min, max } => [max.checked_add(1).map(int), min.checked_sub(1).map(int)]
                .into_iter()
                .flatten()
                .collect(),
            Kind::Bool => Vec::new(),
            Kind::DateTime => vec![
                "json!(\"not a time\")".to_owned(),
                "json!(\"0999-12-31T23:59:59Z\")".to_owned(),
            ],
        }
    }

    /// What a create without the field stores, as JSON source.
    pub fn absent_json(&self) -> String {
        match (&self.default, &self.kind) {
            (Some(d), Kind::Text { .. }) => format!("{d:?}"),
            (Some(d), _) => d.clone(),
            (None, _) => "null".to_owned(),
        }
    }

    /// A one-line description of the field's rule in a create.
    pub fn rule(&self) -> String {
        let base = self.limits();
        match (&self.default, self.optional) {
            (Some(d), _) => format!("{base}; {d} when not given"),
            (None, true) => format!("{base}, or null"),
            (None, false) => base,
        }
    }

    /// What a valid value is, whatever the request.
    pub fn limits(&self) -> String {
        match &self.kind {
            Kind::Text { min: 0, max } => format!("at most {max} characters"),
            Kind::Text { min, max } => format!("{min} to {max} characters"),
            Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Bool => "true or false".to_owned(),
            Kind::DateTime => "an RFC 3339 time, years 1000 to 9999".to_owned(),
        }
    }
}

impl Resource {
    /// `a_note`, `an_item`: the singular with its article, for case names.
    pub fn a(&self) -> String {
        let vowel = self.singular.starts_with(['a', 'e', 'i', 'o', 'u']);
        format!("{}_{}", if vowel { "an" } else { "a" }, self.singular)
    }

    /// The fields a create must give.
    pub fn required(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.required())
    }

    /// The fields whose parse can fail.
    pub fn checked(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.checked())
    }

    /// The bool fields: each one filters the list.
    pub fn flags(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| f.kind == Kind::Bool)
    }

    pub fn has(&self, kind: fn(&Kind) -> bool) -> bool {
        self.fields.iter().any(|f| kind(&f.kind))
    }

    pub fn has_time(&self) -> bool {
        self.has(|k| *k == Kind::DateTime)
    }

    /// `(a, b)` or `(a,)`: a tuple pattern or expression of `items`.
    pub fn tuple(items: &[String]) -> String {
        match items {
            [one] => format!("({one},)"),
            _ => format!("({})", items.join(", ")),
        }
    }
}
