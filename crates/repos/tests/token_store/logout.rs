//! Logout: the session of the presented access token, also one a refresh just replaced
//! within the grace.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        the_current_access_token_ends_the_session,
        the_access_token_a_refresh_replaced_ends_the_session_within_the_grace,
        a_replaced_access_token_after_the_grace_ends_nothing,
        another_users_or_an_unknown_token_ends_nothing,
    ]
}

pub(crate) async fn logout(
    store: &AnyTokenStore,
    s: &NewSession,
    access_jti: &str,
    grace: Duration,
) -> bool {
    store
        .logout(&s.user_id, &s.session_id, access_jti, grace, now_ms())
        .await
        .expect("logout")
}

pub(crate) async fn the_current_access_token_ends_the_session(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    assert!(logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(auth(&store, &s, &s.pair.access_jti).await, None);
    assert!(list(&store, &s.user_id).await.is_empty(), "unindexed too");
    assert!(
        !logout(&store, &s, &s.pair.access_jti, GRACE).await,
        "a second logout finds nothing"
    );
}

pub(crate) async fn the_access_token_a_refresh_replaced_ends_the_session_within_the_grace(
    store: AnyTokenStore,
) {
    let s = logged_in(&store).await;
    let pair = rotated(&store, &refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE)).await;
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await,
        None,
        "the old access token no longer authenticates"
    );
    assert!(logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(auth(&store, &s, &pair.access_jti).await, None);
    assert_eq!(
        rotate(&store, &refresh(&s, &pair.refresh_jti, now_ms(), GRACE)).await,
        Rotation::Missing
    );
}

pub(crate) async fn a_replaced_access_token_after_the_grace_ends_nothing(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let pair = rotated(
        &store,
        &refresh(&s, &s.pair.refresh_jti, now_ms() - 60_000, GRACE),
    )
    .await;
    assert!(!logout(&store, &s, &s.pair.access_jti, GRACE).await);
    assert_eq!(
        auth(&store, &s, &pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str()),
        "the session lives on"
    );
}

pub(crate) async fn another_users_or_an_unknown_token_ends_nothing(store: AnyTokenStore) {
    let s = logged_in(&store).await;
    let other = NewSession {
        user_id: id(),
        ..s.clone()
    };
    assert!(!logout(&store, &other, &s.pair.access_jti, GRACE).await);
    assert!(!logout(&store, &s, &id(), GRACE).await);
    assert!(!logout(&store, &s, "", GRACE).await);
    let unknown = NewSession {
        session_id: id(),
        ..s.clone()
    };
    assert!(!logout(&store, &unknown, &s.pair.access_jti, GRACE).await);
    assert_eq!(
        auth(&store, &s, &s.pair.access_jti).await.as_deref(),
        Some(s.user_id.as_str())
    );
}
