//! The cases' view of the apps: a blocking HTTP helper over one shared runtime, response
//! assertions (success is `application/json`, every error `application/problem+json` with
//! its `code`), and a few steps most cases need (register, log in).

use std::sync::Arc;

use rand::Rng;
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

/// What every case gets: the apps' addresses and a client to talk to them.
pub struct Ctx {
    /// Runs the HTTP client; cases call it through blocking helpers.
    pub rt: Arc<tokio::runtime::Runtime>,
    pub client: reqwest::Client,
    /// The app most cases use.
    pub main: String,
    /// A second instance on the same database and Redis (Redis plans only).
    pub second: Option<String>,
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT=3`.
    pub limited: String,
    /// `REFRESH_REUSE_GRACE=0`.
    pub no_grace: String,
    /// `JWT_API_SECRET` rotated: the test secret is now `JWT_API_SECRET_PREVIOUS`.
    pub rotated: String,
    /// Behind a trusted proxy with low limits ([`crate::attacks::GUARDED`]).
    pub guarded: String,
    /// The guarded app's own Redis key prefix (Redis plans only).
    pub guarded_prefix: Option<String>,
    /// The Redis primaries holding the apps' keys (one server, or a cluster's primaries).
    pub redis_nodes: Vec<String>,
    /// `PASSWORD_HASH=argon2id` ([`crate::passwords::ARGON2`]).
    pub argon2: String,
    /// `BCRYPT_COST=5` (the others have 4).
    pub bcrypt5: String,
    /// The tasks table, read directly where HTTP cannot look.
    pub tasks: repos::TaskRepo,
    /// The users table, read directly (a stored password hash).
    pub users: repos::UserRepo,
    /// The database, for a generated resource's repository (rows HTTP cannot show).
    pub database: db::Database,
    /// Signing access tokens with published Ed25519 keys ([`crate::keys::EDDSA`]); on the
    /// Redis plans a second instance too. The key life cycle's case has them to itself.
    pub eddsa: Vec<String>,
    /// What the apps connect with (through the pooler, when there is one), for the cases'
    /// own `api keys` and `api admin` calls.
    pub database_config: db::DatabaseConfig,
    /// Where the apps write their mails (no SMTP here): the links a case needs.
    pub mail_dir: std::path::PathBuf,
    /// The app that signs in with an OpenID provider, and the provider (`None` where Node
    /// or tests/oidc's packages are missing, and then its cases are not run).
    pub oidc: Option<crate::oidc::OidcCtx>,
}

impl Ctx {
    /// Waits (bounded) until every read replica has replayed all the primary has written:
    /// before a case reads what *another* user wrote, which a replica may show late by
    /// design (a user's own writes need no wait). Nothing to wait for without replicas.
    pub fn replicas_caught_up(&self) {
        let config = &self.database_config;
        let replicas: Vec<String> = config
            .replicas
            .iter()
            .map(|r| r.expose().to_owned())
            .collect();
        strata_e2e::postgres_pair::wait_replayed(config.url.expose(), &replicas)
            .unwrap_or_else(|e| panic!("the replicas did not catch up: {e}"));
    }

    /// The main app.
    pub fn api(&self) -> Api<'_> {
        self.on(&self.main)
    }

    /// The app at `base`.
    pub fn on<'a>(&'a self, base: &'a str) -> Api<'a> {
        Api { ctx: self, base }
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    /// A body with the given content type (`None`: no Content-Type header at all).
    Raw(Option<&'static str>, Vec<u8>),
}

/// Requests to one app.
pub struct Api<'a> {
    ctx: &'a Ctx,
    base: &'a str,
}

/// A response, read in full.
#[derive(Debug)]
pub struct Resp {
    /// `METHOD path`, for failure messages.
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Api<'_> {
    /// Sends a request with any headers and body.
    pub fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Resp {
        let what = format!("{method} {path}");
        let mut req = self
            .ctx
            .client
            .request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(Some(ct), bytes) => req.header(CONTENT_TYPE, ct).body(bytes),
            Body::Raw(None, bytes) => req.body(bytes),
        };
        self.ctx.rt.block_on(async move {
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) => panic!("{what}: request failed: {e}"),
            };
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let text = match res.text().await {
                Ok(t) => t,
                Err(e) => panic!("{what}: reading the body failed: {e}"),
            };
            Resp {
                what,
                status,
                headers,
                text,
            }
        })
    }

    /// A request with an optional bearer token and a body.
    pub fn call(&self, method: Method, path: &str, token: Option<&str>, body: Body) -> Resp {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![(AUTHORIZATION.as_str(), b)])
            .unwrap_or_default();
        self.send(method, path, &headers, body)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, Body::None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Body::Json(body))
    }

    /// A POST without a body (logout).
    pub fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::POST, path, token, Body::None)
    }

    pub fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::PUT, path, token, Body::Json(body))
    }

    pub fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Body::Json(body))
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::DELETE, path, token, Body::None)
    }

    pub fn delete_with(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::DELETE, path, token, Body::Json(body))
    }

    /// `GET /api/users/me`: the usual probe of whether an access token works.
    pub fn me(&self, access: &str) -> Resp {
        self.get("/api/users/me", Some(access))
    }

    /// `POST /api/auth/refresh`.
    pub fn refresh(&self, refresh_token: &str) -> Resp {
        self.post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
    }

    /// Registers a fresh user with a random name; asserts 201.
    pub fn register(&self) -> User {
        let user = User::random();
        let body = self
            .post(
                "/api/auth/register",
                None,
                json!({ "username": user.username, "email": user.email, "password": user.password }),
            )
            .ok(201);
        User {
            id: str_of(&body, "id"),
            ..user
        }
    }

    /// Logs `user` in by username; asserts 200 and the token shape.
    pub fn login(&self, user: &User) -> Tokens {
        self.login_with(json!({ "username": user.username, "password": user.password }))
    }

    /// Logs in with the given body; asserts 200 and the token shape.
    pub fn login_with(&self, body: Value) -> Tokens {
        Tokens::from_body(&self.post("/api/auth/login", None, body).ok(200))
    }

    /// A new user with one session.
    pub fn user_with_session(&self) -> (User, Tokens) {
        let user = self.register();
        let tokens = self.login(&user);
        (user, tokens)
    }

    /// Proves `user`'s address with the link mailed at registration; asserts 204.
    pub fn verify_address(&self, user: &User) {
        let token =
            strata_e2e::mail_files::token_for(&self.ctx.mail_dir, &user.email, "verify-email");
        self.post("/api/auth/verify-email", None, json!({ "token": token }))
            .no_content();
    }

    /// A new user whose address is proven, with one session.
    pub fn verified_user_with_session(&self) -> (User, Tokens) {
        let (user, tokens) = self.user_with_session();
        self.verify_address(&user);
        (user, tokens)
    }

    /// Creates a task; asserts 201.
    pub fn create_task(&self, access: &str, body: Value) -> Value {
        self.post("/api/tasks", Some(access), body).ok(201)
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        match serde_json::from_str(&self.text) {
            Ok(v) => v,
            Err(e) => panic!("{}: body is not JSON ({e}): {:?}", self.what, self.text),
        }
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The media type of the body, without parameters.
    pub fn media_type(&self) -> String {
        content_type(&self.headers)
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    fn expect_status(&self, status: u16) {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {} with body {}",
            self.what, self.status, self.text
        );
    }

    /// Asserts a success with a JSON body; returns the body.
    pub fn ok(&self, status: u16) -> Value {
        self.expect_status(status);
        assert_eq!(
            self.media_type(),
            "application/json",
            "{}: content type of a success",
            self.what
        );
        self.json()
    }

    /// Asserts a success with no body (204).
    pub fn no_content(&self) {
        self.expect_status(204);
        assert!(
            self.text.is_empty(),
            "{}: a 204 has no body, got {:?}",
            self.what,
            self.text
        );
    }

    /// Asserts an RFC 9457 problem with this status and `code`; returns the body.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        self.expect_status(status);
        assert_eq!(
            self.media_type(),
            "application/problem+json",
            "{}: content type of a {status} (body {})",
            self.what,
            self.text
        );
        let body = self.json();
        assert_eq!(
            body["code"], code,
            "{}: problem code (body {})",
            self.what, self.text
        );
        assert_eq!(
            body["status"], status,
            "{}: problem status member",
            self.what
        );
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}: problem title (body {})",
            self.what,
            self.text
        );
        assert!(
            body["detail"].is_string(),
            "{}: problem detail (body {})",
            self.what,
            self.text
        );
        body
    }

    /// Asserts a 401 for a missing or bad token: the problem and a Bearer challenge.
    pub fn unauthorized(&self, code: &str) -> Value {
        let body = self.problem(401, code);
        let challenge = self.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer"),
            "{}: a {code} carries WWW-Authenticate: Bearer, got {challenge:?}",
            self.what
        );
        body
    }

    /// Asserts a 422 `validation_failed` that names `field` in `errors`; returns the body.
    pub fn invalid(&self, field: &str) -> Value {
        let body = self.problem(422, "validation_failed");
        let fields = error_fields(&body);
        assert!(
            fields.iter().any(|f| f == field),
            "{}: expected an error for {field:?}, got {fields:?} (body {})",
            self.what,
            self.text
        );
        for e in body["errors"].as_array().into_iter().flatten() {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}: every field error has a message: {e}",
                self.what
            );
        }
        body
    }
}

/// The `field` of each entry of a problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A string member of a JSON object; panics when it is missing.
pub fn str_of(v: &Value, key: &str) -> String {
    match v[key].as_str() {
        Some(s) => s.to_owned(),
        None => panic!("{key:?} is not a string in {v}"),
    }
}

/// The sorted member names of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Asserts an RFC 3339 UTC time.
pub fn assert_utc_time(v: &Value, key: &str) {
    let s = str_of(v, key);
    match chrono::DateTime::parse_from_rfc3339(&s) {
        Ok(t) => assert_eq!(t.offset().local_minus_utc(), 0, "{key} is UTC: {s}"),
        Err(e) => panic!("{key} is not RFC 3339 ({e}): {s}"),
    }
}

/// A random suffix, so parallel cases never share a user.
pub fn random_suffix() -> String {
    format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff)
}

/// A user's credentials (and id, once registered).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
}

impl User {
    /// A random, valid, not yet registered user.
    pub fn random() -> Self {
        let s = random_suffix();
        User {
            id: String::new(),
            username: format!("user_{s}"),
            email: format!("user.{s}@example.com"),
            password: format!("correct horse {s}"),
        }
    }
}

/// A tokens response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    pub body: Value,
}

impl Tokens {
    /// Reads and checks a tokens body.
    pub fn from_body(body: &Value) -> Self {
        assert_eq!(
            keys(body),
            [
                "access_token",
                "expires_in",
                "refresh_expires_in",
                "refresh_token",
                "session_id",
                "token_type"
            ],
            "tokens body: {body}"
        );
        assert_eq!(body["token_type"], "Bearer", "{body}");
        let expires_in = body["expires_in"].as_i64().unwrap_or(-1);
        let refresh_expires_in = body["refresh_expires_in"].as_i64().unwrap_or(-1);
        assert!(
            expires_in > 0 && expires_in <= 15 * 60,
            "expires_in is the access TTL (15 min by default): {body}"
        );
        assert!(
            refresh_expires_in > expires_in,
            "the refresh token outlives the access token: {body}"
        );
        let t = Tokens {
            access: str_of(body, "access_token"),
            refresh: str_of(body, "refresh_token"),
            session_id: str_of(body, "session_id"),
            body: body.clone(),
        };
        assert_eq!(t.access.split('.').count(), 3, "access token is a JWT");
        assert_eq!(t.refresh.split('.').count(), 3, "refresh token is a JWT");
        assert_ne!(t.access, t.refresh);
        t
    }
}
