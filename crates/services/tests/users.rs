//! UserService over real repositories: the caller's account, public profiles, changing the
//! password and deleting the account.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fields, init, PASSWORD};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use services::{ClientInfo, LoginInput, NewTaskInput, ServiceError};

const NEW_PASSWORD: &str = "a brand new passphrase";

#[tokio::test]
async fn me_returns_the_callers_account() {
    let fx = init().await;
    let (alice, _, who) = fx.user("Alice").await;
    let me = fx.services.users.me(&who).await.unwrap();
    assert_eq!(me, alice);
    assert_eq!(me.username, "alice");
    fx.cleanup();
}

#[tokio::test]
async fn profile_by_id_shows_the_public_fields() {
    let fx = init().await;
    let (alice, _, _) = fx.user("alice").await;
    let profile = fx.services.users.profile(&alice.id).await.unwrap();
    assert_eq!(profile.id, alice.id);
    assert_eq!(profile.username, alice.username);
    assert_eq!(profile.created_at, alice.created_at);
    // Any textual form of the id works.
    let upper = fx
        .services
        .users
        .profile(&alice.id.to_uppercase())
        .await
        .unwrap();
    assert_eq!(upper, profile);
    fx.cleanup();
}

#[tokio::test]
async fn profile_of_an_unknown_or_garbage_id_is_not_found() {
    let fx = init().await;
    fx.user("alice").await;
    for id in [
        "00000000-0000-7000-8000-000000000000",
        "garbage",
        "",
        "' OR 1=1 --",
        "alice",
    ] {
        let r = fx.services.users.profile(id).await;
        assert!(matches!(r, Err(ServiceError::NotFound)), "{id:?}: {r:?}");
    }
    fx.cleanup();
}

#[tokio::test]
async fn change_password_with_a_wrong_current_is_invalid_credentials() {
    let fx = init().await;
    let (_, tokens, who) = fx.user("alice").await;
    let r = fx
        .services
        .users
        .change_password(&who, "not my password", NEW_PASSWORD)
        .await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    // Nothing changed.
    fx.login("alice", PASSWORD).await.unwrap();
    let r = fx.login("alice", NEW_PASSWORD).await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    fx.services
        .sessions
        .authenticate(&tokens.access_token)
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn change_password_replaces_it_and_revokes_only_the_other_sessions() {
    let fx = init().await;
    let (_, mine, who) = fx.user("alice").await;
    let (other, _) = fx.session("alice").await;
    let (_, bob_tokens, _) = fx.user("bob").await;
    let auth = &fx.services;

    fx.services
        .users
        .change_password(&who, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();

    let r = fx.login("alice", PASSWORD).await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    fx.login("alice", NEW_PASSWORD).await.unwrap();

    // The caller's session keeps working, refresh included.
    assert_eq!(
        auth.sessions
            .authenticate(&mine.access_token)
            .await
            .unwrap(),
        who
    );
    let refreshed = auth.sessions.refresh(&mine.refresh_token).await.unwrap();
    auth.sessions
        .authenticate(&refreshed.access_token)
        .await
        .unwrap();

    // Every other session of the user is over.
    let r = auth.sessions.authenticate(&other.access_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    let r = auth.sessions.refresh(&other.refresh_token).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");

    // Another user's sessions are untouched.
    auth.sessions
        .authenticate(&bob_tokens.access_token)
        .await
        .unwrap();
    fx.cleanup();
}

/// Logs `name` in with [`PASSWORD`] over and over, four at a time, until `stop`: some login
/// is always between reading the password hash and storing its session. Returns the
/// tokens of the logins that succeeded.
fn keep_logging_in(
    fx: &common::Fixture,
    name: &str,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<services::TokenPair>>> {
    (0..4)
        .map(|_| {
            let (sign_in, stop, name) = (
                fx.services.sign_in.clone(),
                Arc::clone(stop),
                name.to_owned(),
            );
            tokio::spawn(async move {
                let mut won = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let input = LoginInput {
                        username: Some(name.clone()),
                        email: None,
                        password: PASSWORD.into(),
                    };
                    match sign_in.login(input, ClientInfo::default()).await {
                        Ok(signed_in) => won.push(common::complete(signed_in)),
                        // The old password or a deleted user (and soon too often), or a
                        // login that began before the change's (or deletion's) end of
                        // every session, refused by it.
                        Err(
                            ServiceError::InvalidCredentials
                            | ServiceError::RateLimited { .. }
                            | ServiceError::TokenRevoked,
                        ) => {}
                        Err(e) => panic!("login: {e:?}"),
                    }
                }
                won
            })
        })
        .collect()
}

/// Stops the logins and checks that none of their sessions still authenticates.
async fn assert_every_session_revoked(
    fx: &common::Fixture,
    stop: &AtomicBool,
    logins: Vec<tokio::task::JoinHandle<Vec<services::TokenPair>>>,
) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sessions = 0;
    for login in logins {
        for tokens in login.await.unwrap() {
            sessions += 1;
            let r = fx
                .services
                .sessions
                .authenticate(&tokens.access_token)
                .await;
            assert!(
                matches!(r, Err(ServiceError::TokenRevoked)),
                "a session that raced the change survived it: {r:?}"
            );
        }
    }
    assert!(sessions > 0, "no login got in before the change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_login_with_the_old_password_outlives_a_password_change() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let stop = Arc::new(AtomicBool::new(false));
    let logins = keep_logging_in(&fx, "alice", &stop);
    tokio::time::sleep(Duration::from_millis(50)).await;
    fx.services
        .users
        .change_password(&who, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    assert_every_session_revoked(&fx, &stop, logins).await;
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_login_racing_an_account_deletion_outlives_it() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let stop = Arc::new(AtomicBool::new(false));
    let logins = keep_logging_in(&fx, "alice", &stop);
    tokio::time::sleep(Duration::from_millis(50)).await;
    fx.services
        .users
        .delete_account(&who, PASSWORD)
        .await
        .unwrap();
    assert_every_session_revoked(&fx, &stop, logins).await;
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_password_changes_checked_against_the_same_password_only_one_lands() {
    let fx = init().await;
    let (_, _, first) = fx.user("alice").await;
    let (_, second) = fx.session("alice").await;
    let change = |who: services::Principal, new: &'static str| {
        let users = fx.services.users.clone();
        tokio::spawn(async move { users.change_password(&who, PASSWORD, new).await })
    };
    let a = change(first, "first new passphrase");
    let b = change(second, "second new passphrase");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (winner, loser) = match (&a, &b) {
        (Ok(()), Err(_)) => ("first new passphrase", b),
        (Err(_), Ok(())) => ("second new passphrase", a),
        _ => panic!("exactly one change must land: {a:?} / {b:?}"),
    };
    // The other was checked against a password that is no longer the account's.
    assert!(
        matches!(loser, Err(ServiceError::InvalidCredentials)),
        "{loser:?}"
    );
    fx.login("alice", winner).await.unwrap();
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_deletion_racing_a_password_change_never_answers_not_found() {
    for round in 0..5 {
        let fx = init().await;
        let (_, _, first) = fx.user("alice").await;
        let (_, second) = fx.session("alice").await;
        let users = fx.services.users.clone();
        let delete = tokio::spawn(async move { users.delete_account(&first, PASSWORD).await });
        let users = fx.services.users.clone();
        let change =
            tokio::spawn(
                async move { users.change_password(&second, PASSWORD, NEW_PASSWORD).await },
            );
        let (deleted, changed) = (delete.await.unwrap(), change.await.unwrap());
        match (&deleted, &changed) {
            // Deleted first: the change finds no account.
            (Ok(()), Err(ServiceError::TokenRevoked)) => {
                let r = fx.login("alice", PASSWORD).await;
                assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
            }
            // Changed first: the deletion was checked against the old password.
            (Err(ServiceError::InvalidCredentials), Ok(())) => {
                fx.login("alice", NEW_PASSWORD).await.unwrap();
            }
            other => panic!("round {round}: {other:?}"),
        }
        fx.cleanup();
    }
}

fn three_wrong_passwords_allowed() -> services::AuthSettings {
    services::AuthSettings {
        login_max_per_account: 3,
        ..common::test_settings()
    }
}

#[tokio::test]
async fn wrong_current_passwords_are_limited_per_account_even_for_the_right_one() {
    let fx = common::init_with(three_wrong_passwords_allowed()).await;
    let (_, tokens, who) = fx.user("alice").await;
    let (_, _, bob) = fx.user("bob").await;
    let users = &fx.services.users;
    // Guesses through both account operations count on one counter.
    for _ in 0..2 {
        let r = users.change_password(&who, "guess", NEW_PASSWORD).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = users.delete_account(&who, "guess").await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    // Now even the right password is refused, by either operation, until the window ends.
    match users.change_password(&who, PASSWORD, NEW_PASSWORD).await {
        Err(ServiceError::RateLimited { retry_after }) => {
            assert!(
                retry_after >= std::time::Duration::from_secs(1),
                "{retry_after:?}"
            )
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    let r = users.delete_account(&who, PASSWORD).await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    // Nothing changed: the password, the session, the account.
    fx.login("alice", PASSWORD).await.unwrap();
    fx.services
        .sessions
        .authenticate(&tokens.access_token)
        .await
        .unwrap();
    // Another account is not affected.
    users
        .change_password(&bob, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_current_passwords_sent_all_at_once_get_no_more_checks_than_the_limit() {
    let fx = common::init_with(three_wrong_passwords_allowed()).await;
    let (_, _, who) = fx.user("alice").await;
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let (users, who) = (fx.services.users.clone(), who.clone());
            tokio::spawn(async move {
                users
                    .change_password(&who, &format!("guess {i}"), NEW_PASSWORD)
                    .await
            })
        })
        .collect();
    assert_eq!(common::checked_and_refused(guesses).await, (3, 17));
    fx.cleanup();
}

#[tokio::test]
async fn the_right_current_password_clears_the_wrong_password_count() {
    let fx = common::init_with(three_wrong_passwords_allowed()).await;
    let (_, _, who) = fx.user("alice").await;
    let users = &fx.services.users;
    let mut current = PASSWORD.to_owned();
    for round in 0..3 {
        for _ in 0..2 {
            let r = users.change_password(&who, "guess", NEW_PASSWORD).await;
            assert!(
                matches!(r, Err(ServiceError::InvalidCredentials)),
                "round {round}: {r:?}"
            );
        }
        // Without the reset, the second round would reach 4 failures and be refused.
        let next = format!("{NEW_PASSWORD} {round}");
        users
            .change_password(&who, &current, &next)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        current = next;
    }
    fx.cleanup();
}

#[tokio::test]
async fn change_password_to_a_bad_new_password_is_validation_on_new_password() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let users = &fx.services.users;
    assert_eq!(
        fields(users.change_password(&who, PASSWORD, "short").await),
        ["new_password"]
    );
    assert_eq!(
        fields(users.change_password(&who, PASSWORD, &"x".repeat(73)).await),
        ["new_password"]
    );
    assert_eq!(
        fields(
            users
                .change_password(&who, PASSWORD, "Alice@Example.com")
                .await
        ),
        ["new_password"]
    );
    // The old password still works.
    fx.login("alice", PASSWORD).await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn delete_account_with_a_wrong_password_deletes_nothing() {
    let fx = init().await;
    let (alice, tokens, who) = fx.user("alice").await;
    fx.services
        .tasks
        .create(
            &who,
            NewTaskInput {
                title: "keep me".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = fx
        .services
        .users
        .delete_account(&who, "not my password")
        .await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    assert_eq!(fx.services.users.me(&who).await.unwrap(), alice);
    assert_eq!(fx.tasks_repo.count(&alice.id).await.unwrap(), 1);
    fx.services
        .sessions
        .authenticate(&tokens.access_token)
        .await
        .unwrap();
    fx.login("alice", PASSWORD).await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn delete_account_revokes_sessions_and_removes_the_user_and_their_tasks() {
    let fx = init().await;
    let (alice, mine, who) = fx.user("alice").await;
    let (other, _) = fx.session("alice").await;
    let (bob, bob_tokens, bob_who) = fx.user("bob").await;
    for (owner, title) in [(&who, "a1"), (&who, "a2"), (&bob_who, "b1")] {
        fx.services
            .tasks
            .create(
                owner,
                NewTaskInput {
                    title: title.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    fx.services
        .users
        .delete_account(&who, PASSWORD)
        .await
        .unwrap();

    let auth = &fx.services;
    for t in [&mine, &other] {
        let r = auth.sessions.authenticate(&t.access_token).await;
        assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
        let r = auth.sessions.refresh(&t.refresh_token).await;
        assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    }
    let r = fx.login("alice", PASSWORD).await;
    assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    let r = fx.services.users.profile(&alice.id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    assert_eq!(fx.users_repo.find_by_id(&alice.id).await.unwrap(), None);
    assert_eq!(fx.tasks_repo.count(&alice.id).await.unwrap(), 0);

    // Bob, his session and his task are untouched.
    auth.sessions
        .authenticate(&bob_tokens.access_token)
        .await
        .unwrap();
    assert_eq!(fx.tasks_repo.count(&bob.id).await.unwrap(), 1);

    // The name is free again.
    fx.register("alice").await;
    fx.cleanup();
}
