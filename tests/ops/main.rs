//! Operations: what deployers read off a running binary. `/metrics` scraped after traffic,
//! one JSON log line per request, `X-Request-Id` echoed, and OpenTelemetry spans received
//! by a minimal OTLP/HTTP receiver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db::Backend;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;
use strata_e2e::Env;
use testkit::{run_suite, trial, Plan, Prepared, TestDatabase};

const PASSWORD: &str = "correct horse battery";

fn start(extra: &[(&str, &str)]) -> (TestDatabase, ApiProcess) {
    let database = TestDatabase::create(Backend::Sqlite).unwrap();
    let mut env = Env::new(database.url_string(), None).with("RUST_LOG", "info");
    for (k, v) in extra {
        env = env.with(k, v);
    }
    let app = ApiProcess::start(&env, Duration::from_secs(60)).unwrap();
    (database, app)
}

/// Registers, logs in, creates a task, reads it back; returns (user id, access token).
fn traffic(c: &Client, base: &str) -> (String, String) {
    let user = testkit::random_name("ops");
    let r = c
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"username": user, "email": format!("{user}@example.com"), "password": PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens: Value = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let r = c
        .post(format!("{base}/api/tasks"))
        .bearer_auth(&access)
        .json(&json!({"title": "t"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let task = r.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        c.get(format!("{base}/api/tasks/{task}"))
            .bearer_auth(&access)
            .send()
            .unwrap()
            .status(),
        200
    );
    let bad = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": "wrong one!"}))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401);
    (id, access)
}

fn scrape_shows_requests_by_route_pattern_auth_outcomes_and_pools() {
    let (_db, app) = start(&[]);
    let c = Client::new();
    traffic(&c, &app.address);
    let r = c.get(app.url("/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().unwrap();
    for needle in [
        r#"strata_http_requests_total{method="POST",route="/api/tasks",status="201"} 1"#,
        r#"strata_http_requests_total{method="GET",route="/api/tasks/{id}",status="200"} 1"#,
        r#"strata_http_request_duration_seconds_bucket{method="GET",route="/api/tasks/{id}",status="200",le="+Inf"} 1"#,
        r#"strata_auth_logins_total{outcome="ok"} 1"#,
        r#"strata_auth_logins_total{outcome="failed"} 1"#,
        "strata_db_pool_connections{state=\"open\"}",
        // Its value moves with background work (the key watch, audit rows written after
        // the answer): the gauge is exported, whatever it reads.
        "strata_db_pool_waiting ",
        "strata_build_info{version=",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains("/api/tasks/0"), "an id leaked into a label");
}

fn one_json_line_per_request_with_request_id_route_status_latency_user() {
    let (_db, app) = start(&[]);
    let c = Client::new();
    let (user_id, access) = traffic(&c, &app.address);
    let r = c
        .get(app.url("/api/users/me"))
        .bearer_auth(&access)
        .header("x-request-id", "trace-me-42")
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "trace-me-42",
        "a valid caller id is echoed"
    );
    let r = c
        .get(app.url("/health"))
        .header("x-request-id", "bad id <script>")
        .send()
        .unwrap();
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, "bad id <script>");
    assert_eq!(generated.len(), 36, "a fresh UUID instead");
    // The process writes the line after the response; wait for it (bounded).
    let mut line = None;
    for _ in 0..100 {
        line = app
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "request" && v["request_id"] == "trace-me-42");
        if line.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = line.expect("a request line for trace-me-42");
    assert_eq!(line["route"], "/api/users/me", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["user_id"], user_id.as_str(), "{line}");
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    let lines: Vec<Value> = app
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let per_request = lines
        .iter()
        .filter(|v| v["message"] == "request" && v["request_id"] == "trace-me-42")
        .count();
    assert_eq!(per_request, 1, "exactly one line per request");
}

/// A minimal OTLP/HTTP (JSON) receiver: collects the bodies POSTed to /v1/traces.
fn otlp_receiver() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() && head.starts_with("POST /v1/traces") {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(v);
                }
            }
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (port, got)
}

fn spans(bodies: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in bodies {
        for rs in b["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                out.extend(ss["spans"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    out
}

fn spans_reach_an_otlp_receiver_with_database_children() {
    let (port, got) = otlp_receiver();
    let endpoint = format!("http://127.0.0.1:{port}");
    let prefix = format!("{}:", testkit::random_name("ops"));
    let (_db, mut app) = start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("REDIS_URL", &strata_e2e::redis_url()),
        ("REDIS_KEY_PREFIX", &prefix),
    ]);
    let c = Client::new();
    let (_, access) = traffic(&c, &app.address);
    assert_eq!(
        c.get(app.url("/api/users/me"))
            .bearer_auth(&access)
            .send()
            .unwrap()
            .status(),
        200
    );
    // SIGTERM flushes what is still buffered.
    app.terminate();
    assert!(app
        .wait_exit(Duration::from_secs(30))
        .is_some_and(|s| s.success()));
    let all = spans(&got.lock().unwrap());
    let root = all
        .iter()
        .find(|s| s["name"] == "GET /api/users/me")
        .unwrap_or_else(|| {
            panic!(
                "no span for GET /api/users/me among {:?}",
                all.iter().map(|s| &s["name"]).collect::<Vec<_>>()
            )
        });
    let trace = root["traceId"].as_str().unwrap();
    let children: Vec<&Value> = all
        .iter()
        .filter(|s| s["traceId"] == trace && s["name"] != root["name"])
        .collect();
    assert!(
        children.iter().any(|s| s["name"] == "db"),
        "no database span: {children:?}"
    );
    assert!(
        children.iter().any(|s| s["name"] == "redis"),
        "no token-store span: {children:?}"
    );
    for child in &children {
        assert_eq!(child["parentSpanId"], root["spanId"], "{child}");
    }
    let log = app.log_text();
    assert!(
        log.contains(trace),
        "the trace id is not on the request's log lines"
    );
}

/// `api admin grant` makes the first admin of a running service (the binary, on its
/// database); `api admin revoke` refuses to unmake the last one, with one clear line.
fn the_cli_makes_the_first_admin_and_refuses_to_unmake_the_last() {
    let database = TestDatabase::create(Backend::Sqlite).unwrap();
    let env = Env::new(database.url_string(), None);
    let app = ApiProcess::start(&env, Duration::from_secs(60)).unwrap();
    let c = Client::new();
    let base = app.address.clone();
    let (_, token) = traffic(&c, &base);
    let me: Value = c
        .get(format!("{base}/api/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let name = me["username"].as_str().unwrap().to_owned();
    let admin_list = |c: &Client| {
        c.get(format!("{base}/api/admin/users?limit=1"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(admin_list(&c), 403);
    let cli = |args: &[&str]| {
        strata_e2e::process::run_to_exit(&env, args, Duration::from_secs(60)).unwrap()
    };
    let granted = cli(&["admin", "grant", &name.to_uppercase()]);
    assert!(granted.status.success(), "{}", granted.stderr);
    assert_eq!(admin_list(&c), 200, "the role is read on the next request");
    let refused = cli(&["admin", "revoke", &name]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("is the last admin"),
        "{}",
        refused.stderr
    );
    let unknown = cli(&["admin", "grant", "nobody_at_all"]);
    assert!(!unknown.status.success());
    assert!(unknown.stderr.contains("no account"), "{}", unknown.stderr);
    assert_eq!(admin_list(&c), 200);
}

fn main() -> ExitCode {
    strata_e2e::install_tls();
    run_suite(
        "ops",
        vec![Plan {
            label: "sqlite".into(),
            before_suite: Box::new(|| {
                if !strata_e2e::process::api_binary().exists() {
                    return Err(testkit::SetupError::Failed(
                        "run `cargo build -p api` first".into(),
                    ));
                }
                Ok(Prepared {
                    trials: vec![
                        trial(
                            "scrape_shows_requests_by_route_pattern_auth_outcomes_and_pools",
                            scrape_shows_requests_by_route_pattern_auth_outcomes_and_pools,
                        ),
                        trial(
                            "one_json_line_per_request_with_request_id_route_status_latency_user",
                            one_json_line_per_request_with_request_id_route_status_latency_user,
                        ),
                        trial(
                            "spans_reach_an_otlp_receiver_with_database_children",
                            spans_reach_an_otlp_receiver_with_database_children,
                        ),
                        trial(
                            "the_cli_makes_the_first_admin_and_refuses_to_unmake_the_last",
                            the_cli_makes_the_first_admin_and_refuses_to_unmake_the_last,
                        ),
                    ],
                    guard: Box::new(()),
                })
            }),
        }],
    )
}
