//! `/api/auth/sessions`, and sessions shared by two instances of the service.

use serde_json::Value;

use crate::http::{assert_utc_time, str_of};
use crate::{Case, Ctx, Tokens};

pub const CASES: &[Case] = testkit::cases![
    list_shows_every_session_with_exactly_one_current,
    deleting_another_own_session_ends_it_at_once,
    deleting_an_unknown_or_another_users_session_is_404,
];

/// Only on the plans where two instances share Redis.
pub const TWO_INSTANCE_CASES: &[Case] =
    testkit::cases![two_instances_share_sessions_so_logout_on_one_is_seen_on_the_other_at_once];

fn list(ctx: &Ctx, t: &Tokens) -> Vec<Value> {
    let body = ctx.api().get("/api/auth/sessions", Some(&t.access)).ok(200);
    match body.as_array() {
        Some(a) => a.clone(),
        None => panic!("the sessions list is an array: {body}"),
    }
}

fn list_shows_every_session_with_exactly_one_current(ctx: &Ctx) {
    let api = ctx.api();
    let (user, one) = api.user_with_session();
    let two = api.login(&user);
    for (mine, other) in [(&one, &two), (&two, &one)] {
        let sessions = list(ctx, mine);
        assert_eq!(sessions.len(), 2, "both sessions: {sessions:?}");
        let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1, "exactly one current: {sessions:?}");
        assert_eq!(current[0]["id"], mine.session_id.as_str());
        let ids: Vec<String> = sessions.iter().map(|s| str_of(s, "id")).collect();
        assert!(ids.contains(&other.session_id), "{ids:?}");
        for s in &sessions {
            assert!(s["current"].is_boolean(), "{s}");
            for key in ["created_at", "refreshed_at", "expires_at"] {
                assert_utc_time(s, key);
            }
            let text = s.to_string();
            assert!(
                !text.contains(&mine.access) && !text.contains(&mine.refresh),
                "no tokens in the list"
            );
        }
    }
    // Another user sees only their own.
    let (_, stranger) = api.user_with_session();
    assert_eq!(list(ctx, &stranger).len(), 1);
}

fn deleting_another_own_session_ends_it_at_once(ctx: &Ctx) {
    let api = ctx.api();
    let (user, one) = api.user_with_session();
    let two = api.login(&user);
    api.delete(
        &format!("/api/auth/sessions/{}", two.session_id),
        Some(&one.access),
    )
    .no_content();
    api.me(&two.access).unauthorized("token_revoked");
    api.refresh(&two.refresh).unauthorized("token_revoked");
    api.me(&one.access).ok(200);
    let sessions = list(ctx, &one);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["id"], one.session_id.as_str());
    // Deleting it again: it no longer exists.
    api.delete(
        &format!("/api/auth/sessions/{}", two.session_id),
        Some(&one.access),
    )
    .problem(404, "not_found");
}

fn deleting_an_unknown_or_another_users_session_is_404(ctx: &Ctx) {
    let api = ctx.api();
    let (_, mine) = api.user_with_session();
    let (_, theirs) = api.user_with_session();
    let unknown = uuid::Uuid::now_v7().to_string();
    let missing = api.delete(&format!("/api/auth/sessions/{unknown}"), Some(&mine.access));
    missing.problem(404, "not_found");
    api.delete("/api/auth/sessions/garbage", Some(&mine.access))
        .problem(404, "not_found");
    let foreign = api.delete(
        &format!("/api/auth/sessions/{}", theirs.session_id),
        Some(&mine.access),
    );
    foreign.problem(404, "not_found");
    assert_eq!(
        foreign.text, missing.text,
        "another user's session looks exactly like a missing one"
    );
    // Their session is untouched.
    api.me(&theirs.access).ok(200);
}

fn two_instances_share_sessions_so_logout_on_one_is_seen_on_the_other_at_once(ctx: &Ctx) {
    let Some(second) = ctx.second.as_deref() else {
        panic!("this case needs a second instance sharing Redis");
    };
    let a = ctx.api();
    let b = ctx.on(second);

    // Logged in on A, known on B; logged out on B, gone on A.
    let (user, t) = a.user_with_session();
    b.me(&t.access).ok(200);
    b.post_empty("/api/auth/logout", Some(&t.access))
        .no_content();
    a.me(&t.access).unauthorized("token_revoked");
    a.refresh(&t.refresh).unauthorized("token_revoked");

    // Refreshed on B: the old access token fails on A, the new one works there.
    let t = a.login(&user);
    let rotated = Tokens::from_body(&b.refresh(&t.refresh).ok(200));
    a.me(&t.access).unauthorized("token_revoked");
    a.me(&rotated.access).ok(200);

    // logout-all on A ends B's view of the session too.
    a.post_empty("/api/auth/logout-all", Some(&rotated.access))
        .no_content();
    b.me(&rotated.access).unauthorized("token_revoked");
}
