//! Property tests of the HTTP layer's parsers: `parse_duration` (configuration),
//! `extract::parse_json` (every request body) and the `Authorization` header, the last
//! through HTTP against the real `Application` (SQLite in memory, in-memory token store).
//!
//! Each parser gets arbitrary input and must never panic; what it accepts must satisfy its
//! invariants, and what it refuses must be refused with the right error.
//!
//! Cases per property: `PROPTEST_CASES` (default 256).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use api::config::parse_duration;
use api::error::ApiError;
use api::extract::parse_json;
use api::routes::auth::{LoginRequest, RefreshRequest, RegisterRequest};
use api::routes::tasks::{CreateTaskRequest, UpdateTaskRequest};
use api::routes::users::{ChangePasswordRequest, DeleteAccountRequest};
use api::{Application, Config};
use proptest::prelude::*;
use proptest::test_runner::Config as PropConfig;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// 256 cases unless `PROPTEST_CASES` says otherwise; no regression files are written.
fn config() -> PropConfig {
    PropConfig {
        failure_persistence: None,
        ..PropConfig::default()
    }
}

fn any_chars(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

// ---------------------------------------------------------------------------------------
// parse_duration
// ---------------------------------------------------------------------------------------

const UNITS: [(&str, u128); 6] = [
    ("", 1000),
    ("s", 1000),
    ("ms", 1),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Strings around the duration syntax: digits, units, signs, dots, white space, unicode.
fn duration_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[0-9]{1,25}",
        2 => proptest::sample::select(vec!["s", "ms", "m", "h", "d", "S", "M", "us", "w", "y", "sec"]).prop_map(str::to_owned),
        1 => proptest::sample::select(vec![" ", "\t", "-", "+", ".", "_", "e", "\u{0663}", "\u{ff15}", "\0"]).prop_map(str::to_owned),
    ];
    proptest::collection::vec(piece, 0..5).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    /// `parse_duration` never panics; what it accepts is digits and one known unit
    /// (surrounding white space aside), and the value is exactly that many units.
    #[test]
    fn parse_duration_accepts_only_number_and_unit(raw in prop_oneof![any_chars(30), duration_like(), "[0-9]{18,400}[smhd]?"]) {
        if let Ok(d) = parse_duration(&raw) {
            let s = raw.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            prop_assert!(!num.is_empty(), "{raw:?}");
            let factor = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f);
            prop_assert!(factor.is_some(), "unit {unit:?} of {raw:?}");
            let n: u128 = num.parse().unwrap();
            prop_assert_eq!(d.as_millis(), n * factor.unwrap(), "{:?}", raw);
        }
    }

    /// Every whole number with every unit is accepted, unless the seconds overflow.
    #[test]
    fn parse_duration_of_number_and_unit(n in prop_oneof![0u64..100_000, any::<u64>()], unit in 0usize..UNITS.len(), pad in "[ \t]{0,2}") {
        let (u, factor) = UNITS[unit];
        let raw = format!("{pad}{n}{u}{pad}");
        let expected_ms = u128::from(n) * factor;
        let fits = u == "ms" || u128::from(n) * (factor / 1000) <= u128::from(u64::MAX);
        match parse_duration(&raw) {
            Ok(d) => {
                prop_assert!(fits, "{raw:?} overflows but gave {d:?}");
                prop_assert_eq!(d.as_millis(), expected_ms);
            }
            Err(e) => {
                prop_assert!(!fits, "{raw:?} refused: {e}");
                prop_assert!(e.contains(&format!("{raw:?}")), "the message names the value: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// parse_json
// ---------------------------------------------------------------------------------------

/// Any JSON value, nested a few levels, with hostile strings.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any_chars(30).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(any_chars(8), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every member name of every request body the OpenAPI document describes, and a few
/// that no body has (a near miss, a wrong case, the empty name, `__proto__`).
fn fields() -> Vec<String> {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(api::openapi::ApiDoc::openapi()).unwrap_or_default();
    let schemas = &doc["components"]["schemas"];
    let mut names: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .filter_map(|op| {
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        })
        .filter_map(|r| r.rsplit('/').next())
        .flat_map(|name| {
            schemas[name]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(
        names.len() >= 9,
        "request fields from the document: {names:?}"
    );
    names.extend(["Title", "titel", "", "__proto__"].map(str::to_owned));
    names
}

/// Objects with the real member names (some repeated) and values of any type.
fn body_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::sample::select(fields()),
            prop_oneof![
                3 => any_chars(20).prop_map(Value::String),
                2 => any_json(),
            ],
        ),
        0..6,
    )
    .prop_map(|members| {
        // Written by hand so duplicate keys survive.
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
            .collect();
        format!("{{{}}}", inner.join(","))
    })
}

/// Valid JSON text broken in one place: cut, a byte changed, bytes inserted.
fn broken(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (text, any::<proptest::sample::Index>(), any::<u8>(), 0u8..4).prop_map(|(t, i, b, how)| {
        let mut bytes = t.into_bytes();
        if bytes.is_empty() {
            return vec![b];
        }
        let i = i.index(bytes.len());
        match how {
            0 => bytes.truncate(i),
            1 => bytes[i] = b,
            2 => bytes.insert(i, b),
            _ => bytes.extend_from_slice(&[b' ', b]),
        }
        bytes
    })
}

/// Deeply nested arrays or objects, well-formed or not.
fn deep() -> impl Strategy<Value = Vec<u8>> {
    (1usize..20_000, any::<bool>(), any::<bool>()).prop_map(|(n, objects, closed)| {
        let (open, close) = if objects {
            (r#"{"title":"#, "}")
        } else {
            ("[", "]")
        };
        let mut s = open.repeat(n);
        s.push('1');
        if closed {
            s.push_str(&close.repeat(n));
        }
        s.into_bytes()
    })
}

/// The byte strings every body parser gets.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), 0..200),
        3 => any_json().prop_map(|v| v.to_string().into_bytes()),
        4 => body_like().prop_map(String::into_bytes),
        2 => broken(body_like()),
        1 => deep(),
        1 => proptest::sample::select(vec![
            &b""[..], b" ", b"null", b"{}", b"[]", b"\"x\"", b"{\"title\":\"\xff\"}",
            b"{\"title\":\"\\ud800\"}", b"{\"title\":\"a\0b\"}", b"\xef\xbb\xbf{}",
        ]).prop_map(<[u8]>::to_vec),
    ]
}

/// Whether `bytes` is a JSON text (RFC 8259: UTF-8, one value, nothing after it), by a
/// strict parser; `None` when that parser cannot tell: nested too deeply, a lone
/// surrogate escape (`"\ud800"`: grammatical, but RFC 8259 leaves its meaning open), or a
/// number past `f64`'s range (grammatical too).
fn is_json_text(bytes: &[u8]) -> Option<bool> {
    if std::str::from_utf8(bytes).is_err() {
        return Some(false);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(_) => Some(true),
        Err(e) => {
            let why = e.to_string();
            let unsure = [
                "recursion limit",
                "surrogate",
                "end of hex escape",
                "out of range",
            ];
            if unsure.iter().any(|u| why.contains(u)) {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Checks `parse_json::<T>` on `bytes`: it answers, never panics; a body that is not a
/// JSON text is `MalformedJson` (400); a JSON text of the wrong shape is `InvalidBody`
/// (422) with a message per field; an accepted body is an object with only `T`'s members,
/// and `check` holds.
fn body_property<T: DeserializeOwned>(
    bytes: &[u8],
    members: &[&str],
    check: impl Fn(&T, &Map<String, Value>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let result = std::panic::catch_unwind(|| parse_json::<T>(bytes))
        .map_err(|_| TestCaseError::fail(format!("parse_json panicked on {bytes:?}")))?;
    let json = is_json_text(bytes);
    let shown = String::from_utf8_lossy(bytes);
    match result {
        Ok(t) => {
            prop_assert_eq!(
                json,
                Some(true),
                "accepted a body that is not JSON: {:?}",
                shown
            );
            let v: Value = serde_json::from_slice(bytes).unwrap();
            let Value::Object(m) = v else {
                return Err(TestCaseError::fail(format!(
                    "accepted a body that is not an object: {v}"
                )));
            };
            for k in m.keys() {
                prop_assert!(
                    members.contains(&k.as_str()),
                    "accepted unknown member {k:?}"
                );
            }
            check(&t, &m)?;
        }
        Err(ApiError::MalformedJson(why)) => {
            prop_assert_ne!(
                json,
                Some(true),
                "a JSON text was called malformed ({}): {:?}",
                why,
                shown
            );
        }
        Err(ApiError::InvalidBody(errors)) => {
            prop_assert_ne!(
                json,
                Some(false),
                "not a JSON text, yet 422 instead of 400 malformed_json ({:?}): {:?}",
                errors,
                shown
            );
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.message.is_empty(), "{e:?}");
            }
        }
        Err(other) => {
            return Err(TestCaseError::fail(format!(
                "parse_json answered {other:?} for {shown:?}"
            )))
        }
    }
    Ok(())
}

/// `m[key]` as the optional string the request type holds.
fn opt_str(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(|v| v.as_str().map(str::to_owned))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_json_register(bytes in any_body()) {
        body_property::<RegisterRequest>(&bytes, &["username", "email", "password"], |r, m| {
            prop_assert_eq!(Some(r.username.clone()), opt_str(m, "username"));
            prop_assert_eq!(Some(r.email.clone()), opt_str(m, "email"));
            prop_assert_eq!(Some(r.password.clone()), opt_str(m, "password"));
            Ok(())
        })?;
    }

    #[test]
    fn parse_json_login(bytes in any_body()) {
        body_property::<LoginRequest>(&bytes, &["username", "email", "password"], |r, m| {
            prop_assert_eq!(r.username.clone(), opt_str(m, "username"));
            prop_assert_eq!(r.email.clone(), opt_str(m, "email"));
            prop_assert_eq!(Some(r.password.clone()), opt_str(m, "password"));
            Ok(())
        })?;
    }

    #[test]
    fn parse_json_refresh(bytes in any_body()) {
        body_property::<RefreshRequest>(&bytes, &["refresh_token"], |r, m| {
            prop_assert_eq!(Some(r.refresh_token.clone()), opt_str(m, "refresh_token"));
            Ok(())
        })?;
    }

    #[test]
    fn parse_json_create_task(bytes in any_body()) {
        body_property::<CreateTaskRequest>(&bytes, &["title", "description", "done"], |r, m| {
            prop_assert_eq!(Some(r.title.clone()), opt_str(m, "title"));
            prop_assert_eq!(r.description.clone(), opt_str(m, "description"));
            prop_assert_eq!(r.done, m.get("done").and_then(Value::as_bool));
            Ok(())
        })?;
    }

    /// A patch keeps "absent" apart from `null` for the description.
    #[test]
    fn parse_json_update_task(bytes in any_body()) {
        body_property::<UpdateTaskRequest>(&bytes, &["title", "description", "done"], |r, m| {
            prop_assert_eq!(r.title.clone(), opt_str(m, "title"));
            let expected = m.get("description").map(|v| v.as_str().map(str::to_owned));
            prop_assert_eq!(r.description.clone(), expected);
            prop_assert_eq!(r.done, m.get("done").and_then(Value::as_bool));
            Ok(())
        })?;
    }

    #[test]
    fn parse_json_change_password(bytes in any_body()) {
        body_property::<ChangePasswordRequest>(&bytes, &["current_password", "new_password"], |r, m| {
            prop_assert_eq!(Some(r.current_password.clone()), opt_str(m, "current_password"));
            prop_assert_eq!(Some(r.new_password.clone()), opt_str(m, "new_password"));
            Ok(())
        })?;
    }

    #[test]
    fn parse_json_delete_account(bytes in any_body()) {
        body_property::<DeleteAccountRequest>(&bytes, &["password"], |r, m| {
            prop_assert_eq!(Some(r.password.clone()), opt_str(m, "password"));
            Ok(())
        })?;
    }

    /// A field error never echoes a string value the client sent (it could be a password).
    #[test]
    fn field_errors_do_not_echo_secrets(secret in "[A-Za-z0-9]{12,40}", shape in 0u8..4) {
        let body = match shape {
            0 => json!({ "password": [secret] }),
            1 => json!({ "current_password": secret, "new_password": { "x": secret } }),
            2 => json!({ "password": secret, "pasword": secret }),
            _ => json!({ "password": 5, "secret": secret }),
        };
        let text = body.to_string();
        let errors = [
            parse_json::<DeleteAccountRequest>(text.as_bytes()).err(),
            parse_json::<ChangePasswordRequest>(text.as_bytes()).err(),
            parse_json::<LoginRequest>(text.as_bytes()).err(),
        ];
        let msgs = errors.into_iter().flatten().map(|e| match e {
            ApiError::InvalidBody(errs) => errs
                .iter()
                .map(|f| format!("{} {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        });
        for m in msgs {
            prop_assert!(!m.contains(&secret), "{m}");
        }
    }
}

/// A body that is not UTF-8 is not JSON: 400 `malformed_json`, wherever the bad bytes are,
/// also in the value of a member the body should not have (a 422 would mean the
/// syntax check skipped over them).
#[test]
fn invalid_utf8_anywhere_is_malformed_json() {
    for body in [
        &b"{\"refresh_token\":\"\xff\"}"[..],
        b"{\"x\":\"\xff\"}",
        b"{\"refresh_token\":\"t\",\"x\":\"\xc3\x28\"}",
        b"{\"x\":[\"\xed\xa0\x80\"]}",
    ] {
        let r = parse_json::<RefreshRequest>(body).err();
        assert!(
            matches!(r, Some(ApiError::MalformedJson(_))),
            "{:?}: expected MalformedJson, got {r:?}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Every request body is a JSON object: an array is a 422, never read as the members in
/// declaration order (serde's derived `visit_seq`), and never a 400 (it is JSON).
#[test]
fn an_array_is_never_a_request_body() {
    fn refused<T: DeserializeOwned>(body: &str) {
        let r = parse_json::<T>(body.as_bytes());
        assert!(
            matches!(r, Err(ApiError::InvalidBody(_))),
            "{body} as {}: expected InvalidBody, got {}",
            std::any::type_name::<T>(),
            match &r {
                Ok(_) => "Ok(accepted)".to_owned(),
                Err(e) => format!("{e:?}"),
            }
        );
    }
    for body in [
        r#"["a refresh token"]"#,
        r#"["alice", null, "correct horse battery"]"#,
        r#"["Buy milk", null, true]"#,
        r#"[null, "", "", null]"#,
        "[]",
    ] {
        refused::<RefreshRequest>(body);
        refused::<LoginRequest>(body);
        refused::<RegisterRequest>(body);
        refused::<CreateTaskRequest>(body);
        refused::<UpdateTaskRequest>(body);
        refused::<ChangePasswordRequest>(body);
        refused::<DeleteAccountRequest>(body);
    }
}

// ---------------------------------------------------------------------------------------
// The Authorization header, through HTTP
// ---------------------------------------------------------------------------------------

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The app the HTTP properties run against: a fresh SQLite file and the in-memory token
/// store, one user with one session. Dropping it stops the server and deletes the file.
struct Server {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    user_id: String,
    access: String,
    refresh: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    db_path: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.rt.block_on(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.db_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Server {
    fn start() -> Server {
        let db_path = std::env::temp_dir().join(format!(
            "strata_api_prop_{}_{:x}.db",
            std::process::id(),
            rand::random::<u64>()
        ));
        let url = format!("sqlite://{}", db_path.display());
        let vars: HashMap<&str, &str> = [
            ("DATABASE_URL", url.as_str()),
            ("JWT_API_SECRET", SECRET),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("BCRYPT_COST", "4"),
            ("HTTP_WORKERS", "1"),
            ("SHUTDOWN_TIMEOUT", "1"),
            ("APP_ENV", "test"),
        ]
        .into_iter()
        .collect();
        let config = Config::from_lookup(&|k| vars.get(k).map(|v| (*v).to_owned())).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(config).await.unwrap();
                tx.send((app.port(), app.handle())).unwrap();
                app.run_until_stopped().await.unwrap();
            })
        });
        let (port, handle) = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        services::install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (user_id, tokens) = rt.block_on(async {
            let user = json!({"username": "prop_user", "email": "prop@example.com", "password": "correct horse battery"});
            let r = client
                .post(format!("{base}/api/auth/register"))
                .json(&user)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{:?}", r.text().await);
            let id = r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let r = client
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"username": "prop_user", "password": "correct horse battery"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{:?}", r.text().await);
            (id, r.json::<Value>().await.unwrap())
        });
        Server {
            rt,
            client,
            base,
            user_id,
            access: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
            handle,
            thread: Some(thread),
            db_path,
        }
    }
}

/// The answer to `GET /api/users/me` with these raw Authorization header values.
struct Answer {
    status: u16,
    content_type: String,
    challenge: String,
    body: Value,
}

fn me_with(s: &Server, values: &[Vec<u8>]) -> Answer {
    let mut req = s.client.get(format!("{}/api/users/me", s.base));
    for v in values {
        let value = reqwest::header::HeaderValue::from_bytes(v).unwrap();
        req = req.header(reqwest::header::AUTHORIZATION, value);
    }
    s.rt.block_on(async {
        let r = req.send().await.unwrap();
        let header = |name| {
            r.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let status = r.status().as_u16();
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let challenge = header(reqwest::header::WWW_AUTHENTICATE);
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            challenge,
            body,
        }
    })
}

/// Asserts a 401 problem+json with `code` and a Bearer challenge.
fn assert_401(a: &Answer, code: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.status, 401, "{}: {}", what, a.body);
    prop_assert_eq!(
        a.content_type.as_str(),
        "application/problem+json",
        "{}",
        what
    );
    prop_assert_eq!(a.body["code"].as_str(), Some(code), "{}: {}", what, a.body);
    prop_assert!(
        a.challenge.starts_with("Bearer"),
        "{}: {:?}",
        what,
        a.challenge
    );
    Ok(())
}

/// Bytes a header value may hold (visible ASCII, space, tab, and obs-text 0x80-0xff),
/// without leading or trailing white space (HTTP strips it anyway).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => 0x21u8..0x7f,
            1 => Just(b' '),
            1 => Just(b'\t'),
            2 => 0x80u8..=0xff,
        ],
        0..max,
    )
    .prop_map(|mut v| {
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}

/// `bearer` in a random case.
fn bearer_word() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|up| {
        "bearer"
            .chars()
            .zip(up)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

/// Runs one property against the server; returns how many cases passed.
fn check<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u32 {
    let mut runner = proptest::test_runner::TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
    let cases = runner.config().cases;
    println!("{name}: {cases} cases passed");
    cases
}

/// The `Authorization` header through HTTP (`GET /api/users/me`), three properties on one
/// server:
/// - any header value that is not a bearer access token is a 401 `token_invalid` problem
///   with a Bearer challenge: never a 200, never a 5xx;
/// - a real access token with one byte changed, the refresh token, or the access token
///   under another scheme, is refused the same way;
/// - the scheme is case-insensitive and any number of spaces may follow it: the real
///   token then authenticates as its user.
#[test]
fn authorization_header_through_http() {
    let s = Server::start();
    check(
        "any_authorization_value_is_401_token_invalid",
        prop_oneof![
            header_bytes(64),
            header_bytes(4000),
            (bearer_word(), header_bytes(200)).prop_map(|(w, t)| [w.as_bytes(), b" ", &t].concat()),
        ],
        |value| {
            let a = me_with(&s, std::slice::from_ref(&value));
            assert_401(
                &a,
                "token_invalid",
                &format!("{:?}", String::from_utf8_lossy(&value)),
            )
        },
    );
    check(
        "a_changed_or_misplaced_token_is_401",
        (any::<proptest::sample::Index>(), 0x21u8..0x7f, 0u8..4),
        |(index, byte, how)| {
            let value = match how {
                0 => {
                    let mut t = s.access.clone().into_bytes();
                    let i = index.index(t.len());
                    prop_assume!(t[i] != byte);
                    t[i] = byte;
                    [b"Bearer ".as_slice(), &t].concat()
                }
                1 => format!("Bearer {}", s.refresh).into_bytes(),
                2 => format!("Basic {}", s.access).into_bytes(),
                _ => format!("Bearer:{}", s.access).into_bytes(),
            };
            let a = me_with(&s, std::slice::from_ref(&value));
            assert_401(&a, "token_invalid", &String::from_utf8_lossy(&value))
        },
    );
    check(
        "bearer_in_any_case_with_any_spacing_is_accepted",
        (bearer_word(), 1usize..40),
        |(word, spaces)| {
            let value = format!("{word}{}{}", " ".repeat(spaces), s.access).into_bytes();
            let a = me_with(&s, &[value]);
            prop_assert_eq!(a.status, 200, "{}", a.body);
            prop_assert_eq!(a.body["id"].as_str(), Some(s.user_id.as_str()));
            Ok(())
        },
    );
    // No header at all is `token_missing`; the scheme alone, or with only white space,
    // is `token_invalid`.
    let a = me_with(&s, &[]);
    assert_401(&a, "token_missing", "no header").unwrap();
    for v in ["Bearer", "bearer", "Bearer    ", "Bearer \t ", "Bearer\t"] {
        let a = me_with(&s, &[v.as_bytes().to_vec()]);
        assert_401(&a, "token_invalid", v).unwrap();
    }
}
