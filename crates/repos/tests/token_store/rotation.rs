//! Refresh: the current refresh token rotates the pair, the previous one within the grace
//! gets the current pair again, anything older is reuse and revokes the session.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        current_refresh_jti_rotates_to_the_new_pair,
        new_expiries_are_capped_by_the_session_end,
        only_the_new_access_jti_authenticates_after_rotation,
        previous_refresh_jti_within_grace_returns_the_current_pair,
        previous_refresh_jti_after_grace_is_reuse_and_revokes_the_session,
        with_zero_grace_a_replay_a_second_later_is_reuse,
        refresh_jti_two_rotations_back_is_reuse_and_revokes_the_session,
        refresh_jti_the_session_never_had_is_reuse,
        concurrent_rotations_yield_one_rotation_and_grace_for_the_rest,
        session_past_its_end_cannot_be_rotated,
        unknown_session_is_missing,
    ]
}

pub(crate) async fn current_refresh_jti_rotates_to_the_new_pair(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
    let iat = at.div_euclid(1000);
    assert_eq!(
        rotate(&store, &r).await,
        Rotation::Rotated {
            user_id: s.user_id.clone(),
            pair: PairState {
                access_jti: r.new_access_jti.clone(),
                refresh_jti: r.new_refresh_jti.clone(),
                issued_at: iat,
                access_expires_at: iat + secs(ACCESS_TTL),
                refresh_expires_at: iat + secs(REFRESH_TTL),
            },
        }
    );
    // The new refresh jti rotates in turn.
    let r2 = refresh(&s, &r.new_refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r2).await;
    assert_eq!(pair.access_jti, r2.new_access_jti);
    assert_eq!(pair.refresh_jti, r2.new_refresh_jti);
}

pub(crate) async fn new_expiries_are_capped_by_the_session_end(store: AnyTokenStore) {
    let now = now_s();
    let mut s = login(&id());
    s.expires_at = now + 120;
    s.pair.access_expires_at = now + 120;
    s.pair.refresh_expires_at = now + 120;
    create(&store, &s).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(pair.issued_at, at.div_euclid(1000));
    assert_eq!(pair.access_expires_at, s.expires_at);
    assert_eq!(pair.refresh_expires_at, s.expires_at);

    // Only the part past the end is cut: a short access lifetime is kept.
    let mut r2 = refresh(&s, &pair.refresh_jti, now_ms(), GRACE);
    r2.access_ttl = Duration::from_secs(30);
    let pair2 = rotated(&store, &r2).await;
    assert_eq!(pair2.access_expires_at, pair2.issued_at + 30);
    assert_eq!(pair2.refresh_expires_at, s.expires_at);
}

pub(crate) async fn only_the_new_access_jti_authenticates_after_rotation(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert_eq!(auth(&store, &s, &pair.access_jti).await, Some(s.user_id));
}

pub(crate) async fn previous_refresh_jti_within_grace_returns_the_current_pair(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let expected = Rotation::Grace {
        user_id: s.user_id.clone(),
        pair: pair.clone(),
    };
    // A second tab, a moment later and at the very end of the grace: the same pair, not
    // the new jtis it asked for.
    for later in [at, at + 1, at + 5_000, at + 10_000] {
        let replay = refresh(&s, &s.pair.refresh_jti, later, GRACE);
        assert_eq!(
            rotate(&store, &replay).await,
            expected,
            "at +{}ms",
            later - at
        );
    }
    // Nothing changed: the current pair still works, the first one still does not.
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await,
        Some(s.user_id.clone())
    );
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    let next = rotated(&store, &refresh(&s, &pair.refresh_jti, now_ms(), GRACE)).await;
    assert_ne!(next, pair);
}

pub(crate) async fn previous_refresh_jti_after_grace_is_reuse_and_revokes_the_session(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let grace_ms = i64::try_from(GRACE.as_millis()).expect("grace");
    let late = refresh(&s, &s.pair.refresh_jti, at + grace_ms + 1, GRACE);
    assert_eq!(
        rotate(&store, &late).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    let current = refresh(&s, &pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
    assert!(list(&store, &s.user_id).await.is_empty());
}

pub(crate) async fn with_zero_grace_a_replay_a_second_later_is_reuse(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let r = refresh(&s, &s.pair.refresh_jti, at, Duration::ZERO);
    let pair = rotated(&store, &r).await;
    let replay = refresh(&s, &s.pair.refresh_jti, at + 1000, Duration::ZERO);
    assert_eq!(
        rotate(&store, &replay).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    let current = refresh(&s, &pair.refresh_jti, now_ms(), Duration::ZERO);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
}

pub(crate) async fn refresh_jti_two_rotations_back_is_reuse_and_revokes_the_session(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let first = rotated(&store, &refresh(&s, &s.pair.refresh_jti, at, GRACE)).await;
    let second = rotated(&store, &refresh(&s, &first.refresh_jti, at + 1, GRACE)).await;
    // Well within the grace of the last rotation, yet two rotations back.
    let replay = refresh(&s, &s.pair.refresh_jti, at + 2, GRACE);
    assert_eq!(
        rotate(&store, &replay).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &second.access_jti).await, None);
    let current = refresh(&s, &second.refresh_jti, at + 3, GRACE);
    assert_eq!(rotate(&store, &current).await, Rotation::Missing);
}

pub(crate) async fn refresh_jti_the_session_never_had_is_reuse(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let r = refresh(&s, &id(), now_ms(), GRACE);
    assert_eq!(
        rotate(&store, &r).await,
        Rotation::Reused {
            user_id: s.user_id.clone()
        }
    );
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
}

pub(crate) async fn concurrent_rotations_yield_one_rotation_and_grace_for_the_rest(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let at = now_ms();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let r = refresh(&s, &s.pair.refresh_jti, at, GRACE);
            tokio::spawn(async move { (store.rotate(&r).await, r) })
        })
        .collect();
    let mut results = Vec::new();
    for h in handles {
        let (result, request) = h.await.expect("rotation task");
        results.push((result.expect("rotate"), request));
    }
    let winners: Vec<(&PairState, &RotationRequest)> = results
        .iter()
        .filter_map(|(rotation, request)| match rotation {
            Rotation::Rotated { pair, .. } => Some((pair, request)),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one rotation: {results:?}");
    let (pair, request) = winners[0];
    assert_eq!(pair.access_jti, request.new_access_jti);
    assert_eq!(pair.refresh_jti, request.new_refresh_jti);
    for (rotation, _) in &results {
        match rotation {
            Rotation::Rotated { user_id, pair: p } | Rotation::Grace { user_id, pair: p } => {
                assert_eq!(user_id, &s.user_id);
                assert_eq!(p, pair, "every caller holds the same pair");
            }
            other => panic!("expected Rotated or Grace, got {other:?}"),
        }
    }
    let graces = results
        .iter()
        .filter(|(r, _)| matches!(r, Rotation::Grace { .. }))
        .count();
    assert_eq!(graces, 19);
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await,
        Some(s.user_id.clone())
    );
}

pub(crate) async fn session_past_its_end_cannot_be_rotated(store: AnyTokenStore) {
    // The end passes while the refresh token is still valid: at the end, and later.
    for past_end_ms in [0, 5_000] {
        let now = now_s();
        let mut s = login_at(&id(), now - 100);
        s.expires_at = now + 60;
        s.pair.access_expires_at = now + 60;
        s.pair.refresh_expires_at = now + 60;
        create(&store, &s).await;
        let r = refresh(
            &s,
            &s.pair.refresh_jti,
            s.expires_at * 1000 + past_end_ms,
            GRACE,
        );
        assert_eq!(
            rotate(&store, &r).await,
            Rotation::Missing,
            "+{past_end_ms}ms"
        );
    }
    // A record whose end is already behind the real clock.
    let now = now_s();
    let mut s = login_at(&id(), now - 100);
    s.expires_at = now - 1;
    create(&store, &s).await;
    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}

pub(crate) async fn unknown_session_is_missing(store: AnyTokenStore) {
    let r = refresh(&login(&id()), &id(), now_ms(), GRACE);
    assert_eq!(rotate(&store, &r).await, Rotation::Missing);
}
