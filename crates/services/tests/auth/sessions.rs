//! Logout, logout-all, and the session list.

use super::*;

#[tokio::test]
async fn refresh_after_logout_is_rejected() {
    let fx = init().await;
    let (_, tokens, _) = fx.user("alice").await;
    let auth = &fx.services;
    auth.sessions
        .logout(&tokens.access_token, &services::ClientInfo::default())
        .await
        .unwrap();
    let r = auth.sessions.authenticate(&tokens.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    let r = auth.sessions.refresh(&tokens.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_but_not_another_users() {
    let fx = init().await;
    let (_, a1, who) = fx.user("alice").await;
    let (a2, _) = fx.session("alice").await;
    let (_, b1, _) = fx.user("bob").await;
    let auth = &fx.services;
    auth.sessions
        .logout_all(&who, &services::ClientInfo::default())
        .await
        .unwrap();
    for t in [&a1, &a2] {
        let r = auth.sessions.authenticate(&t.access_token).await;
        assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
        let r = auth.sessions.refresh(&t.refresh_token).await;
        assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    }
    auth.sessions.authenticate(&b1.access_token).await.unwrap();
    auth.sessions.refresh(&b1.refresh_token).await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn sessions_lists_live_sessions_with_exactly_one_current() {
    let fx = init().await;
    let (_, _, first) = fx.user("alice").await;
    let (_, second) = fx.session("alice").await;
    let (third, _) = fx.session("alice").await;
    fx.user("bob").await;
    let auth = &fx.services;
    auth.sessions
        .logout(&third.access_token, &services::ClientInfo::default())
        .await
        .unwrap();
    let list = auth.sessions.sessions(&second).await.unwrap();
    let mut ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let mut want = vec![first.session_id.as_str(), second.session_id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    let current: Vec<&str> = list
        .iter()
        .filter(|s| s.current)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(current, [second.session_id.as_str()]);
    for s in &list {
        assert_eq!(s.user_agent.as_deref(), Some("services-tests"));
        assert!(s.expires_at > s.created_at);
    }
    fx.cleanup();
}

#[tokio::test]
async fn revoke_session_ends_own_other_session_but_not_another_users() {
    let fx = init().await;
    let (_, _, mine) = fx.user("alice").await;
    let (other_tokens, other_mine) = fx.session("alice").await;
    let (_, bob_tokens, bob) = fx.user("bob").await;
    let auth = &fx.services;

    let r = auth
        .sessions
        .revoke_session(&mine, &bob.session_id, &services::ClientInfo::default())
        .await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    auth.sessions
        .authenticate(&bob_tokens.access_token)
        .await
        .unwrap();

    for bad in ["not-a-session", "00000000-0000-4000-8000-000000000000"] {
        let r = auth
            .sessions
            .revoke_session(&mine, bad, &services::ClientInfo::default())
            .await;
        assert!(matches!(r, Err(ServiceError::NotFound)), "{bad}: {r:?}");
    }

    auth.sessions
        .revoke_session(
            &mine,
            &other_mine.session_id,
            &services::ClientInfo::default(),
        )
        .await
        .unwrap();
    let r = auth.sessions.authenticate(&other_tokens.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    let list = auth.sessions.sessions(&mine).await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].current);
    // Revoking it twice is not found.
    let r = auth
        .sessions
        .revoke_session(
            &mine,
            &other_mine.session_id,
            &services::ClientInfo::default(),
        )
        .await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    fx.cleanup();
}

/// Replaces alice's stored hash with a bcrypt (cost 4) hash of the same password.
async fn with_a_bcrypt_hash(fx: &Fixture, id: &str) -> String {
    let creds = fx.users_repo.credentials_by_id(id).await.unwrap().unwrap();
    let bcrypt = services::PasswordScheme::Bcrypt { cost: 4 }
        .hash(PASSWORD)
        .unwrap();
    let new = services::infra::PasswordHash::new(bcrypt.clone());
    assert!(fx
        .users_repo
        .rehash(id, creds.password_hash.as_ref().unwrap(), &new)
        .await
        .unwrap());
    bcrypt
}

fn cheap_argon2(rehash: bool) -> AuthSettings {
    AuthSettings {
        password_hash: services::PasswordScheme::Argon2id {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        password_rehash: rehash,
        ..test_settings()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_rehashes_an_out_of_date_hash_unless_rehash_is_off() {
    for rehash in [false, true] {
        let fx = init_with(cheap_argon2(rehash)).await;
        let alice = fx.register("alice").await;
        let bcrypt = with_a_bcrypt_hash(&fx, &alice.id).await;
        fx.login("alice", PASSWORD).await.unwrap();
        let mut stored = String::new();
        for _ in 0..100 {
            let creds = fx.users_repo.credentials_by_id(&alice.id).await.unwrap();
            stored = creds.unwrap().password_hash.unwrap().expose().to_owned();
            if stored != bcrypt {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if rehash {
            assert!(
                stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
                "{stored}"
            );
        } else {
            assert_eq!(
                stored, bcrypt,
                "PASSWORD_REHASH=false leaves the hash alone"
            );
        }
        fx.login("alice", PASSWORD).await.unwrap();
        fx.cleanup();
    }
}
