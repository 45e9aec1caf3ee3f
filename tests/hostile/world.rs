//! A case's users (the victim and another user, each with a session and items in every
//! collection the document lists), snapshots of everything they own, and the check every
//! bad request's answer must pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Value};
use services::domain::{Email, Username};

use crate::spec::{item_path, Api, Op};
use crate::{known, Ctx, Req, Resp};

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    pub session_id: String,
    /// The ids of the items made at set-up, by collection path (`/api/tasks`).
    pub owned: BTreeMap<String, Vec<String>>,
}

impl Account {
    /// The ids of this user's items in `collection`.
    pub fn items(&self, collection: &str) -> &[String] {
        self.owned.get(collection).map_or(&[], Vec::as_slice)
    }
}

/// A random suffix, so parallel cases never share a user.
pub fn suffix() -> String {
    format!("{:010x}", rand::rng().random::<u64>() & 0xff_ffff_ffff)
}

/// A valid, not yet registered user: (username, email, password).
pub fn fresh_identity() -> (String, String, String) {
    let s = suffix();
    (
        format!("h_{s}"),
        format!("h.{s}@example.com"),
        format!("hostile pw {s}"),
    )
}

/// Sends a JSON request and asserts the status; returns the body.
pub fn ok(ctx: &Ctx, req: Req, status: u16) -> Value {
    let r = ctx.send(&req);
    assert_eq!(
        r.status,
        status,
        "{}: expected {status}, got {} {}",
        req.what,
        r.status,
        r.text()
    );
    r.json()
}

/// Registers and logs in `(username, email, password)`.
pub fn account_with(ctx: &Ctx, username: &str, email: &str, password: &str) -> Account {
    let user = ok(
        ctx,
        Req::new("POST", "/api/auth/register")
            .json(&json!({ "username": username, "email": email, "password": password })),
        201,
    );
    let tokens = login(ctx, username, password);
    Account {
        id: user["id"].as_str().unwrap().to_owned(),
        username: username.to_owned(),
        email: email.to_owned(),
        password: password.to_owned(),
        access: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh: tokens["refresh_token"].as_str().unwrap().to_owned(),
        session_id: tokens["session_id"].as_str().unwrap().to_owned(),
        owned: BTreeMap::new(),
    }
}

/// Logs in; asserts 200; returns the tokens body.
pub fn login(ctx: &Ctx, username: &str, password: &str) -> Value {
    ok(
        ctx,
        Req::new("POST", "/api/auth/login")
            .json(&json!({ "username": username, "password": password })),
        200,
    )
}

/// A fresh user with one session and `n` items in every collection, each made from the
/// collection's example body.
pub fn account(ctx: &Ctx, n: usize) -> Account {
    let (u, e, p) = fresh_identity();
    let mut a = account_with(ctx, &u, &e, &p);
    for create in ctx.api.collections() {
        let body = Value::Object(create.example_body());
        for _ in 0..n {
            let req = Req::new("POST", create.path.clone())
                .bearer(Some(&a.access))
                .json(&body)
                .what(format!("{} with its example body {body}", create.name()));
            let item = ok(ctx, req, 201);
            let id = item["id"]
                .as_str()
                .expect("a created item has an id")
                .to_owned();
            a.owned.entry(create.path.clone()).or_default().push(id);
        }
    }
    a
}

/// The victim, whose data the bad requests aim at, and another user.
pub struct World {
    pub me: Account,
    pub other: Account,
    /// A valid identity that is never registered (bad register bodies use it).
    pub fresh: (String, String, String),
    /// The served document.
    pub api: Arc<Api>,
}

impl World {
    pub fn new(ctx: &Ctx) -> World {
        World {
            me: account(ctx, 3),
            other: account(ctx, 2),
            fresh: fresh_identity(),
            api: ctx.api.clone(),
        }
    }

    /// `op`'s path with its parameter naming something of `who`'s, and whether another
    /// user's value must be 404; `None` for a path without parameters.
    pub fn path_for(&self, op: &Op, who: &Account) -> Option<(String, bool)> {
        let [param] = op.path_params.as_slice() else {
            assert!(
                op.path_params.is_empty(),
                "{}: the hostile suite fills one path parameter",
                op.name()
            );
            return None;
        };
        let template = format!("{{{}}}", param.name);
        let collection = op.path.strip_suffix(&format!("/{template}"));
        let (value, owned) = match collection.filter(|c| item_path(c) == op.path) {
            Some(c) if !who.items(c).is_empty() => (who.items(c)[0].clone(), true),
            _ => known::path_value(who, &op.path).unwrap_or_else(|| {
                panic!("{}: no value for {template}: not a collection's item, and not in known::path_value", op.name())
            }),
        };
        Some((op.path.replace(&template, &value), owned))
    }

    /// `op`'s path for the victim, parameters filled.
    pub fn path(&self, op: &Op) -> String {
        self.path_for(op, &self.me)
            .map_or_else(|| op.path.clone(), |(p, _)| p)
    }

    /// Both users' snapshots.
    pub fn snapshot(&self, ctx: &Ctx) -> (Snapshot, Snapshot) {
        (snapshot(ctx, &self.me), snapshot(ctx, &self.other))
    }

    /// What changed since `before` (nothing, one hopes), and whether the fresh identity
    /// got registered.
    pub fn changes(&self, ctx: &Ctx, before: &(Snapshot, Snapshot)) -> Vec<String> {
        let after = self.snapshot(ctx);
        let mut changes = Vec::new();
        if before.0 != after.0 {
            changes.push(format!(
                "the victim's data changed:\n  before {:?}\n  after  {:?}",
                before.0, after.0
            ));
        }
        if before.1 != after.1 {
            changes.push(format!(
                "the other user's data changed:\n  before {:?}\n  after  {:?}",
                before.1, after.1
            ));
        }
        let (u, e, _) = &self.fresh;
        let (name, address) = (Username::parse(u).unwrap(), Email::parse(e).unwrap());
        let by_name = ctx.rt.block_on(ctx.users.find_by_username(&name)).unwrap();
        let by_email = ctx.rt.block_on(ctx.users.find_by_email(&address)).unwrap();
        if by_name.is_some() || by_email.is_some() {
            changes.push(format!("a bad register request created the user {u} / {e}"));
        }
        changes
    }
}

/// Everything a user owns, as the API shows it: every authenticated `GET` without path
/// parameters the document lists (every page of a list), and `GET /api/users/me`.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub lists: BTreeMap<String, Vec<Value>>,
}

/// The account itself, snapshot even if the document stopped listing it.
const ME: &str = "/api/users/me";

/// The user's view of every authenticated `GET` without path parameters, and of [`ME`]. An
/// answer that is not a 200 is recorded as `{"status": n}` (so a deleted victim shows as a
/// change, not as a panic that hides the table's failures).
pub fn snapshot(ctx: &Ctx, a: &Account) -> Snapshot {
    let get = |path: &str| {
        let r = ctx.send(&Req::new("GET", path.to_owned()).bearer(Some(&a.access)));
        if r.status == 200 {
            r.json()
        } else {
            json!({ "status": r.status, "body": r.text() })
        }
    };
    let mut lists = BTreeMap::new();
    let views = ctx
        .api
        .ops
        .iter()
        .filter(|o| o.method == "GET" && o.secured && o.path_params.is_empty());
    for op in views.filter(|o| !crate::known::HISTORIES.contains(&o.path.as_str())) {
        if !op.paged() {
            lists.insert(op.path.clone(), vec![get(&op.path)]);
            continue;
        }
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page = match &cursor {
                Some(c) => get(&format!("{}?limit=2&cursor={c}", op.path)),
                None => get(&format!("{}?limit=2", op.path)),
            };
            match page["items"].as_array() {
                Some(page_items) => items.extend(page_items.iter().cloned()),
                None => items.push(page.clone()),
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        lists.insert(op.path.clone(), items);
    }
    lists.entry(ME.to_owned()).or_insert_with(|| vec![get(ME)]);
    Snapshot { lists }
}

/// What a bad request must get.
#[derive(Debug, Clone)]
pub enum Expect {
    /// This status and code.
    Problem(u16, &'static str),
    /// 422 `validation_failed` naming this field.
    Invalid(String),
    /// One of these.
    OneOf(Vec<(u16, &'static str)>),
    /// Any 4xx problem.
    Any4xx,
    /// Not HTTP at all (a byte a request line or a header may not hold): actix-http
    /// refuses it with a bare 400 before the app sees it. A 4xx problem is fine too.
    Protocol,
    /// The inner answer, or 403 `forbidden`: a route for a role the victim lacks refuses
    /// it once the request parses, before the checks that would answer otherwise.
    OrForbidden(Box<Expect>),
}

/// `Expect::Invalid(field)`.
pub fn invalid(field: &str) -> Expect {
    Expect::Invalid(field.to_owned())
}

/// Checks a bad request's answer: a 4xx `application/problem+json` whose `status` member
/// matches, with a `code`, a `title` and a `detail`, as `expect` says; a token error
/// carries a Bearer challenge. Returns what is wrong.
pub fn check_bad(r: &Resp, expect: &Expect) -> Result<(), String> {
    if let Expect::OrForbidden(inner) = expect {
        let forbidden = r.status == 403
            && r.media_type() == "application/problem+json"
            && r.json()["code"] == "forbidden";
        return if forbidden {
            Ok(())
        } else {
            check_bad(r, inner)
        };
    }
    let body = r.json();
    let summary = || format!("{} {} {}", r.status, r.media_type(), r.text());
    if matches!(expect, Expect::Protocol) && r.status == 400 {
        return Ok(());
    }
    if !(400..500).contains(&r.status) {
        return Err(format!("not a 4xx: {}", summary()));
    }
    if r.media_type() != "application/problem+json" {
        return Err(format!("not problem+json: {}", summary()));
    }
    let code = body["code"].as_str().unwrap_or("");
    if body["status"] != r.status
        || code.is_empty()
        || body["title"].as_str().is_none_or(|t| t.is_empty())
        || !body["detail"].is_string()
    {
        return Err(format!("not a well-formed problem: {}", summary()));
    }
    if code.starts_with("token_")
        && !r
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer"))
    {
        return Err(format!(
            "a {code} without a Bearer challenge: {}",
            summary()
        ));
    }
    let fits = match expect {
        Expect::Problem(s, c) => r.status == *s && code == *c,
        Expect::Invalid(field) => {
            r.status == 422
                && code == "validation_failed"
                && body["errors"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|e| e["field"] == field.as_str()))
        }
        Expect::OneOf(options) => options.iter().any(|(s, c)| r.status == *s && code == *c),
        Expect::Any4xx | Expect::Protocol | Expect::OrForbidden(_) => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, got {}", summary()))
    }
}

/// Sends every bad request, checks each answer, then checks the world is unchanged.
/// Panics with every failure listed.
pub fn run_table(ctx: &Ctx, group: &'static str, world: &World, table: Vec<(Req, Expect)>) {
    ctx.count_bad(group, table.iter().map(|(req, _)| req));
    let before = world.snapshot(ctx);
    let mut failures = Vec::new();
    for (req, expect) in &table {
        let widened;
        let expect = if crate::known::for_a_role(req) {
            widened = Expect::OrForbidden(Box::new(expect.clone()));
            &widened
        } else {
            expect
        };
        match crate::client::send(&ctx.addr, req) {
            Ok(r) => {
                if let Err(e) = check_bad(&r, expect) {
                    failures.push(format!("{}: {e}", req.what));
                }
            }
            Err(e) => failures.push(format!("{}: no answer: {e}", req.what)),
        }
    }
    let changes = world.changes(ctx, &before);
    assert!(
        failures.is_empty() && changes.is_empty(),
        "{} of {} bad requests were not answered as they should be:\n{}\n{}",
        failures.len(),
        table.len(),
        failures.join("\n"),
        changes.join("\n")
    );
}
