//! The mail flows end to end, through a real SMTP server (`aiosmtpd`): verification,
//! password reset, change of address, the hourly cap, no enumeration, and an SMTP outage
//! with two instances sharing the database (every mail delivered, once).
//!
//! BeforeSuite creates the database (and a Redis key prefix), starts an SMTP server and
//! the app on free loopback ports; the outage case starts its own server and instances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod budget;
mod flows;
mod mfa;
mod outage;
mod races;
mod storage;
mod way_out;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use db::Backend;
use serde_json::{json, Value};
use strata_e2e::smtp_server::{self, SmtpServer};
use strata_e2e::{Backing, Env, TestApp};
use testkit::{run_suite, trial, Plan, Prepared, SetupError};

/// What every case gets.
pub struct Ctx {
    pub app: String,
    pub smtp: SmtpServer,
    /// The app's environment (cases start instances of their own from it).
    pub env: Env,
    pub http: reqwest::blocking::Client,
    /// The backend, for cases that need a database of their own.
    pub backend: Backend,
    pub redis: bool,
    /// Runs the storage case's database reads.
    pub rt: tokio::runtime::Runtime,
    /// The suite's database, read when a case fails to say why.
    pub database: db::Database,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Ctx {
    /// Sends `method path` with a JSON body and an optional bearer token to `base`.
    pub fn send_to(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let (status, headers) = (res.status().as_u16(), res.headers().clone());
        let text = res.text().unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send_to(&self.app, method, path, token, body)
    }

    /// Registers a fresh user on `base`: (username, email, password).
    pub fn register_on(&self, base: &str) -> (String, String, String) {
        let name = testkit::random_name("m");
        let (email, password) = (format!("{name}@example.com"), format!("pw of {name}"));
        let r = self.send_to(
            base,
            "POST",
            "/api/auth/register",
            None,
            Some(json!({ "username": name, "email": email, "password": password })),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["email_verified"], false);
        (name, email, password)
    }

    pub fn register(&self) -> (String, String, String) {
        self.register_on(&self.app)
    }

    /// Proves `email` with the link its registration mailed (on the suite's app).
    pub fn verify(&self, email: &str) {
        let link = self.mail(email, "Confirm your email");
        let r = self.send(
            "POST",
            "/api/auth/verify-email",
            None,
            Some(json!({ "token": token_in(&link) })),
        );
        assert_eq!(r.status, 204, "{}", r.body);
    }

    /// Resets the password of `email`'s account on `base` by mail: asks for the link,
    /// reads it from the mail, sets `new_password`; asserts each step.
    pub fn reset_by_mail_on(&self, base: &str, email: &str, new_password: &str) {
        let r = self.send_to(
            base,
            "POST",
            "/api/auth/password-reset",
            None,
            Some(json!({ "email": email })),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        let token = token_in(&self.mail(email, "Reset your"));
        let r = self.send_to(
            base,
            "POST",
            "/api/auth/password-reset/confirm",
            None,
            Some(json!({ "token": token, "new_password": new_password })),
        );
        assert_eq!(r.status, 204, "{}", r.body);
    }

    /// Logs in; returns the access token, or the failed answer.
    pub fn login(&self, name: &str, password: &str) -> Result<String, Box<Answer>> {
        let r = self.send(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({ "username": name, "password": password })),
        );
        if r.status == 200 {
            Ok(r.body["access_token"].as_str().unwrap().to_owned())
        } else {
            Err(Box::new(r))
        }
    }

    /// The one mail to `to` whose subject contains `subject`, once it arrived.
    pub fn mail(&self, to: &str, subject: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let found: Vec<String> = self
                .smtp
                .wait_for(to, 1)
                .into_iter()
                .filter(|m| subject_of(m).contains(subject))
                .collect();
            match found.len() {
                1 => return found[0].clone(),
                0 if start.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                n => panic!("{n} mails to {to} about {subject:?}"),
            }
        }
    }
}

/// The `Subject:` of a raw message.
pub fn subject_of(message: &str) -> String {
    message
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .map(|l| l["Subject:".len()..].trim().to_owned())
        .unwrap_or_default()
}

/// The link's token in a mail.
pub fn token_in(message: &str) -> String {
    smtp_server::token(message).unwrap_or_else(|| panic!("no token in {message}"))
}

pub type Case = (&'static str, fn(&Ctx));

/// For a case that plays an SMTP outage: a database of its own (every instance on a
/// database sends its whole outbox, so the suite's must not be shared), an SMTP server that
/// is down, and the environment of apps over them, retrying fast.
pub fn isolated(ctx: &Ctx) -> (Backing, SmtpServer, Env) {
    let backing = Backing::create(ctx.backend, ctx.redis).unwrap();
    let mut smtp = SmtpServer::start().unwrap();
    smtp.stop();
    let env = backing
        .env
        .with("SMTP_URL", &smtp.url())
        .with("PUBLIC_URL", "http://strata.test")
        .with("MAIL_RETRY_BASE", "200ms")
        .with("MAIL_RETRY_MAX", "400ms")
        .with("MAIL_SEND_TIMEOUT", "2s");
    (backing, smtp, env)
}

fn main() -> ExitCode {
    strata_e2e::install_tls();
    run_suite(
        "mail",
        vec![
            plan(Backend::Sqlite, "sqlite + memory store + smtp", false),
            plan(Backend::Postgres, "postgres + redis + smtp", true),
            plan(Backend::Mysql, "mysql + redis + smtp", true),
        ],
    )
}

fn plan(backend: Backend, label: &str, redis: bool) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || before_suite(backend, redis)),
    }
}

fn before_suite(backend: Backend, redis: bool) -> Result<Prepared, SetupError> {
    if !smtp_server::available() {
        return Err(SetupError::Unreachable(
            "aiosmtpd (Debian python3-aiosmtpd) is not installed".into(),
        ));
    }
    let backing = Backing::create(backend, redis)?;
    let smtp = SmtpServer::start().map_err(SetupError::Failed)?;
    let env = backing
        .env
        .with("SMTP_URL", &smtp.url())
        .with("PUBLIC_URL", "http://strata.test")
        .with("SHUTDOWN_TIMEOUT", "1");
    let app =
        TestApp::spawn(&env).map_err(|e| SetupError::Failed(format!("starting the app: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SetupError::Failed(format!("tokio runtime: {e}")))?;
    let database = db::init_db(&backing.database.url(), db::PoolOptions::default())
        .map_err(|e| SetupError::Failed(format!("opening the test database: {e}")))?;
    let ctx = Arc::new(Ctx {
        database,
        rt,
        app: app.address.clone(),
        smtp,
        env,
        http: reqwest::blocking::Client::new(),
        backend,
        redis,
    });
    let mut cases: Vec<Case> = Vec::new();
    cases.extend_from_slice(flows::CASES);
    cases.extend_from_slice(outage::CASES);
    cases.extend_from_slice(storage::CASES);
    cases.extend_from_slice(mfa::CASES);
    cases.extend_from_slice(budget::CASES);
    cases.extend_from_slice(way_out::CASES);
    cases.extend_from_slice(races::CASES);
    let trials = cases
        .into_iter()
        .map(|(name, body)| {
            let ctx = ctx.clone();
            trial(name, move || body(&ctx))
        })
        .collect();
    Ok(Prepared {
        trials,
        guard: Box::new((app, ctx, backing)),
    })
}
