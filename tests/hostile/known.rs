//! What the document cannot say, for the account routes only: bodies that work only with
//! the victim's own secrets, the answers that depend on them (a wrong password is 401, not
//! 422), and the path values that are not items of a collection. A new resource needs
//! nothing here: its bodies come from its schema's examples and its ids from its
//! collection.

use serde_json::{json, Value};

use crate::client::Req;
use crate::spec::Op;
use crate::world::{Account, Expect, World};

/// A body that would succeed as it is, for the routes whose members are secrets or names.
pub fn body(w: &World, op: &Op) -> Option<Value> {
    let me = &w.me;
    let (fu, fe, fp) = &w.fresh;
    Some(match (op.method, op.path.as_str()) {
        ("POST", "/api/auth/register") => json!({ "username": fu, "email": fe, "password": fp }),
        ("POST", "/api/auth/login") => json!({ "username": me.username, "password": me.password }),
        ("POST", "/api/auth/refresh") => json!({ "refresh_token": me.refresh }),
        ("PUT", "/api/users/me/password") => {
            json!({ "current_password": me.password, "new_password": "a brand new password" })
        }
        ("DELETE", "/api/users/me") => json!({ "password": me.password }),
        _ => return None,
    })
}

/// Routes that end the victim's account or sessions when a bad variant is wrongly
/// accepted: sent last, so that such a failure does not hide the others.
pub const LAST: &[&str] = &["PUT /api/users/me/password", "DELETE /api/users/me"];

/// What a string `value` in `field` gets where the answer is not the schema's: `Some(None)`
/// for a valid value, `None` when the schema decides.
pub fn expect(op: &Op, field: &str, value: &str) -> Option<Option<Expect>> {
    let credentials = Expect::Problem(401, "invalid_credentials");
    Some(Some(match (op.path.as_str(), field) {
        // NUL may also be refused as invalid input: no account can have it.
        ("/api/auth/login", "username" | "email") if value.contains('\0') => Expect::OneOf(vec![
            (401, "invalid_credentials"),
            (422, "validation_failed"),
        ]),
        ("/api/auth/login", _) => credentials,
        ("/api/users/me/password", "current_password") | ("/api/users/me", "password") => {
            credentials
        }
        ("/api/auth/refresh", _) => Expect::Problem(401, "token_invalid"),
        // A mailed token: anything but a live one is the same 400.
        ("/api/auth/verify-email" | "/api/auth/password-reset/confirm", "token") => {
            Expect::Problem(400, "invalid_or_expired_token")
        }
        _ => return None,
    }))
}

/// The value of an operation's path parameter that names something of `who`'s, for the
/// paths that are not items of a collection; and whether another user's value must be
/// 404 (profiles are public).
pub fn path_value(who: &Account, path: &str) -> Option<(String, bool)> {
    match path {
        "/api/auth/sessions/{id}" => Some((who.session_id.clone(), true)),
        "/api/users/{id}" => Some((who.id.clone(), false)),
        // A ceremony's items (see `CEREMONIES`): an id of nothing, in the right shape.
        "/api/users/me/passkeys/{id}" | "/api/users/me/identities/{id}" => {
            Some(("01900000-0000-7000-8000-000000000000".to_owned(), false))
        }
        // A provider's routes: the hostile app configures none, so any name is unknown.
        p if p.starts_with("/api/auth/oidc/{provider}") => Some(("nobody".to_owned(), false)),
        // Accounts as admins see them (the victim is no admin: 403 once the id parses).
        p if p.starts_with("/api/admin/users/{id}") => Some((who.id.clone(), false)),
        _ => None,
    }
}

/// Collections whose items a ceremony makes, never an example body (a passkey needs an
/// authenticator's signature): their bad bodies are still sent, but no items are made at
/// set-up and their item paths get made-up ids only.
pub const CEREMONIES: &[&str] = &["/api/users/me/passkeys", "/api/users/me/identities"];

/// Lists that record attempts (the audit trail): a refused request adds to them by design,
/// so they are not the victim's data that bad requests must leave alone.
pub const HISTORIES: &[&str] = &["/api/users/me/security-events", "/api/admin/audit"];

/// Whether `req` attacks a route for admins: the victim is none, so such a route refuses
/// it with 403 `forbidden` once it parses (its own checks are the e2e admin cases').
pub fn for_a_role(req: &Req) -> bool {
    let target = req
        .aimed_at
        .as_deref()
        .and_then(|op| op.split_once(' ').map(|(_, path)| path.as_bytes()))
        .unwrap_or(&req.target);
    target.starts_with(b"/api/admin/")
        || target == b"/api/admin/users"
        || target.starts_with(b"/api/admin?")
}
