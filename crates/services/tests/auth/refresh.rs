//! Refresh: rotation, the grace, and reuse revoking the session.

use super::*;

#[tokio::test]
async fn refresh_returns_a_new_pair_and_the_old_access_token_is_revoked() {
    let fx = init().await;
    let (alice, first, _) = fx.user("alice").await;
    let auth = &fx.services;
    let second = auth.sessions.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.session_id, first.session_id);
    let who = auth
        .sessions
        .authenticate(&second.access_token)
        .await
        .unwrap();
    assert_eq!(who.user_id, alice.id);
    let r = auth.sessions.authenticate(&first.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    // And the new refresh token rotates in turn.
    let third = auth.sessions.refresh(&second.refresh_token).await.unwrap();
    auth.sessions
        .authenticate(&third.access_token)
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn previous_refresh_token_within_the_grace_returns_the_same_pair() {
    let fx = init().await;
    let (_, first, _) = fx.user("alice").await;
    let auth = &fx.services;
    let second = auth.sessions.refresh(&first.refresh_token).await.unwrap();
    let again = auth.sessions.refresh(&first.refresh_token).await.unwrap();
    assert_eq!(again.access_token, second.access_token);
    assert_eq!(again.refresh_token, second.refresh_token);
    assert_eq!(again.session_id, second.session_id);
    auth.sessions
        .authenticate(&second.access_token)
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn refresh_token_older_than_the_previous_is_reuse_even_within_the_grace() {
    let fx = init().await;
    let (_, first, _) = fx.user("alice").await;
    let auth = &fx.services;
    let second = auth.sessions.refresh(&first.refresh_token).await.unwrap();
    let third = auth.sessions.refresh(&second.refresh_token).await.unwrap();
    let r = auth.sessions.refresh(&first.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::RefreshTokenReused)), "{r:?}");
    let r = auth.sessions.authenticate(&third.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn previous_refresh_token_after_the_grace_is_reuse_and_revokes_the_session() {
    let fx = init_with(AuthSettings {
        refresh_reuse_grace: Duration::ZERO,
        ..test_settings()
    })
    .await;
    let (_, first, _) = fx.user("alice").await;
    let auth = &fx.services;
    let second = auth.sessions.refresh(&first.refresh_token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = auth.sessions.refresh(&first.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::RefreshTokenReused)), "{r:?}");
    let r = auth.sessions.authenticate(&second.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    let r = auth.sessions.refresh(&second.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    fx.cleanup();
}
