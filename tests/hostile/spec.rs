//! The API as the served OpenAPI document describes it: every operation with its path and
//! query parameters and its JSON body's members, their types and limits. The table attacks
//! what this lists, so a new resource is attacked without anyone editing the suite.

use serde_json::{Map, Value};

/// The JSON type of a member or a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// A JSON object the document leaves open (a WebAuthn credential, say).
    Obj,
}

/// One member of a JSON body, or one path or query parameter.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    /// The member must be present.
    pub required: bool,
    /// `null` is a valid value.
    pub nullable: bool,
    /// Length limits of a string, in characters; the maximum in bytes of UTF-8 for
    /// `format: password` (bcrypt's limit, which the document's description states).
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
    pub bytes: bool,
    /// Range of an integer.
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    /// The schema's `format` (`email`, `password`, …) and `pattern`.
    pub format: Option<String>,
    pub pattern: Option<regex::Regex>,
    pub example: Option<Value>,
    /// The schema's description says surrounding white space is trimmed.
    pub trimmed: bool,
}

impl Field {
    /// Whether the document says this text is a valid value: its length, `pattern` and
    /// `format` (`email`, and `date-time` as RFC 3339).
    pub fn accepts(&self, value: &str) -> bool {
        let chars = |s: &str| s.chars().count();
        let max_len = |s: &str| if self.bytes { s.len() } else { chars(s) };
        self.min_len.is_none_or(|min| chars(value.trim()) >= min)
            && self.max_len.is_none_or(|max| max_len(value) <= max)
            && self.pattern.as_ref().is_none_or(|p| p.is_match(value))
            && (self.format.as_deref() != Some("email") || email_like(value))
            && (self.format.as_deref() != Some("date-time")
                || chrono::DateTime::parse_from_rfc3339(value).is_ok())
    }

    /// Free text: a string without a `format`.
    pub fn is_text(&self) -> bool {
        self.ty == Ty::Str && self.format.is_none()
    }

    /// A valid value made from the schema alone: `false`, the minimum, the time now for a
    /// `date-time`, an address for an `email`, else text of an allowed length.
    pub fn valid_value(&self) -> Value {
        match self.ty {
            Ty::Bool => Value::Bool(false),
            Ty::Int => Value::from(self.minimum.unwrap_or(1)),
            Ty::Obj => serde_json::json!({}),
            Ty::Str => match self.format.as_deref() {
                Some("date-time") => Value::from(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                Some("email") => Value::from("someone@example.com"),
                _ => {
                    let n = self
                        .min_len
                        .unwrap_or(1)
                        .max(4)
                        .min(self.max_len.unwrap_or(usize::MAX));
                    Value::from("text".repeat(n).chars().take(n).collect::<String>())
                }
            },
        }
    }
}

/// One `@` between a local part and a dotted domain, no spaces or control characters.
fn email_like(value: &str) -> bool {
    let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    match value.split_once('@') {
        Some((local, domain)) => {
            clean && !local.is_empty() && domain.contains('.') && !domain.contains('@')
        }
        None => false,
    }
}

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Op {
    /// Upper-case.
    pub method: &'static str,
    /// The path template, `/api/tasks/{id}`.
    pub path: String,
    /// Needs a bearer token.
    pub secured: bool,
    pub path_params: Vec<Field>,
    pub query: Vec<Field>,
    /// The JSON body's members, when it takes one.
    pub body: Option<Vec<Field>>,
    /// Documented success statuses.
    pub success: Vec<u16>,
}

impl Op {
    /// `METHOD path`, for messages.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The body member called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.body.iter().flatten().find(|f| f.name == name)
    }

    /// The query parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&Field> {
        self.query.iter().find(|f| f.name == name)
    }

    /// A body made from the schema alone: each member's example, and for a required member
    /// without one, a value of its type within its limits.
    pub fn example_body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        for f in self.body.iter().flatten() {
            let value = match &f.example {
                Some(v) => v.clone(),
                None if !f.required => continue,
                None => f.valid_value(),
            };
            body.insert(f.name.clone(), value);
        }
        body
    }

    /// A list served in keyset pages (`limit` and `cursor`, answering `items` and
    /// `next_cursor`).
    pub fn paged(&self) -> bool {
        self.param("limit").is_some() && self.param("cursor").is_some()
    }
}

/// Every operation of the document.
#[derive(Debug, Clone)]
pub struct Api {
    pub ops: Vec<Op>,
}

impl Api {
    /// Reads the document (as served at `/api/openapi.json`).
    pub fn parse(doc: &Value) -> Api {
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("the document has paths") {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Some(method) = upper(method) else {
                    continue;
                };
                ops.push(operation(doc, method, path, op));
            }
        }
        assert!(!ops.is_empty(), "the document lists no operation");
        Api { ops }
    }

    /// The operation `method path`, if documented.
    pub fn op(&self, method: &str, path: &str) -> Option<&Op> {
        self.ops
            .iter()
            .find(|o| o.method == method && o.path == path)
    }

    /// The operation `method target` reaches by its path alone (the query aside): the
    /// template whose every literal segment matches, with the fewest parameters when
    /// several do (`/api/users/me` before `/api/users/{id}`).
    pub fn route_of(&self, method: &str, target: &[u8]) -> Option<&Op> {
        let target = String::from_utf8_lossy(target);
        let path = target.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        self.ops
            .iter()
            .filter(|o| o.method == method)
            .filter(|o| {
                let template: Vec<&str> = o.path.split('/').collect();
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| {
                        t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                    })
            })
            .min_by_key(|o| o.path_params.len())
    }

    /// The caller's own collections in full: `POST P` answering 201, `GET P/{id}` and
    /// `PATCH P/{id}`, each behind a bearer token, and `GET P` when the document lists it.
    pub fn resources(&self) -> Vec<Resource<'_>> {
        let secured = |method: &str, path: &str| self.op(method, path).filter(|o| o.secured);
        self.collections()
            .into_iter()
            .filter_map(|create| {
                let item = item_path(&create.path);
                Some(Resource {
                    path: create.path.clone(),
                    create,
                    get: secured("GET", &item)?,
                    update: secured("PATCH", &item)?,
                    list: secured("GET", &create.path),
                })
            })
            .collect()
    }

    /// Every operation taking a JSON body.
    pub fn with_body(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|o| o.body.is_some())
    }

    /// The caller's own collections: a secured `POST` without path parameters answering
    /// 201, whose items live at `<path>/{id}`. Returns (collection path, create operation).
    pub fn collections(&self) -> Vec<&Op> {
        self.ops
            .iter()
            .filter(|o| {
                o.method == "POST"
                    && o.secured
                    && o.path_params.is_empty()
                    && o.success.contains(&201)
                    && !crate::known::CEREMONIES.contains(&o.path.as_str())
                    && self.ops.iter().any(|i| i.path == item_path(&o.path))
            })
            .collect()
    }
}

/// A collection of the caller's own items, as [`Api::resources`] finds them.
pub struct Resource<'a> {
    /// The collection's path, `/api/tasks`.
    pub path: String,
    pub create: &'a Op,
    pub get: &'a Op,
    pub update: &'a Op,
    /// `GET P`, if documented.
    pub list: Option<&'a Op>,
}

/// The item path of a collection.
pub fn item_path(collection: &str) -> String {
    format!("{collection}/{{id}}")
}

fn upper(method: &str) -> Option<&'static str> {
    Some(match method {
        "get" => "GET",
        "post" => "POST",
        "put" => "PUT",
        "patch" => "PATCH",
        "delete" => "DELETE",
        _ => return None,
    })
}

fn operation(doc: &Value, method: &'static str, path: &str, op: &Value) -> Op {
    let mut path_params = Vec::new();
    let mut query = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let p = resolve(doc, p);
        let name = p["name"].as_str().unwrap_or_default();
        let required = p["required"].as_bool().unwrap_or(false);
        let field = field(doc, name, &p["schema"], required);
        match p["in"].as_str() {
            Some("path") => path_params.push(field),
            Some("query") => query.push(field),
            _ => {}
        }
    }
    let body = op["requestBody"]["content"]["application/json"]["schema"]
        .as_object()
        .map(|_| {
            let schema = resolve(
                doc,
                &op["requestBody"]["content"]["application/json"]["schema"],
            );
            members(doc, schema)
        });
    let success = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(status, _)| status.parse().ok())
        .filter(|s| (200..300).contains(s))
        .collect();
    Op {
        method,
        path: path.to_owned(),
        // A bearer token (the suite's forged ones); an operation for HTTP Basic clients
        // (introspection) is attacked as a public one, which it must also survive.
        secured: op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
        path_params,
        query,
        body,
        success,
    }
}

/// A `$ref` followed to its component.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let pointer = r.trim_start_matches('#');
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("the document has no {r}"))
        }
        None => v,
    }
}

fn members(doc: &Value, schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            field(
                doc,
                name,
                resolve(doc, s),
                required.contains(&name.as_str()),
            )
        })
        .collect()
}

/// A member's schema: `type` may be a name or a list with `"null"` (OpenAPI 3.1), or a
/// `oneOf` with a null branch.
fn field(doc: &Value, name: &str, schema: &Value, required: bool) -> Field {
    let mut types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut s = schema;
    if let Some(branches) = schema["oneOf"].as_array() {
        for b in branches {
            let b = resolve(doc, b);
            match b["type"].as_str() {
                Some("null") => types.push("null".into()),
                Some(t) => {
                    types.push(t.to_owned());
                    s = b;
                }
                None => {}
            }
        }
    }
    let ty = if types.iter().any(|t| t == "boolean") {
        Ty::Bool
    } else if types.iter().any(|t| t == "integer") {
        Ty::Int
    } else if types.iter().any(|t| t == "string") {
        Ty::Str
    } else if types.iter().any(|t| t == "object") {
        Ty::Obj
    } else {
        panic!("{name}: the hostile suite knows no values for the type {schema}")
    };
    let format = s["format"].as_str().map(str::to_owned);
    let usize_of = |k: &str| s[k].as_u64().map(|n| n as usize);
    Field {
        name: name.to_owned(),
        ty,
        required,
        nullable: types.iter().any(|t| t == "null"),
        min_len: usize_of("minLength"),
        max_len: usize_of("maxLength"),
        bytes: format.as_deref() == Some("password"),
        minimum: s["minimum"].as_i64(),
        maximum: s["maximum"].as_i64(),
        format,
        pattern: s["pattern"]
            .as_str()
            .map(|p| regex::Regex::new(p).unwrap_or_else(|e| panic!("{name}: pattern {p}: {e}"))),
        example: s
            .get("example")
            .or_else(|| s["examples"].get(0))
            .or_else(|| schema.get("example"))
            .cloned(),
        trimmed: [s, schema].iter().any(|d| {
            d["description"].as_str().is_some_and(|d| {
                let d = d.to_lowercase();
                d.contains("white space is trimmed") || d.contains("whitespace is trimmed")
            })
        }),
    }
}
