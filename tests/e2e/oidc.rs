//! Sign-in with an OpenID Connect provider, against a real one (panva's oidc-provider,
//! tests/oidc) whose login form a cookie-keeping HTTP client fills in: new and returning
//! accounts, the linking rules that stop a takeover, and every tampered step refused
//! without tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};
use strata_e2e::oidc_provider::OidcProvider;

use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    a_new_account_signs_in_with_an_address_the_provider_verified,
    a_returning_identity_signs_in_to_the_same_account,
    an_address_of_a_local_account_is_never_linked_by_a_sign_in,
    an_address_the_provider_did_not_verify_makes_no_account,
    a_replayed_or_made_up_state_is_refused,
    a_callback_opened_in_another_browser_is_refused,
    every_tampered_id_token_is_refused_without_tokens,
    a_return_path_off_the_site_is_refused,
    a_provider_that_is_down_answers_503_on_its_routes_only,
    a_linked_provider_signs_in_to_the_account_until_unlinked,
    a_link_needs_the_password_and_a_provider_account_linked_elsewhere_is_refused,
    the_last_way_to_sign_in_cannot_be_unlinked,
    a_reset_by_mail_sets_a_password_and_unlinks_every_provider,
    a_second_factor_and_a_ban_apply_after_a_provider_sign_in,
    a_state_older_than_the_flow_timeout_is_refused,
];

/// The flow's cookie on a plain-http site (the test app's).
const FLOW_COOKIE: &str = "strata_oidc";

/// The provider the OpenID app signs in with, and one that never answers.
pub const PROVIDER: &str = "corp";
pub const DEAD: &str = "dead";

/// The app with `OIDC_PROVIDERS`, the same with a short `OIDC_FLOW_TIMEOUT`, and their
/// provider.
pub struct OidcCtx {
    pub app: String,
    pub quick: String,
    pub provider: std::sync::Arc<OidcProvider>,
}

/// The quick app's `OIDC_FLOW_TIMEOUT`.
pub const QUICK_FLOW: Duration = Duration::from_secs(2);

impl OidcCtx {
    /// Another handle on the same app and provider.
    pub fn clone_ctx(&self) -> Self {
        Self {
            app: self.app.clone(),
            quick: self.quick.clone(),
            provider: std::sync::Arc::clone(&self.provider),
        }
    }
}

/// The settings of the OpenID app serving at `app`, signing in with `provider` (and
/// `DEAD` at `dead_port`, where nothing listens).
pub fn env(app: &str, provider: &OidcProvider, dead_port: u16) -> Vec<(String, String)> {
    use strata_e2e::oidc_provider::{CLIENT_ID, CLIENT_SECRET};
    vec![
        ("PUBLIC_URL".into(), app.into()),
        ("OIDC_PROVIDERS".into(), format!("{PROVIDER},{DEAD}")),
        ("OIDC_CORP_ISSUER".into(), provider.issuer.clone()),
        ("OIDC_CORP_CLIENT_ID".into(), CLIENT_ID.into()),
        ("OIDC_CORP_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ("OIDC_CORP_DISPLAY_NAME".into(), "Corp SSO".into()),
        (
            "OIDC_DEAD_ISSUER".into(),
            format!("http://127.0.0.1:{dead_port}"),
        ),
        ("OIDC_DEAD_CLIENT_ID".into(), "nobody".into()),
        ("OIDC_DEAD_CLIENT_SECRET".into(), "nothing".into()),
        // Every case starts its flows from 127.0.0.1.
        ("OIDC_STARTS_PER_MINUTE".into(), "1000000".into()),
    ]
}

fn oidc(ctx: &Ctx) -> &OidcCtx {
    ctx.oidc
        .as_ref()
        .expect("the OpenID provider runs (tests/oidc, npm ci)")
}

/// A browser: follows no redirect by itself, keeps every cookie by name (strata's and the
/// provider's names differ).
struct Browser {
    client: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

/// An answer: its status and where it redirects.
struct Hop {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    fn send(&self, ctx: &Ctx, url: &str, form: Option<&[(&str, &str)]>) -> Hop {
        let cookie = {
            let jar = self.cookies.lock().unwrap();
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let request = match form {
            Some(form) => self.client.post(url).form(form),
            None => self.client.get(url),
        };
        let response = ctx
            .rt
            .block_on(request.header(COOKIE, cookie).send())
            .expect("the request is answered");
        let mut jar = self.cookies.lock().unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    jar.remove(name);
                } else {
                    jar.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let base = url::Url::parse(url).unwrap();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| base.join(l).unwrap().to_string());
        let status = response.status().as_u16();
        let body = ctx.rt.block_on(response.text()).unwrap_or_default();
        Hop {
            status,
            location,
            body,
        }
    }

    fn forget(&self, name: &str) {
        self.cookies.lock().unwrap().remove(name);
    }

    /// The flow's cookie, as this browser would send it to strata.
    fn flow_cookie(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.get(FLOW_COOKIE)
            .map(|v| format!("{FLOW_COOKIE}={v}"))
            .unwrap_or_default()
    }

    /// Trades a landing's code from this browser (its cookie with it).
    fn redeem(&self, ctx: &Ctx, code: &str) -> crate::Resp {
        let cookie = self.flow_cookie();
        ctx.on(&oidc(ctx).app).send(
            reqwest::Method::POST,
            "/api/auth/oidc/token",
            &[("cookie", cookie.as_str())],
            crate::http::Body::Json(json!({ "code": code })),
        )
    }

    /// Starts at strata and signs in at the provider as `login`; the URL the provider
    /// sends the browser back to strata with (not opened yet).
    fn to_callback(&self, ctx: &Ctx, login: &str, return_to: &str) -> String {
        self.to_callback_on(ctx, &oidc(ctx).app, login, return_to)
    }

    /// [`Browser::to_callback`], starting at the app at `app`.
    fn to_callback_on(&self, ctx: &Ctx, app: &str, login: &str, return_to: &str) -> String {
        let start = format!(
            "{app}/api/auth/oidc/{PROVIDER}/authorize?return_to={}",
            urlencode(return_to)
        );
        let hop = self.send(ctx, &start, None);
        assert_eq!(hop.status, 302, "authorize: {}", hop.body);
        self.through_provider(
            ctx,
            hop.location.expect("a redirect to the provider"),
            login,
        )
    }

    /// From the provider's authorization URL, signs in there as `login`; the URL it sends
    /// the browser back to strata with.
    fn through_provider(&self, ctx: &Ctx, authorization: String, login: &str) -> String {
        let o = oidc(ctx);
        let mut next = authorization;
        assert!(next.starts_with(&o.provider.issuer), "{next}");
        let callback = format!("/api/auth/oidc/{PROVIDER}/callback");
        for _ in 0..8 {
            if !next.starts_with(&o.provider.issuer) && next.contains(&callback) {
                return next;
            }
            let hop = if next.contains("/interaction/") {
                let form = self.send(ctx, &next, None);
                assert_eq!(form.status, 200, "the provider's form: {}", form.body);
                self.send(
                    ctx,
                    &next,
                    Some(&[("prompt", "login"), ("login", login), ("password", "any")]),
                )
            } else {
                self.send(ctx, &next, None)
            };
            next = hop
                .location
                .unwrap_or_else(|| panic!("the provider stopped at {next}: {}", hop.body));
        }
        panic!("the provider never sent the browser back: {next}");
    }

    /// Opens strata's callback; the page URL it lands on.
    fn land(&self, ctx: &Ctx, callback: &str) -> String {
        let hop = self.send(ctx, callback, None);
        assert_eq!(hop.status, 302, "callback: {}", hop.body);
        hop.location.expect("a redirect to the page")
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The fragment's `key` of a landing URL.
fn fragment(landing: &str, key: &str) -> Option<String> {
    let (_, fragment) = landing.split_once('#')?;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A provider account of the case's own: its login and address.
fn provider_account(ctx: &Ctx, verified: bool, tamper: Option<&str>) -> (String, String) {
    let login = format!("p{}", crate::http::random_suffix());
    let email = format!("{login}@idp.example");
    oidc(ctx)
        .provider
        .account(&login, &email, verified, tamper)
        .expect("a provider account");
    (login, email)
}

/// Signs in at the provider as `login` from a fresh browser: the page URL it lands on.
fn landing_of(ctx: &Ctx, login: &str) -> String {
    let browser = Browser::new();
    let callback = browser.to_callback(ctx, login, "/");
    browser.land(ctx, &callback)
}

/// Signs in at the provider as `login` and trades the landing's code: the answer.
fn sign_in(ctx: &Ctx, login: &str) -> crate::Resp {
    let browser = Browser::new();
    let callback = browser.to_callback(ctx, login, "/");
    let landing = browser.land(ctx, &callback);
    let code =
        fragment(&landing, "oidc_code").unwrap_or_else(|| panic!("no code on the page: {landing}"));
    assert!(
        !landing.split('#').next().unwrap().contains(&code),
        "the code is in the fragment only"
    );
    browser.redeem(ctx, &code)
}

/// Waits (bounded) until the app has its provider's discovery document.
pub fn provider_ready(ctx: &Ctx) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let listed = ctx
            .on(&oidc(ctx).app)
            .get("/api/auth/oidc/providers", None)
            .ok(200);
        if listed
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p["name"] == PROVIDER && p["up"] == true))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the app never reached its OpenID provider");
}

fn a_new_account_signs_in_with_an_address_the_provider_verified(ctx: &Ctx) {
    provider_ready(ctx);
    let (login, email) = provider_account(ctx, true, None);
    let pair = sign_in(ctx, &login).ok(200);
    let access = pair["access_token"].as_str().unwrap();
    let api = ctx.on(&oidc(ctx).app);
    let me = api.me(access).ok(200);
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["email_verified"], true);
    let sessions = api.get("/api/auth/sessions", Some(access)).ok(200);
    assert_eq!(sessions[0]["method"], "oidc", "{sessions}");
    // The address hears that a provider made an account for it.
    assert!(
        strata_e2e::mail_files::arrives(&ctx.mail_dir, &email, "was created for your address"),
        "no notice to {email}"
    );
    assert_eq!(sessions[0]["second_factor"], false, "{sessions}");
    // No password was set: none signs in.
    let username = me["username"].as_str().unwrap();
    api.post(
        "/api/auth/login",
        None,
        json!({ "username": username, "password": "a password nobody set" }),
    )
    .problem(401, "invalid_credentials");
}

fn a_returning_identity_signs_in_to_the_same_account(ctx: &Ctx) {
    provider_ready(ctx);
    let (login, _) = provider_account(ctx, true, None);
    let first = sign_in(ctx, &login).ok(200);
    let api = ctx.on(&oidc(ctx).app);
    let me = api.me(first["access_token"].as_str().unwrap()).ok(200);
    // The provider changes the address: the identity, not the address, finds the account.
    oidc(ctx)
        .provider
        .account(&login, &format!("{login}-new@idp.example"), true, None)
        .unwrap();
    let again = sign_in(ctx, &login).ok(200);
    let me_again = api.me(again["access_token"].as_str().unwrap()).ok(200);
    assert_eq!(me_again["id"], me["id"]);
    assert_eq!(
        me_again["email"], me["email"],
        "the account's address stays its own"
    );
}

fn an_address_of_a_local_account_is_never_linked_by_a_sign_in(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    let (victim, tokens) = api.verified_user_with_session();
    // The attacker's provider account claims the victim's address, verified.
    let login = format!("p{}", crate::http::random_suffix());
    oidc(ctx)
        .provider
        .account(&login, &victim.email, true, None)
        .unwrap();
    let landing = landing_of(ctx, &login);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_email_taken")
    );
    assert!(fragment(&landing, "oidc_code").is_none());
    // The victim's account is as it was, and its password still signs in.
    api.me(&tokens.access).ok(200);
    api.login(&victim);
}

fn an_address_the_provider_did_not_verify_makes_no_account(ctx: &Ctx) {
    provider_ready(ctx);
    let (login, email) = provider_account(ctx, false, None);
    let landing = landing_of(ctx, &login);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_email_unverified")
    );
    let found = ctx
        .rt
        .block_on(
            ctx.users
                .find_by_email(&services::domain::Email::parse(&email).unwrap()),
        )
        .unwrap();
    assert!(found.is_none(), "no account was made");
}

fn a_replayed_or_made_up_state_is_refused(ctx: &Ctx) {
    provider_ready(ctx);
    let (login, _) = provider_account(ctx, true, None);
    let browser = Browser::new();
    let callback = browser.to_callback(ctx, &login, "/");
    let landing = browser.land(ctx, &callback);
    assert!(fragment(&landing, "oidc_code").is_some(), "{landing}");
    // The same callback again, from the same browser (its cookie kept for the code): the
    // flow is spent.
    let replay = browser.land(ctx, &callback);
    assert_eq!(
        fragment(&replay, "oidc_error").as_deref(),
        Some("oidc_state_invalid")
    );
    let made_up = callback.replace("state=", "state=0123456789abcdef0123456789abcdef&x=");
    let landing = Browser::new().land(ctx, &made_up);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_state_invalid")
    );
    // A code is traded once, and only in the browser that went through the flow: handed
    // to another browser (a login CSRF through the code) it signs nobody in.
    let browser = Browser::new();
    let callback = browser.to_callback(ctx, &login, "/");
    let code = fragment(&browser.land(ctx, &callback), "oidc_code").unwrap();
    let elsewhere =
        ctx.on(&oidc(ctx).app)
            .post("/api/auth/oidc/token", None, json!({ "code": code }));
    elsewhere.problem(400, "invalid_or_expired_token");
    let callback = browser.to_callback(ctx, &login, "/");
    let code = fragment(&browser.land(ctx, &callback), "oidc_code").unwrap();
    browser.redeem(ctx, &code).ok(200);
    browser
        .redeem(ctx, &code)
        .problem(400, "invalid_or_expired_token");
}

fn a_callback_opened_in_another_browser_is_refused(ctx: &Ctx) {
    provider_ready(ctx);
    let (login, _) = provider_account(ctx, true, None);
    // The attacker signs in at the provider and hands the victim the callback link (a
    // login CSRF): the victim's browser has no flow cookie.
    let attacker = Browser::new();
    let callback = attacker.to_callback(ctx, &login, "/");
    let victim = Browser::new();
    let landing = victim.land(ctx, &callback);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_browser_mismatch")
    );
    // The flow is spent: not even the right browser can end it now.
    let after = attacker.land(ctx, &callback);
    assert_eq!(
        fragment(&after, "oidc_error").as_deref(),
        Some("oidc_state_invalid")
    );
    // A wrong cookie is no better than none.
    let forged = Browser::new();
    let callback = forged.to_callback(ctx, &login, "/");
    forged.forget("strata_oidc");
    forged.cookies.lock().unwrap().insert(
        "strata_oidc".into(),
        "0123456789abcdef0123456789abcdef".into(),
    );
    let landing = forged.land(ctx, &callback);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_browser_mismatch")
    );
}

fn every_tampered_id_token_is_refused_without_tokens(ctx: &Ctx) {
    provider_ready(ctx);
    for tamper in ["nonce", "aud", "iss", "azp", "exp", "iat", "sig", "kid"] {
        let (login, email) = provider_account(ctx, true, Some(tamper));
        let browser = Browser::new();
        let callback = browser.to_callback(ctx, &login, "/");
        let landing = browser.land(ctx, &callback);
        assert_eq!(
            fragment(&landing, "oidc_error").as_deref(),
            Some("oidc_id_token_invalid"),
            "{tamper}: {landing}"
        );
        let found = ctx
            .rt
            .block_on(
                ctx.users
                    .find_by_email(&services::domain::Email::parse(&email).unwrap()),
            )
            .unwrap();
        assert!(found.is_none(), "{tamper}: no account was made");
    }
    // The same provider with good tokens still works.
    let (login, _) = provider_account(ctx, true, None);
    sign_in(ctx, &login).ok(200);
}

fn a_return_path_off_the_site_is_refused(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "evil",
    ] {
        let path = format!(
            "/api/auth/oidc/{PROVIDER}/authorize?return_to={}",
            urlencode(bad)
        );
        api.get(&path, None).problem(422, "validation_failed");
    }
    // A path of the site comes back, with the code in the fragment.
    let (login, _) = provider_account(ctx, true, None);
    let browser = Browser::new();
    let callback = browser.to_callback(ctx, &login, "/tasks?view=all");
    let landing = browser.land(ctx, &callback);
    let page = format!("{}/tasks?view=all#oidc_code=", oidc(ctx).app);
    assert!(landing.starts_with(&page), "{landing}");
}

fn a_provider_that_is_down_answers_503_on_its_routes_only(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    api.get(&format!("/api/auth/oidc/{DEAD}/authorize"), None)
        .problem(503, "service_unavailable");
    api.get("/api/auth/oidc/nobody/authorize", None)
        .problem(404, "not_found");
    let ready = api.get("/ready", None).ok(200);
    assert_eq!(ready["status"], "degraded", "{ready}");
    let states: Value = ready["oidc_providers"].clone();
    assert!(
        states
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == DEAD && p["state"] == "down"),
        "{ready}"
    );
    // Everything else goes on: a password registration and login, the other provider.
    let (user, _) = api.verified_user_with_session();
    api.login(&user);
    let (login, _) = provider_account(ctx, true, None);
    sign_in(ctx, &login).ok(200);
}

/// Starts a link for the holder of `access` in `browser` (which gets the flow's cookie),
/// signs in at the provider as `login`, and lands: the page URL.
fn link(ctx: &Ctx, browser: &Browser, access: &str, password: Option<&str>, login: &str) -> String {
    let o = oidc(ctx);
    let started = ctx.rt.block_on(
        browser
            .client
            .post(format!("{}/api/users/me/identities/{PROVIDER}", o.app))
            .bearer_auth(access)
            .json(&json!({ "password": password }))
            .send(),
    );
    let started = started.expect("an answer");
    assert_eq!(started.status().as_u16(), 200);
    for set in started.headers().get_all(SET_COOKIE) {
        let pair = set.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        browser
            .cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }
    let body: Value = ctx.rt.block_on(started.json()).unwrap();
    let location = body["location"].as_str().unwrap().to_owned();
    let callback = browser.through_provider(ctx, location, login);
    browser.land(ctx, &callback)
}

fn a_linked_provider_signs_in_to_the_account_until_unlinked(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    let (user, tokens) = api.verified_user_with_session();
    let (login, _) = provider_account(ctx, true, None);
    let landing = link(
        ctx,
        &Browser::new(),
        &tokens.access,
        Some(&user.password),
        &login,
    );
    assert_eq!(
        fragment(&landing, "oidc_linked").as_deref(),
        Some(PROVIDER),
        "{landing}"
    );
    let listed = api
        .get("/api/users/me/identities", Some(&tokens.access))
        .ok(200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["provider"], PROVIDER);
    // The provider now signs in to this account.
    let pair = sign_in(ctx, &login).ok(200);
    let me = api.me(pair["access_token"].as_str().unwrap()).ok(200);
    assert_eq!(me["id"], user.id.as_str());
    assert!(
        strata_e2e::mail_files::arrives(&ctx.mail_dir, &user.email, "was linked"),
        "no notice of the link"
    );
    let history = api
        .get(
            "/api/users/me/security-events?limit=100",
            Some(&tokens.access),
        )
        .ok(200)
        .to_string();
    assert!(history.contains("identity_linked"), "{history}");
    // Unlinked (the password remains a way in): the provider no longer opens it.
    let path = format!(
        "/api/users/me/identities/{}",
        listed[0]["id"].as_str().unwrap()
    );
    api.delete(&path, Some(&tokens.access)).no_content();
    assert!(
        strata_e2e::mail_files::arrives(&ctx.mail_dir, &user.email, "was unlinked"),
        "no notice of the unlink"
    );
    let pair = sign_in(ctx, &login).ok(200);
    let someone = api.me(pair["access_token"].as_str().unwrap()).ok(200);
    assert_ne!(
        someone["id"],
        user.id.as_str(),
        "a new account, not the unlinked one"
    );
    api.delete(&path, Some(&tokens.access))
        .problem(404, "not_found");
}

fn a_link_needs_the_password_and_a_provider_account_linked_elsewhere_is_refused(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    let (_, tokens) = api.verified_user_with_session();
    api.post(
        &format!("/api/users/me/identities/{PROVIDER}"),
        Some(&tokens.access),
        json!({ "password": "not the password" }),
    )
    .problem(401, "invalid_credentials");
    api.post(
        &format!("/api/users/me/identities/{PROVIDER}"),
        Some(&tokens.access),
        json!({}),
    )
    .problem(401, "invalid_credentials");
    // The provider account already signs in to an account of its own.
    let (login, _) = provider_account(ctx, true, None);
    sign_in(ctx, &login).ok(200);
    let (user, tokens) = api.verified_user_with_session();
    let landing = link(
        ctx,
        &Browser::new(),
        &tokens.access,
        Some(&user.password),
        &login,
    );
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_identity_taken")
    );
    let listed = api
        .get("/api/users/me/identities", Some(&tokens.access))
        .ok(200);
    assert_eq!(listed, json!([]));
}

fn the_last_way_to_sign_in_cannot_be_unlinked(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    let (login, _) = provider_account(ctx, true, None);
    let pair = sign_in(ctx, &login).ok(200);
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let listed = api.get("/api/users/me/identities", Some(&access)).ok(200);
    let first = format!(
        "/api/users/me/identities/{}",
        listed[0]["id"].as_str().unwrap()
    );
    api.delete(&first, Some(&access))
        .problem(409, "last_sign_in_method");
    // A second provider account, linked on a fresh sign-in (no password to give): then
    // either may go, but not both.
    let (other, _) = provider_account(ctx, true, None);
    let landing = link(ctx, &Browser::new(), &access, None, &other);
    assert_eq!(
        fragment(&landing, "oidc_linked").as_deref(),
        Some(PROVIDER),
        "{landing}"
    );
    api.delete(&first, Some(&access)).no_content();
    let listed = api.get("/api/users/me/identities", Some(&access)).ok(200);
    let second = format!(
        "/api/users/me/identities/{}",
        listed[0]["id"].as_str().unwrap()
    );
    api.delete(&second, Some(&access))
        .problem(409, "last_sign_in_method");
    let me = api.me(&access).ok(200);
    let pair = sign_in(ctx, &other).ok(200);
    assert_eq!(
        api.me(pair["access_token"].as_str().unwrap()).ok(200)["id"],
        me["id"]
    );
}

fn a_reset_by_mail_sets_a_password_and_unlinks_every_provider(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    // A provider made the account (it vouched for the address); the mailbox's owner then
    // resets the password by mail.
    let (login, email) = provider_account(ctx, true, None);
    let pair = sign_in(ctx, &login).ok(200);
    let me = api.me(pair["access_token"].as_str().unwrap()).ok(200);
    api.post("/api/auth/password-reset", None, json!({ "email": email }))
        .ok(202);
    let token = strata_e2e::mail_files::token_for(&ctx.mail_dir, &email, "reset-password");
    let password = "the mailbox owner's own password";
    api.post(
        "/api/auth/password-reset/confirm",
        None,
        json!({ "token": token, "new_password": password }),
    )
    .no_content();
    let username = me["username"].as_str().unwrap();
    let tokens = api
        .post(
            "/api/auth/login",
            None,
            json!({ "username": username, "password": password }),
        )
        .ok(200);
    let listed = api
        .get("/api/users/me/identities", tokens["access_token"].as_str())
        .ok(200);
    assert_eq!(
        listed,
        json!([]),
        "the provider no longer opens the account"
    );
    let landing = landing_of(ctx, &login);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_email_taken")
    );
}

fn a_second_factor_and_a_ban_apply_after_a_provider_sign_in(ctx: &Ctx) {
    provider_ready(ctx);
    let api = ctx.on(&oidc(ctx).app);
    let e = crate::mfa::enrolled(&api);
    let (login, _) = provider_account(ctx, true, None);
    let landing = link(
        ctx,
        &Browser::new(),
        &e.tokens.access,
        Some(&e.user.password),
        &login,
    );
    assert_eq!(
        fragment(&landing, "oidc_linked").as_deref(),
        Some(PROVIDER),
        "{landing}"
    );
    // The provider's sign-in is the first step only, as a password is.
    let asked = sign_in(ctx, &login).problem(403, "mfa_required");
    assert!(asked.get("access_token").is_none(), "{asked}");
    let token = asked["mfa_token"].as_str().unwrap();
    crate::mfa::second_step(&api, token, &e.codes[0]).ok(200);
    // A ban refuses the provider's sign-in too.
    let (_, boss) = crate::admin::admin(ctx);
    ctx.api()
        .post(
            &format!("/api/admin/users/{}/ban", e.user.id),
            Some(&boss.access),
            json!({ "until": null, "reason": "testing" }),
        )
        .ok(200);
    sign_in(ctx, &login).problem(403, "account_banned");
}

fn a_state_older_than_the_flow_timeout_is_refused(ctx: &Ctx) {
    provider_ready(ctx);
    let quick = oidc(ctx).quick.clone();
    let (login, _) = provider_account(ctx, true, None);
    // Answered in time on the quick app, the flow ends with a code.
    let browser = Browser::new();
    let callback = browser.to_callback_on(ctx, &quick, &login, "/");
    assert!(fragment(&browser.land(ctx, &callback), "oidc_code").is_some());
    // Answered past its timeout, the same flow finds nothing.
    let browser = Browser::new();
    let callback = browser.to_callback_on(ctx, &quick, &login, "/");
    std::thread::sleep(QUICK_FLOW + Duration::from_secs(1));
    let landing = browser.land(ctx, &callback);
    assert_eq!(
        fragment(&landing, "oidc_error").as_deref(),
        Some("oidc_state_invalid")
    );
}
