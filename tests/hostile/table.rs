//! The table of bad requests, one group per case (in `bodies` and `targets`), and what
//! they are built from: every route with a body as the served document lists it, a valid
//! body for each, and the hostile strings. Every request of a group goes to the same fresh victim
//! (and another user); each must be a 4xx problem, and afterwards both users' data must be
//! as it was.

use serde_json::{json, Map, Value};

use crate::spec::{Field, Op, Ty};
use crate::world::{invalid, Expect, World};
use crate::{bodies, known, targets};
use crate::{Case, Req};

pub const CASES: &[Case] = testkit::cases![
    bodies::a_wrong_json_type_in_any_field_of_any_body_is_422_naming_it,
    bodies::bodies_that_are_not_the_right_object_are_422,
    bodies::an_array_of_the_right_values_in_order_is_not_a_body,
    bodies::ten_thousand_nested_arrays_or_objects_are_refused,
    bodies::huge_strings_up_to_the_limit_are_refused_by_their_field,
    bodies::bodies_past_64_kib_are_413_however_they_are_sent,
    bodies::invalid_utf8_nul_and_control_bytes_are_400,
    targets::sql_and_script_metacharacters_where_they_are_invalid_are_refused,
    targets::out_of_range_limits_forged_cursors_and_repeated_parameters_are_422,
    targets::invalid_and_foreign_ids_in_paths_are_404,
    bodies::a_body_that_is_not_application_json_is_415,
    bodies::duplicate_json_keys_are_422,
    targets::hostile_authorization_headers_are_401,
    targets::a_password_past_72_bytes_never_matches_even_with_the_right_prefix,
];

/// SQL, script and path metacharacters, NUL and percent-escapes.
pub const HOSTILE: &[&str] = &[
    "' OR 1=1 --",
    "' OR '1'='1",
    "\"; DROP TABLE users; --",
    "Robert'); DROP TABLE tasks;--",
    "' UNION SELECT password_hash FROM users --",
    "1; SELECT pg_sleep(10)",
    "admin'--",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "%00",
    "%27%20OR%201%3D1",
    "\u{0}",
    "a\u{0}b",
    "../../etc/passwd",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "\\",
];

/// A route with a body, as the document describes it: a valid body, and its members.
pub struct Route {
    pub op: Op,
    /// `METHOD template`, for messages.
    pub name: String,
    pub method: &'static str,
    /// The path, parameters filled with the victim's own.
    pub path: String,
    pub token: Option<String>,
    pub base: Map<String, Value>,
    pub fields: Vec<Field>,
}

/// Every documented route with a body, each with a body that would succeed as it is (so a
/// bad variant wrongly accepted shows up as changed data): the victim's credentials where
/// `known` says so, else the schema's examples.
pub fn routes(w: &World) -> Vec<Route> {
    let mut ops: Vec<&Op> = w.api.with_body().collect();
    ops.sort_by_key(|o| known::LAST.contains(&o.name().as_str()));
    ops.into_iter()
        .map(|op| {
            let base = match known::body(w, op) {
                Some(Value::Object(m)) => m,
                _ => op.example_body(),
            };
            Route {
                op: op.clone(),
                name: op.name(),
                method: op.method,
                path: w.path(op),
                token: op.secured.then(|| w.me.access.clone()),
                base,
                fields: op.body.clone().unwrap_or_default(),
            }
        })
        .collect()
}

impl Route {
    /// The request with these body bytes (as `application/json`).
    pub fn raw(&self, bytes: impl Into<Vec<u8>>, what: &str) -> Req {
        Req::new(self.method, self.path.clone())
            .bearer(self.token.as_deref())
            .json_bytes(bytes)
            .what(format!("{} {}: {what}", self.method, self.path))
            .aimed_at(self.name.clone())
    }

    /// The valid body with `field` set to `value`.
    pub fn with(&self, field: &str, value: Value) -> Value {
        let mut m = self.base.clone();
        m.insert(field.to_owned(), value);
        Value::Object(m)
    }

    /// The request with the valid body, `field` set to `value`.
    pub fn set(&self, field: &str, value: Value) -> Req {
        let what = format!(
            "{field} = {}",
            crate::client::shorten(value.to_string().as_bytes())
        );
        self.raw(self.with(field, value).to_string(), &what)
    }

    /// The body's text with `field`'s value replaced by raw JSON text (or bytes).
    pub fn splice(&self, field: &str, raw_value: &[u8]) -> Vec<u8> {
        let marker = "\u{1}SPLICE\u{1}";
        let text = self.with(field, json!(marker)).to_string();
        let quoted = Value::String(marker.to_owned()).to_string();
        let (a, b) = text.split_once(&quoted).unwrap();
        [a.as_bytes(), raw_value, b.as_bytes()].concat()
    }

    /// What a string `value` in `field` gets, or `None` when it is a valid value: what
    /// `known` says for the account routes, else what the member's schema allows.
    pub fn string_expect(&self, field: &str, value: &str) -> Option<Expect> {
        if let Some(expect) = known::expect(&self.op, field, value) {
            return expect;
        }
        match self.op.field(field) {
            Some(f) if f.ty == Ty::Str && f.accepts(value) => None,
            _ => Some(invalid(field)),
        }
    }
}

/// Values of the wrong JSON type for a member (`null` too, unless the member is nullable).
pub fn wrong_values(f: &Field) -> Vec<Value> {
    let mut v = match f.ty {
        Ty::Str => vec![
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1e308),
            json!(u64::MAX),
            json!(true),
            json!(false),
            json!([]),
            json!(["x"]),
            json!({}),
            json!({ "a": "b" }),
        ],
        Ty::Bool => vec![
            json!("true"),
            json!("false"),
            json!(""),
            json!(0),
            json!(1),
            json!(1.5),
            json!([]),
            json!([true]),
            json!({}),
            json!("yes"),
        ],
        Ty::Obj => vec![
            json!("{}"),
            json!(""),
            json!(0),
            json!(true),
            json!([]),
            json!([{}]),
        ],
        Ty::Int => vec![
            json!("1"),
            json!(""),
            json!(1.5),
            json!(1e308),
            json!(true),
            json!([]),
            json!([1]),
            json!({}),
        ],
    };
    if !f.nullable {
        v.push(Value::Null);
    }
    v
}
