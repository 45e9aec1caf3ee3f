//! Authenticating a bearer token: only an access token of a live session.

use super::*;

#[tokio::test]
async fn access_token_authenticates_to_its_user_and_session() {
    let fx = init().await;
    let (alice, tokens, who) = fx.user("alice").await;
    let (bob, bob_tokens, bob_who) = fx.user("bob").await;
    assert_eq!(who.user_id, alice.id);
    assert_eq!(who.session_id, tokens.session_id);
    assert_eq!(bob_who.user_id, bob.id);
    assert_eq!(bob_who.session_id, bob_tokens.session_id);
    assert_ne!(who.session_id, bob_who.session_id);
    fx.cleanup();
}

#[tokio::test]
async fn refresh_token_is_refused_as_an_access_token_and_the_reverse() {
    let fx = init().await;
    let (_, tokens, _) = fx.user("alice").await;
    let auth = &fx.services;
    let r = auth.sessions.authenticate(&tokens.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{r:?}");
    let r = auth.sessions.refresh(&tokens.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{r:?}");
    // Neither attempt harmed the session.
    auth.sessions
        .authenticate(&tokens.access_token)
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn garbage_tokens_are_token_invalid() {
    let fx = init().await;
    let (_, tokens, _) = fx.user("alice").await;
    let auth = &fx.services;
    let mut tampered = tokens.access_token.clone();
    tampered.push('x');
    let huge = "a".repeat(5000);
    for bad in ["", "garbage", "a.b.c", tampered.as_str(), huge.as_str()] {
        let r = auth.sessions.authenticate(bad).await;
        assert!(
            matches!(r, Err(ServiceError::TokenInvalid)),
            "{bad:.20}: {r:?}"
        );
        let r = auth.sessions.refresh(bad).await;
        assert!(
            matches!(r, Err(ServiceError::TokenInvalid)),
            "{bad:.20}: {r:?}"
        );
    }
    fx.cleanup();
}

#[tokio::test]
async fn tokens_signed_with_another_secret_are_token_invalid() {
    let fx = init().await;
    let other = common::init_with_secret(
        "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
    )
    .await;
    let (_, tokens, _) = other.user("alice").await;
    let r = fx
        .services
        .sessions
        .authenticate(&tokens.access_token)
        .await;
    assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{r:?}");
    let r = fx.services.sessions.refresh(&tokens.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{r:?}");
    other.cleanup();
    fx.cleanup();
}
