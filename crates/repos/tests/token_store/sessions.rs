//! Sessions: stored at login, authenticated by their current access token, listed.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        ping_answers,
        created_session_authenticates_with_its_access_jti,
        wrong_jti_does_not_authenticate,
        unknown_session_does_not_authenticate,
        session_past_its_refresh_expiry_is_gone,
        list_returns_the_users_live_sessions_oldest_first,
        list_omits_revoked_sessions,
        list_shows_the_last_refresh_and_keeps_the_end,
    ]
}

pub(crate) async fn ping_answers(store: AnyTokenStore) {
    store.ping().await.expect("ping");
}

pub(crate) async fn created_session_authenticates_with_its_access_jti(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        Some(s.user_id.clone())
    );
    // Authenticating changes nothing.
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, Some(s.user_id));
}

pub(crate) async fn wrong_jti_does_not_authenticate(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(auth(&store, &s, &id()).await, None);
    assert_eq!(
        auth(&store, &s, &s.pair.refresh_jti).await,
        None,
        "a refresh jti is not an access jti"
    );
    assert_eq!(auth(&store, &s, "").await, None);
    // Another session's access jti does not open this one.
    let other = logged_in(&store).await;
    assert_eq!(auth(&store, &s, &other.pair.access_jti).await, None);
}

pub(crate) async fn unknown_session_does_not_authenticate(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert_eq!(auth(&store, &login(&id()), &s.pair.access_jti).await, None);
    assert_eq!(auth(&store, &login(&id()), &id()).await, None);
}

pub(crate) async fn session_past_its_refresh_expiry_is_gone(store: AnyTokenStore) {
    let now = now_s();
    let mut s = login_at(&id(), now - 3600);
    s.pair.access_expires_at = now - 1800;
    s.pair.refresh_expires_at = now - 10;
    create(&store, &s).await;
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert!(list(&store, &s.user_id).await.is_empty());
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}

pub(crate) async fn list_returns_the_users_live_sessions_oldest_first(store: AnyTokenStore) {
    let user = id();
    let now = now_s();
    let oldest = login_at(&user, now - 300);
    let mut middle = login_at(&user, now - 200);
    middle.user_agent = Some("curl/8.5".into());
    middle.ip = Some("2001:db8::1".into());
    middle.second_factor = true;
    middle.method = "passkey".into();
    let mut newest = login_at(&user, now - 100);
    newest.user_agent = None;
    newest.ip = None;
    // Stored out of order on purpose.
    for s in [&newest, &oldest, &middle] {
        create(&store, s).await;
    }
    let stranger = logged_in(&store).await;

    let listed = list(&store, &user).await;
    let expected: Vec<SessionInfo> = [&oldest, &middle, &newest]
        .iter()
        .map(|s| SessionInfo {
            session_id: s.session_id.clone(),
            user_id: user.clone(),
            created_at: s.pair.issued_at,
            refreshed_at: s.pair.issued_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            second_factor: s.second_factor,
            method: Some(s.method.clone()),
        })
        .collect();
    assert_eq!(listed, expected);
    assert!(!ids(&listed).contains(&stranger.session_id.as_str()));
    assert!(
        list(&store, &id()).await.is_empty(),
        "a user with no sessions"
    );
}

pub(crate) async fn list_omits_revoked_sessions(store: AnyTokenStore) {
    let user = id();
    let now = now_s();
    let a = login_at(&user, now - 30);
    let b = login_at(&user, now - 20);
    let c = login_at(&user, now - 10);
    for s in [&a, &b, &c] {
        create(&store, s).await;
    }
    assert!(store.revoke(&user, &b.session_id).await.expect("revoke"));
    assert_eq!(
        ids(&list(&store, &user).await),
        vec![a.session_id.as_str(), c.session_id.as_str()]
    );
    // A session revoked by reuse disappears too.
    let r1 = refresh(&c, &c.pair.refresh_jti, now_ms(), Duration::ZERO);
    rotated(&store, &r1).await;
    let replay = refresh(&c, &c.pair.refresh_jti, now_ms() + 1000, Duration::ZERO);
    assert!(matches!(
        rotate(&store, &replay).await,
        Rotation::Reused { .. }
    ));
    assert_eq!(ids(&list(&store, &user).await), vec![a.session_id.as_str()]);
}

pub(crate) async fn list_shows_the_last_refresh_and_keeps_the_end(store: AnyTokenStore) {
    let user = id();
    let s = login_at(&user, now_s() - 60);
    create(&store, &s).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    let listed = list(&store, &user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].created_at, s.pair.issued_at);
    assert_eq!(listed[0].refreshed_at, pair.issued_at);
    assert_eq!(listed[0].expires_at, s.expires_at, "the end never moves");
}
