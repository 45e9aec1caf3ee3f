//! Passkeys, with a software authenticator (1Password's `passkey` crate) in the browser's
//! place: registration on the password, a usernameless sign-in that counts as two
//! factors, and every replay or forgery refused with one answer.

use std::sync::Arc;

use tokio::sync::Mutex;

use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde_json::{json, Value};

use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    a_passkey_registered_on_the_password_signs_in_as_two_factors,
    a_replayed_assertion_and_a_used_challenge_are_refused_alike,
    of_twenty_concurrent_uses_of_one_challenge_one_signs_in,
    an_assertion_from_another_origin_is_refused,
    a_deleted_passkey_signs_in_no_more_and_registration_needs_the_password,
    an_account_holds_at_most_passkeys_max_passkeys,
    a_ban_refuses_passkey_sign_ins_and_an_admin_reset_removes_the_passkeys,
    logout_all_ends_a_passkey_session_like_any_other,
    a_signature_counter_gone_backwards_is_refused_and_recorded,
    a_synced_passkey_whose_backup_flags_turn_on_signs_in_and_its_flags_are_stored,
    a_challenge_older_than_the_timeout_is_refused_like_a_replay,
];

/// `WEBAUTHN_TIMEOUT` of the limited app (the others keep the 5-minute default).
pub const SHORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A user who verifies every request (a PIN, a fingerprint).
struct Verifying;

#[async_trait::async_trait]
impl UserValidationMethod for Verifying {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        _presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence: true,
            verification: true,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

/// A browser with one software authenticator holding at most one passkey.
struct Browser {
    client: Mutex<
        Client<Option<Passkey>, Verifying, RustCryptoBackend, public_suffix::PublicSuffixList, ()>,
    >,
}

impl Browser {
    fn new() -> Arc<Self> {
        Self::made(false)
    }

    /// One whose authenticator keeps a signature counter (a security key, not a synced
    /// passkey).
    fn with_counter() -> Arc<Self> {
        Self::made(true)
    }

    fn made(counter: bool) -> Arc<Self> {
        let mut authenticator =
            Authenticator::new(Aaguid::new_empty(), None, Verifying, RustCryptoBackend);
        authenticator.set_make_credentials_with_signature_counter(counter);
        Arc::new(Self {
            client: Mutex::new(Client::new(authenticator).allows_insecure_localhost(true)),
        })
    }
}

/// A credential as a browser's `toJSON()` sends it: every byte buffer in base64url (the
/// authenticator's types serialise them as arrays of numbers).
fn as_json(v: Value) -> Value {
    use base64::Engine;
    match v {
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|i| i.as_u64().is_some_and(|b| b < 256)) =>
        {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|i| i.as_u64())
                .map(|b| b as u8)
                .collect();
            Value::String(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_json).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, as_json(v))).collect())
        }
        other => other,
    }
}

/// The origin a page served by `app` at `http://localhost:<port>` has.
fn origin_of(app: &str) -> url::Url {
    let port = app.rsplit(':').next().unwrap();
    url::Url::parse(&format!("http://localhost:{port}")).unwrap()
}

fn create(ctx: &Ctx, browser: &Browser, origin: &url::Url, options: &Value) -> Value {
    let options: CredentialCreationOptions = serde_json::from_value(options.clone()).unwrap();
    let created = ctx.rt.block_on(async {
        let mut client = browser.client.lock().await;
        client.register(origin, options, DefaultClientData).await
    });
    as_json(serde_json::to_value(created.expect("the authenticator made a credential")).unwrap())
}

fn get(ctx: &Ctx, browser: &Browser, origin: &url::Url, options: &Value) -> Value {
    let mut options = options.clone();
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    let options: CredentialRequestOptions = serde_json::from_value(options).unwrap();
    let asserted = ctx.rt.block_on(async {
        let mut client = browser.client.lock().await;
        client
            .authenticate(origin, options, DefaultClientData)
            .await
    });
    as_json(serde_json::to_value(asserted.expect("the authenticator signed")).unwrap())
}

/// The assertion with its backup flags (BE, BS) cleared and its signature left as it was.
fn with_backup_flags_cleared(credential: &Value) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let data = credential["response"]["authenticatorData"]
        .as_str()
        .unwrap();
    let mut data = B64.decode(data).unwrap();
    data[32] &= !((1 << 3) | (1 << 4));
    let mut out = credential.clone();
    out["response"]["authenticatorData"] = B64.encode(&data).into();
    out
}

/// Rewrites the stored row of the passkey `added` of the holder of `access`, as if it had
/// been stored otherwise: `change` edits the credential as webauthn-rs serialised it.
fn rewrite_stored(ctx: &Ctx, access: &str, added: &Value, change: impl FnOnce(&mut Value)) {
    let owner = ctx.api().me(access).ok(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let repo = repos::PasskeyRepo::new(ctx.database.clone());
    let rows = ctx.rt.block_on(repo.for_user(&owner)).unwrap();
    let row = rows
        .iter()
        .find(|r| Some(r.id.as_str()) == added["id"].as_str())
        .unwrap();
    let mut stored: Value = serde_json::from_str(&row.credential).unwrap();
    change(&mut stored);
    let flag = |k: &str| stored["cred"][k].as_bool().unwrap();
    let rewritten = repos::PasskeyUse {
        backup_eligible: flag("backup_eligible"),
        backed_up: flag("backup_state"),
        credential: stored.to_string(),
        at: repos::now_utc(),
    };
    ctx.rt.block_on(repo.used(&row.id, rewritten)).unwrap();
}

/// Registers a passkey for a verified user of the main app; returns the user's token,
/// the browser holding the passkey, and the passkey as listed.
fn registered(ctx: &Ctx) -> (crate::User, String, Arc<Browser>, Value) {
    registered_with(ctx, Browser::new())
}

fn registered_with(ctx: &Ctx, browser: Arc<Browser>) -> (crate::User, String, Arc<Browser>, Value) {
    let api = ctx.api();
    let (user, tokens) = api.verified_user_with_session();
    let started = api
        .post(
            "/api/users/me/passkeys/registration",
            Some(&tokens.access),
            json!({ "password": user.password }),
        )
        .ok(200);
    let credential = create(ctx, &browser, &origin_of(&ctx.main), &started["options"]);
    let added = api
        .post(
            "/api/users/me/passkeys",
            Some(&tokens.access),
            json!({ "challenge_id": started["challenge_id"], "credential": credential, "name": "laptop" }),
        )
        .ok(201);
    (user, tokens.access, browser, added)
}

/// Options, then an assertion for them: `(challenge_id, credential)`.
fn assertion(ctx: &Ctx, browser: &Browser, origin: &url::Url) -> (Value, Value) {
    assertion_on(ctx, &ctx.main, browser, origin)
}

/// [`assertion`], with the options from the app at `app`.
fn assertion_on(ctx: &Ctx, app: &str, browser: &Browser, origin: &url::Url) -> (Value, Value) {
    let options = ctx
        .on(app)
        .post("/api/auth/passkey/options", None, json!({}))
        .ok(200);
    let credential = get(ctx, browser, origin, &options["options"]);
    (options["challenge_id"].clone(), credential)
}

fn sign_in(ctx: &Ctx, challenge_id: &Value, credential: &Value) -> crate::Resp {
    sign_in_on(ctx, &ctx.main, challenge_id, credential)
}

fn sign_in_on(ctx: &Ctx, app: &str, challenge_id: &Value, credential: &Value) -> crate::Resp {
    ctx.on(app).post(
        "/api/auth/passkey",
        None,
        json!({ "challenge_id": challenge_id, "credential": credential }),
    )
}

fn a_passkey_registered_on_the_password_signs_in_as_two_factors(ctx: &Ctx) {
    let (user, access, browser, added) = registered(ctx);
    assert_eq!(added["name"], "laptop");
    assert!(added["last_used_at"].is_null(), "{added}");
    let listed = ctx
        .api()
        .get("/api/users/me/passkeys", Some(&access))
        .ok(200);
    assert_eq!(listed[0]["id"], added["id"]);
    let (challenge, credential) = assertion(ctx, &browser, &origin_of(&ctx.main));
    let pair = sign_in(ctx, &challenge, &credential).ok(200);
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let me = ctx.api().me(&token).ok(200);
    assert_eq!(me["username"], user.username.as_str());
    let sessions = ctx.api().get("/api/auth/sessions", Some(&token)).ok(200);
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .cloned()
        .unwrap_or_default();
    assert_eq!(current["second_factor"], true, "{sessions}");
    assert_eq!(current["method"], "passkey", "{sessions}");
    let used = ctx
        .api()
        .get("/api/users/me/passkeys", Some(&access))
        .ok(200);
    assert!(used[0]["last_used_at"].is_string(), "{used}");
}

fn a_replayed_assertion_and_a_used_challenge_are_refused_alike(ctx: &Ctx) {
    let (_, _, browser, _) = registered(ctx);
    let origin = origin_of(&ctx.main);
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
    let replay = sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
    // A fresh assertion presented under the challenge already used: the same answer.
    let (_, fresh) = assertion(ctx, &browser, &origin);
    let reused = sign_in(ctx, &challenge, &fresh).problem(401, "invalid_passkey");
    assert_eq!(replay["detail"], reused["detail"]);
    let made_up = sign_in(ctx, &json!("0123456789abcdef0123456789abcdef"), &fresh)
        .problem(401, "invalid_passkey");
    assert_eq!(made_up["detail"], replay["detail"]);
}

fn of_twenty_concurrent_uses_of_one_challenge_one_signs_in(ctx: &Ctx) {
    let (_, _, browser, _) = registered(ctx);
    let (challenge, credential) = assertion(ctx, &browser, &origin_of(&ctx.main));
    let url = format!("{}/api/auth/passkey", ctx.main);
    let body = json!({ "challenge_id": challenge, "credential": credential });
    let statuses = ctx.rt.block_on(async {
        let tries = (0..20).map(|_| {
            let (client, url, body) = (ctx.client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        });
        let mut statuses = Vec::new();
        for t in tries.collect::<Vec<_>>() {
            statuses.push(t.await.unwrap().unwrap());
        }
        statuses
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

fn an_assertion_from_another_origin_is_refused(ctx: &Ctx) {
    let (_, _, browser, _) = registered(ctx);
    // A page on a subdomain the relying party does not list (the browser lets it use the
    // RP id `localhost`, a suffix of its own): the signature is good, the origin is not.
    let port = ctx.main.rsplit(':').next().unwrap();
    let elsewhere = url::Url::parse(&format!("http://evil.localhost:{port}")).unwrap();
    let (challenge, credential) = assertion(ctx, &browser, &elsewhere);
    sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
    // The same passkey from the right origin still works: only the origin was wrong.
    let (challenge, credential) = assertion(ctx, &browser, &origin_of(&ctx.main));
    sign_in(ctx, &challenge, &credential).ok(200);
}

fn a_deleted_passkey_signs_in_no_more_and_registration_needs_the_password(ctx: &Ctx) {
    let (user, access, browser, added) = registered(ctx);
    let api = ctx.api();
    api.post(
        "/api/users/me/passkeys/registration",
        Some(&access),
        json!({ "password": "not the password at all" }),
    )
    .problem(401, "invalid_credentials");
    let path = format!("/api/users/me/passkeys/{}", added["id"].as_str().unwrap());
    api.delete_with(&path, Some(&access), json!({ "password": user.password }))
        .no_content();
    let history = api
        .get("/api/users/me/security-events?limit=100", Some(&access))
        .ok(200)
        .to_string();
    assert!(
        history.contains("passkey_added") && history.contains("passkey_removed"),
        "{history}"
    );
    // The owner is told of both, by mail (written a moment after the answers).
    let told = |subject: &str| strata_e2e::mail_files::arrives(&ctx.mail_dir, &user.email, subject);
    assert!(
        told("A passkey was added"),
        "no mail about the added passkey"
    );
    assert!(
        told("A passkey was removed"),
        "no mail about the removed passkey"
    );
    let (challenge, credential) = assertion(ctx, &browser, &origin_of(&ctx.main));
    sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
}

/// Registers one more passkey (a browser of its own) for the holder of `access`.
fn add_passkey(ctx: &Ctx, access: &str, password: &str) -> crate::Resp {
    let api = ctx.api();
    let started = api.post(
        "/api/users/me/passkeys/registration",
        Some(access),
        json!({ "password": password }),
    );
    if started.status != 200 {
        return started;
    }
    let started = started.json();
    let credential = create(
        ctx,
        &Browser::new(),
        &origin_of(&ctx.main),
        &started["options"],
    );
    api.post(
        "/api/users/me/passkeys",
        Some(access),
        json!({ "challenge_id": started["challenge_id"], "credential": credential, "name": "another" }),
    )
}

fn an_account_holds_at_most_passkeys_max_passkeys(ctx: &Ctx) {
    let (user, access, _, _) = registered(ctx);
    for _ in 1..10 {
        add_passkey(ctx, &access, &user.password).ok(201);
    }
    add_passkey(ctx, &access, &user.password).problem(409, "passkey_limit");
    let listed = ctx
        .api()
        .get("/api/users/me/passkeys", Some(&access))
        .ok(200);
    assert_eq!(listed.as_array().unwrap().len(), 10);
}

fn a_ban_refuses_passkey_sign_ins_and_an_admin_reset_removes_the_passkeys(ctx: &Ctx) {
    let (user, _, browser, _) = registered(ctx);
    let (_, boss) = crate::admin::admin(ctx);
    let api = ctx.api();
    let origin = origin_of(&ctx.main);
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    let pair = sign_in(ctx, &challenge, &credential).ok(200);
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let target = format!("/api/admin/users/{}", user.id);
    api.post(
        &format!("{target}/ban"),
        Some(&boss.access),
        json!({ "until": null, "reason": "testing" }),
    )
    .ok(200);
    api.me(&access).unauthorized("token_revoked");
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).problem(403, "account_banned");
    api.delete_with(&format!("{target}/ban"), Some(&boss.access), json!({}));
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
    api.delete_with(&format!("{target}/mfa"), Some(&boss.access), json!({}))
        .no_content();
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
}

fn logout_all_ends_a_passkey_session_like_any_other(ctx: &Ctx) {
    let (_, access, browser, _) = registered(ctx);
    let (challenge, credential) = assertion(ctx, &browser, &origin_of(&ctx.main));
    let pair = sign_in(ctx, &challenge, &credential).ok(200);
    let passkey_access = pair["access_token"].as_str().unwrap().to_owned();
    ctx.api()
        .post("/api/auth/logout-all", Some(&access), json!({}))
        .no_content();
    ctx.api().me(&passkey_access).unauthorized("token_revoked");
}

fn a_signature_counter_gone_backwards_is_refused_and_recorded(ctx: &Ctx) {
    let (_, access, browser, added) = registered_with(ctx, Browser::with_counter());
    let origin = origin_of(&ctx.main);
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
    // The stored counter jumps ahead, as if a clone of the authenticator had been used.
    rewrite_stored(ctx, &access, &added, |stored| {
        assert!(stored["cred"]["counter"].as_u64() >= Some(1), "{stored}");
        stored["cred"]["counter"] = json!(1000);
    });
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
    let history = ctx
        .api()
        .get("/api/users/me/security-events?limit=100", Some(&access))
        .ok(200)
        .to_string();
    assert!(history.contains("passkey_counter_regressed"), "{history}");
}

fn a_synced_passkey_whose_backup_flags_turn_on_signs_in_and_its_flags_are_stored(ctx: &Ctx) {
    let (_, access, browser, added) = registered(ctx);
    // Stored as a device-bound passkey is (neither backup flag); the software authenticator
    // now reports both, as one synced since its registration does.
    rewrite_stored(ctx, &access, &added, |stored| {
        stored["cred"]["backup_eligible"] = json!(false);
        stored["cred"]["backup_state"] = json!(false);
    });
    let listed = ctx
        .api()
        .get("/api/users/me/passkeys", Some(&access))
        .ok(200);
    assert_eq!(listed[0]["backup_eligible"], false, "{listed}");
    let origin = origin_of(&ctx.main);
    // The flags are signed: changed without the key, the assertion is a forgery.
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    let forged = with_backup_flags_cleared(&credential);
    sign_in(ctx, &challenge, &forged).problem(401, "invalid_passkey");
    // Signed by the passkey's own key (webauthn-rs alone would refuse it unchecked).
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
    let listed = ctx
        .api()
        .get("/api/users/me/passkeys", Some(&access))
        .ok(200);
    assert_eq!(listed[0]["backup_eligible"], true, "{listed}");
    assert_eq!(listed[0]["backed_up"], true, "{listed}");
    // The same passkey signs in again with its new flags stored.
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
}

fn a_challenge_older_than_the_timeout_is_refused_like_a_replay(ctx: &Ctx) {
    let (_, _, browser, _) = registered(ctx);
    let origin = origin_of(&ctx.main);
    let (challenge, credential) = assertion(ctx, &browser, &origin);
    sign_in(ctx, &challenge, &credential).ok(200);
    let replay = sign_in(ctx, &challenge, &credential).problem(401, "invalid_passkey");
    // On the app with a short timeout: a good assertion, answered too late.
    let limited = ctx.limited.as_str();
    let (challenge, credential) = assertion_on(ctx, limited, &browser, &origin);
    std::thread::sleep(SHORT_TIMEOUT + std::time::Duration::from_secs(1));
    let stale = sign_in_on(ctx, limited, &challenge, &credential).problem(401, "invalid_passkey");
    assert_eq!(
        stale["detail"], replay["detail"],
        "a stale challenge answers unlike a replay"
    );
    // Answered in time, the same passkey signs in there: only the age was wrong.
    let (challenge, credential) = assertion_on(ctx, limited, &browser, &origin);
    sign_in_on(ctx, limited, &challenge, &credential).ok(200);
}
