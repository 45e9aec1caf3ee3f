//! The table of bad requests, one group per case (in `bodies` and `targets`), and what
//! they are built from: every route with a body, a valid body for each, the type of each
//! member, and the hostile strings. Every request of a group goes to the same fresh victim
//! (and another user); each must be a 4xx problem, and afterwards both users' data must be
//! as it was.

use serde_json::{json, Map, Value};

use crate::world::{invalid, Expect, World};
use services::domain::{Password, TaskDescription, TaskTitle};

use crate::{bodies, targets};
use crate::{Case, Req};

pub const CASES: &[Case] = &[
    (
        "a_wrong_json_type_in_any_field_of_any_body_is_422_naming_it",
        bodies::a_wrong_json_type_in_any_field_of_any_body_is_422_naming_it,
    ),
    (
        "bodies_that_are_not_the_right_object_are_422",
        bodies::bodies_that_are_not_the_right_object_are_422,
    ),
    (
        "an_array_of_the_right_values_in_order_is_not_a_body",
        bodies::an_array_of_the_right_values_in_order_is_not_a_body,
    ),
    (
        "ten_thousand_nested_arrays_or_objects_are_refused",
        bodies::ten_thousand_nested_arrays_or_objects_are_refused,
    ),
    (
        "huge_strings_up_to_the_limit_are_refused_by_their_field",
        bodies::huge_strings_up_to_the_limit_are_refused_by_their_field,
    ),
    (
        "bodies_past_64_kib_are_413_however_they_are_sent",
        bodies::bodies_past_64_kib_are_413_however_they_are_sent,
    ),
    (
        "invalid_utf8_nul_and_control_bytes_are_400",
        bodies::invalid_utf8_nul_and_control_bytes_are_400,
    ),
    (
        "sql_and_script_metacharacters_where_they_are_invalid_are_refused",
        targets::sql_and_script_metacharacters_where_they_are_invalid_are_refused,
    ),
    (
        "out_of_range_limits_forged_cursors_and_repeated_parameters_are_422",
        targets::out_of_range_limits_forged_cursors_and_repeated_parameters_are_422,
    ),
    (
        "invalid_and_foreign_ids_in_paths_are_404",
        targets::invalid_and_foreign_ids_in_paths_are_404,
    ),
    (
        "a_body_that_is_not_application_json_is_415",
        bodies::a_body_that_is_not_application_json_is_415,
    ),
    (
        "duplicate_json_keys_are_422",
        bodies::duplicate_json_keys_are_422,
    ),
    (
        "hostile_authorization_headers_are_401",
        targets::hostile_authorization_headers_are_401,
    ),
    (
        "a_password_past_72_bytes_never_matches_even_with_the_right_prefix",
        targets::a_password_past_72_bytes_never_matches_even_with_the_right_prefix,
    ),
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

/// The JSON type a body member has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A required string.
    Str,
    /// An optional string (`null` allowed).
    OptStr,
    /// An optional boolean (`null` allowed).
    OptBool,
}

/// A route with a body: a valid body, and what each member is.
pub struct Route {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    pub token: Option<String>,
    pub base: Map<String, Value>,
    pub fields: Vec<(&'static str, Kind)>,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Every route with a body, each with a body that would succeed as it is (so a bad
/// variant wrongly accepted shows up as changed data).
pub fn routes(w: &World) -> Vec<Route> {
    let (fu, fe, fp) = w.fresh.clone();
    let me = &w.me;
    let t = Some(me.access.clone());
    vec![
        Route {
            name: "register",
            method: "POST",
            path: "/api/auth/register".into(),
            token: None,
            base: obj(json!({ "username": fu, "email": fe, "password": fp })),
            fields: vec![
                ("username", Kind::Str),
                ("email", Kind::Str),
                ("password", Kind::Str),
            ],
        },
        Route {
            name: "login",
            method: "POST",
            path: "/api/auth/login".into(),
            token: None,
            base: obj(json!({ "username": me.username, "password": me.password })),
            fields: vec![
                ("username", Kind::OptStr),
                ("email", Kind::OptStr),
                ("password", Kind::Str),
            ],
        },
        Route {
            name: "refresh",
            method: "POST",
            path: "/api/auth/refresh".into(),
            token: None,
            base: obj(json!({ "refresh_token": me.refresh })),
            fields: vec![("refresh_token", Kind::Str)],
        },
        Route {
            name: "create task",
            method: "POST",
            path: "/api/tasks".into(),
            token: t.clone(),
            base: obj(json!({ "title": "new", "description": "new", "done": false })),
            fields: vec![
                ("title", Kind::Str),
                ("description", Kind::OptStr),
                ("done", Kind::OptBool),
            ],
        },
        Route {
            name: "update task",
            method: "PATCH",
            path: format!("/api/tasks/{}", me.tasks[0]),
            token: t.clone(),
            base: obj(json!({ "title": "changed", "description": "changed", "done": true })),
            fields: vec![
                ("title", Kind::OptStr),
                ("description", Kind::OptStr),
                ("done", Kind::OptBool),
            ],
        },
        Route {
            name: "change password",
            method: "PUT",
            path: "/api/users/me/password".into(),
            token: t.clone(),
            base: obj(
                json!({ "current_password": me.password, "new_password": "a brand new password" }),
            ),
            fields: vec![("current_password", Kind::Str), ("new_password", Kind::Str)],
        },
        Route {
            name: "delete account",
            method: "DELETE",
            path: "/api/users/me".into(),
            token: t,
            base: obj(json!({ "password": me.password })),
            fields: vec![("password", Kind::Str)],
        },
    ]
}

impl Route {
    /// The request with these body bytes (as `application/json`).
    pub fn raw(&self, bytes: impl Into<Vec<u8>>, what: &str) -> Req {
        Req::new(self.method, self.path.clone())
            .bearer(self.token.as_deref())
            .json_bytes(bytes)
            .what(format!(
                "{} {} [{}]: {what}",
                self.method, self.path, self.name
            ))
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

    /// What a string `value` in `field` gets, or `None` when it is a valid value.
    pub fn string_expect(&self, field: &str, value: &str) -> Option<Expect> {
        let password_ok = (Password::MIN_BYTES..=Password::MAX_BYTES).contains(&value.len());
        Some(match (self.name, field) {
            ("register", "password") | ("change password", "new_password") if password_ok => {
                return None
            }
            ("register", _) | ("change password", "new_password") => invalid(field),
            // NUL may also be refused as invalid input: no account can have it.
            ("login", "username" | "email") if value.contains('\0') => Expect::OneOf(vec![
                (401, "invalid_credentials"),
                (422, "validation_failed"),
            ]),
            ("login", _) | ("change password", _) | ("delete account", _) => {
                Expect::Problem(401, "invalid_credentials")
            }
            ("refresh", _) => Expect::Problem(401, "token_invalid"),
            (_, "done") => invalid(field),
            // Titles and descriptions: any text is valid unless too long.
            _ => {
                let n = value.trim().chars().count();
                let limit = if field == "title" {
                    TaskTitle::MAX_CHARS
                } else {
                    TaskDescription::MAX_CHARS
                };
                if (field == "title" && n == 0) || value.chars().count() > limit {
                    invalid(field)
                } else {
                    return None;
                }
            }
        })
    }
}

pub fn wrong_values(kind: Kind) -> Vec<Value> {
    match kind {
        Kind::Str | Kind::OptStr => {
            let mut v = vec![
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
            ];
            if kind == Kind::Str {
                v.push(Value::Null);
            }
            v
        }
        Kind::OptBool => vec![
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
    }
}
