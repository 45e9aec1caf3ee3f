//! Revocation: one session by its owner, or every session of a user, and the generation a
//! revoke-all moves on so that no login begun before it survives.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        owner_revokes_a_session_for_good,
        another_user_cannot_revoke_a_session,
        revoking_an_unknown_session_returns_false,
        revoke_all_deletes_every_session_but_keep,
        revoke_all_counts_only_live_sessions,
    ]
}

pub(crate) async fn owner_revokes_a_session_for_good(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert!(store
        .revoke(&s.user_id, &s.session_id)
        .await
        .expect("revoke"));
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
    assert!(
        !store
            .revoke(&s.user_id, &s.session_id)
            .await
            .expect("revoke again"),
        "already gone"
    );
    assert!(list(&store, &s.user_id).await.is_empty());
}

pub(crate) async fn another_user_cannot_revoke_a_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let intruder = logged_in(&store).await;
    assert!(!store
        .revoke(&intruder.user_id, &s.session_id)
        .await
        .expect("revoke"));
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        Some(s.user_id.clone())
    );
    assert_eq!(
        ids(&list(&store, &s.user_id).await),
        vec![s.session_id.as_str()]
    );
    assert!(store
        .revoke(&s.user_id, &s.session_id)
        .await
        .expect("revoke by owner"));
}

pub(crate) async fn revoking_an_unknown_session_returns_false(store: AnyTokenStore) {
    assert!(!store.revoke(&id(), &id()).await.expect("revoke"));
}

pub(crate) async fn revoke_all_deletes_every_session_but_keep(store: AnyTokenStore) {
    let user = id();
    let sessions: Vec<NewSession> = (0..3).map(|_| login(&user)).collect();
    for s in &sessions {
        create(&store, s).await;
    }
    let other = logged_in(&store).await;
    let keep = &sessions[1];

    let n = store
        .revoke_all(&user, Some(&keep.session_id))
        .await
        .expect("revoke_all");
    assert_eq!(n, 2);
    for s in &sessions {
        let expected = (s.session_id == keep.session_id).then(|| user.clone());
        assert_eq!(auth(&store, s, &s.pair.access_jti).await, expected);
    }
    assert_eq!(
        ids(&list(&store, &user).await),
        vec![keep.session_id.as_str()]
    );
    assert_eq!(
        auth(&store, &other, &other.pair.access_jti).await,
        Some(other.user_id.clone()),
        "another user's session is untouched"
    );

    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 1);
    assert_eq!(auth(&store, keep, &keep.pair.access_jti).await, None);
    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 0);
    assert_eq!(store.revoke_all(&id(), None).await.expect("revoke_all"), 0);
    assert_eq!(
        ids(&list(&store, &other.user_id).await),
        vec![other.session_id.as_str()]
    );
}

pub(crate) async fn revoke_all_counts_only_live_sessions(store: AnyTokenStore) {
    let user = id();
    let live = login(&user);
    let revoked = login(&user);
    let reused = login(&user);
    let now = now_s();
    let mut expired = login_at(&user, now - 3600);
    expired.pair.access_expires_at = now - 1800;
    expired.pair.refresh_expires_at = now - 10;
    for s in [&live, &revoked, &reused, &expired] {
        create(&store, s).await;
    }
    assert!(store
        .revoke(&user, &revoked.session_id)
        .await
        .expect("revoke"));
    let bogus = refresh(&reused, &id(), now_ms(), GRACE);
    assert!(matches!(
        rotate(&store, &bogus).await,
        Rotation::Reused { .. }
    ));

    assert_eq!(store.revoke_all(&user, None).await.expect("revoke_all"), 1);
    assert_eq!(auth(&store, &live, &live.pair.access_jti).await, None);
}
