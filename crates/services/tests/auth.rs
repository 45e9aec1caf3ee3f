//! AuthService over real repositories: register, login and its rate limits, authenticate,
//! refresh with rotation and reuse detection, logout and sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{fields, init, init_with, test_settings, Fixture, PASSWORD};

use services::{AuthSettings, ClientInfo, LoginInput, ServiceError};

fn login_by(username: Option<&str>, email: Option<&str>, password: &str) -> LoginInput {
    LoginInput {
        username: username.map(str::to_owned),
        email: email.map(str::to_owned),
        password: password.to_owned(),
    }
}

// ---- register -------------------------------------------------------------------------

#[tokio::test]
async fn register_returns_the_user_lower_cased() {
    let fx = init().await;
    let user = fx
        .services
        .registration
        .register(
            "  Alice_1 ",
            "Alice@Example.COM",
            PASSWORD,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    assert_eq!(user.username, "alice_1");
    assert_eq!(user.email, "alice@example.com");
    assert!(uuid_like(&user.id), "{}", user.id);
    assert_eq!(user.created_at, user.updated_at);
    fx.cleanup();
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn register_with_a_taken_username_is_username_taken() {
    let fx = init().await;
    fx.register("alice").await;
    let r = fx
        .services
        .registration
        .register(
            "ALICE",
            "other@example.com",
            PASSWORD,
            &ClientInfo::default(),
        )
        .await;
    assert!(matches!(r, Err(ServiceError::UsernameTaken)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn register_with_a_taken_email_in_another_case_is_email_taken() {
    let fx = init().await;
    fx.register("alice").await;
    let r = fx
        .services
        .registration
        .register(
            "alice2",
            "ALICE@example.com",
            PASSWORD,
            &ClientInfo::default(),
        )
        .await;
    assert!(matches!(r, Err(ServiceError::EmailTaken)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn register_reports_every_bad_field_at_once() {
    let fx = init().await;
    let auth = &fx.services;
    assert_eq!(
        fields(
            auth.registration
                .register("a", "not-an-email", "short", &ClientInfo::default())
                .await
        ),
        ["username", "email", "password"]
    );
    assert_eq!(
        fields(
            auth.registration
                .register(
                    "bad name!",
                    "x@example.com",
                    PASSWORD,
                    &ClientInfo::default()
                )
                .await
        ),
        ["username"]
    );
    assert_eq!(
        fields(
            auth.registration
                .register("bob", "bob@localhost", PASSWORD, &ClientInfo::default())
                .await
        ),
        ["email"]
    );
    assert_eq!(
        fields(
            auth.registration
                .register("bob", "bob@example.com", "1234567", &ClientInfo::default())
                .await
        ),
        ["password"]
    );
    fx.cleanup();
}

#[tokio::test]
async fn register_refuses_a_password_over_72_bytes_without_truncating() {
    let fx = init().await;
    let auth = &fx.services;
    let long = "x".repeat(73);
    assert_eq!(
        fields(
            auth.registration
                .register("bob", "bob@example.com", &long, &ClientInfo::default())
                .await
        ),
        ["password"]
    );
    // 72 bytes is still fine; 37 two-byte characters (74 bytes) are not.
    assert!(auth
        .registration
        .register(
            "bob",
            "bob@example.com",
            &"x".repeat(72),
            &ClientInfo::default()
        )
        .await
        .is_ok());
    assert_eq!(
        fields(
            auth.registration
                .register(
                    "carol",
                    "carol@example.com",
                    &"é".repeat(37),
                    &ClientInfo::default()
                )
                .await
        ),
        ["password"]
    );
    fx.cleanup();
}

#[tokio::test]
async fn register_refuses_a_password_equal_to_the_username_or_email() {
    let fx = init().await;
    let auth = &fx.services;
    assert_eq!(
        fields(
            auth.registration
                .register(
                    "longname",
                    "l@example.com",
                    "LongName",
                    &ClientInfo::default()
                )
                .await
        ),
        ["password"]
    );
    assert_eq!(
        fields(
            auth.registration
                .register(
                    "bob",
                    "bobby@example.com",
                    "Bobby@Example.com",
                    &ClientInfo::default()
                )
                .await
        ),
        ["password"]
    );
    fx.cleanup();
}

// ---- login ----------------------------------------------------------------------------

#[tokio::test]
async fn login_works_by_username_and_by_email_ignoring_case() {
    let fx = init().await;
    let user = fx.register("alice").await;
    let auth = &fx.services;
    for input in [
        login_by(Some("alice"), None, PASSWORD),
        login_by(Some("ALICE"), None, PASSWORD),
        login_by(None, Some("Alice@Example.com"), PASSWORD),
        login_by(Some("ALICE@example.com"), None, PASSWORD),
    ] {
        let label = format!("{input:?}");
        let tokens = auth
            .sign_in
            .login(input, ClientInfo::default())
            .await
            .map(common::complete)
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        assert_eq!(tokens.token_type, "Bearer");
        assert!(tokens.expires_in > 0 && tokens.refresh_expires_in > tokens.expires_in);
        let who = auth
            .sessions
            .authenticate(&tokens.access_token)
            .await
            .unwrap();
        assert_eq!(who.user_id, user.id, "{label}");
        assert_eq!(who.session_id, tokens.session_id, "{label}");
    }
    fx.cleanup();
}

#[tokio::test]
async fn login_with_a_wrong_password_or_an_unknown_user_is_invalid_credentials() {
    let fx = init().await;
    fx.register("alice").await;
    let wrong = fx.login("alice", "not the password").await;
    assert!(
        matches!(wrong, Err(ServiceError::InvalidCredentials)),
        "{wrong:?}"
    );
    let unknown = fx.login("nobody", PASSWORD).await;
    assert!(
        matches!(unknown, Err(ServiceError::InvalidCredentials)),
        "{unknown:?}"
    );
    let unknown_email = fx
        .services
        .sign_in
        .login(
            login_by(None, Some("nobody@example.com"), PASSWORD),
            ClientInfo::default(),
        )
        .await;
    assert!(
        matches!(unknown_email, Err(ServiceError::InvalidCredentials)),
        "{unknown_email:?}"
    );
    fx.cleanup();
}

#[tokio::test]
async fn login_without_identifier_or_password_is_validation() {
    let fx = init().await;
    let auth = &fx.services;
    assert_eq!(
        fields(
            auth.sign_in
                .login(login_by(None, Some("  "), PASSWORD), ClientInfo::default())
                .await
        ),
        ["username"]
    );
    assert_eq!(
        fields(
            auth.sign_in
                .login(login_by(Some("alice"), None, ""), ClientInfo::default())
                .await
        ),
        ["password"]
    );
    fx.cleanup();
}

fn limited(per_account: u64, per_ip: u64) -> AuthSettings {
    AuthSettings {
        login_max_per_account: per_account,
        login_max_per_ip: per_ip,
        ..test_settings()
    }
}

#[tokio::test]
async fn login_after_too_many_failures_is_rate_limited_even_with_the_right_password() {
    let fx = init_with(limited(3, 100)).await;
    fx.register("alice").await;
    let ip = Some("203.0.113.7");
    for _ in 0..3 {
        let r = fx.login_from("alice", "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = fx.login_from("alice", PASSWORD, ip).await;
    match r {
        Err(ServiceError::RateLimited { retry_after }) => {
            assert!(retry_after > Duration::ZERO, "{retry_after:?}")
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    fx.cleanup();
}

/// The counters held by the fixture's in-memory store.
fn counters(fx: &common::Fixture) -> usize {
    match &fx.store {
        services::infra::AnyTokenStore::Memory(m) => m.len().1,
        services::infra::AnyTokenStore::Redis(_) => panic!("the fixture's store is in memory"),
    }
}

#[tokio::test]
async fn refused_logins_with_made_up_names_leave_no_counters_behind() {
    let fx = init_with(limited(3, 5)).await;
    let ip = Some("203.0.113.8");
    for n in 0..5 {
        let r = fx
            .login_from(&format!("nobody{n}"), "wrong password", ip)
            .await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let before = counters(&fx);
    assert_eq!(before, 6, "five names and the address");
    // Names too long to exist, and names that could exist but do not: all refused.
    for n in 0..2000 {
        let long = format!("{n}{}", "x".repeat(20_000));
        let r = fx.login_from(&long, "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
        let r = fx
            .login_from(&format!("nobody_{n}"), "wrong password", ip)
            .await;
        assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    }
    assert_eq!(counters(&fx), before, "nothing is left behind");
    fx.cleanup();
}

#[tokio::test]
async fn a_name_that_cannot_exist_is_counted_only_against_the_address() {
    let fx = init_with(limited(3, 100)).await;
    let ip = Some("203.0.113.9");
    for n in 0..3 {
        let long = format!("{n}{}", "y".repeat(300));
        let r = fx.login_from(&long, "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    assert_eq!(counters(&fx), 1, "only the address's counter");
    fx.cleanup();
}

#[tokio::test]
async fn registrations_past_the_per_address_limit_are_rate_limited() {
    let fx = init_with(AuthSettings {
        register_max_per_ip: 2,
        ..test_settings()
    })
    .await;
    let from = |ip: &str| ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: None,
    };
    let auth = &fx.services;
    let a = from("198.51.100.1");
    auth.registration
        .register("first", "first@example.com", PASSWORD, &a)
        .await
        .unwrap();
    let r = auth
        .registration
        .register("first", "other@example.com", PASSWORD, &a)
        .await;
    assert!(matches!(r, Err(ServiceError::UsernameTaken)), "{r:?}");
    let r = auth
        .registration
        .register("third", "third@example.com", PASSWORD, &a)
        .await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    // Malformed input is refused before it is counted; another address is not affected.
    let r = auth
        .registration
        .register("x", "bad", "short", &from("198.51.100.2"))
        .await;
    assert!(matches!(r, Err(ServiceError::Validation(_))), "{r:?}");
    auth.registration
        .register(
            "third",
            "third@example.com",
            PASSWORD,
            &from("198.51.100.2"),
        )
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn username_and_email_share_one_per_account_counter() {
    let fx = init_with(limited(3, 100)).await;
    fx.register("alice").await;
    let ip = Some("203.0.113.9");
    for name in ["alice", "alice@example.com", "ALICE"] {
        let r = fx.login_from(name, "wrong password", ip).await;
        assert!(
            matches!(r, Err(ServiceError::InvalidCredentials)),
            "{name}: {r:?}"
        );
    }
    let r = fx.login_from("alice@example.com", PASSWORD, ip).await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn successful_login_clears_the_per_account_counter() {
    let fx = init_with(limited(3, 100)).await;
    fx.register("alice").await;
    let ip = Some("203.0.113.8");
    for round in 0..3 {
        for _ in 0..2 {
            let r = fx.login_from("alice", "wrong password", ip).await;
            assert!(
                matches!(r, Err(ServiceError::InvalidCredentials)),
                "round {round}: {r:?}"
            );
        }
        // Without the reset, the second round would reach 4 failures and be refused.
        fx.login_from("alice", PASSWORD, ip)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
    }
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_sent_all_at_once_get_no_more_checks_than_the_limit() {
    let fx = init_with(limited(3, 100)).await;
    fx.register("alice").await;
    // Twenty guesses in flight together: each is counted before bcrypt runs, so only the
    // first three are checked, however the requests interleave.
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let auth = fx.services.sign_in.clone();
            tokio::spawn(async move {
                let client = ClientInfo {
                    ip: Some("203.0.113.50".into()),
                    user_agent: None,
                };
                auth.login(login_by(Some("alice"), None, &format!("guess {i}")), client)
                    .await
            })
        })
        .collect();
    assert_eq!(common::checked_and_refused(guesses).await, (3, 17));
    fx.cleanup();
}

#[tokio::test]
async fn successful_logins_do_not_count_against_the_address() {
    let fx = init_with(limited(100, 3)).await;
    fx.register("alice").await;
    let ip = Some("198.51.100.7");
    for n in 0..6 {
        fx.login_from("alice", PASSWORD, ip)
            .await
            .unwrap_or_else(|e| panic!("login {n}: {e:?}"));
    }
    fx.cleanup();
}

#[tokio::test]
async fn refused_attempts_count_against_neither_the_account_nor_the_address() {
    let fx = init_with(limited(3, 5)).await;
    fx.register("alice").await;
    fx.register("bob").await;
    let ip = Some("198.51.100.20");
    for _ in 0..3 {
        let r = fx.login_from("alice", "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    // Alice's account is locked from here; hammering it is refused ...
    for _ in 0..10 {
        let r = fx.login_from("alice", "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    }
    // ... and counted for nothing: the address has 3 failures of its 5, so bob, two more
    // wrong guesses, and then bob again all get checked.
    fx.login_from("bob", PASSWORD, ip).await.unwrap();
    for _ in 0..2 {
        let r = fx.login_from("bob", "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = fx.login_from("bob", PASSWORD, ip).await;
    assert!(
        matches!(r, Err(ServiceError::RateLimited { .. })),
        "5 failures: {r:?}"
    );
    fx.cleanup();
}

/// Starts a login of alice from `ip` with `password`, waits until its attempt is counted
/// (it is then in bcrypt), abandons it, and returns the address's count once the attempt
/// has been settled.
async fn count_after_abandoning(
    fx: &common::Fixture,
    ip: &'static str,
    password: &'static str,
) -> u64 {
    let auth = fx.services.sign_in.clone();
    let abandoned = tokio::spawn(async move {
        let client = ClientInfo {
            ip: Some(ip.to_owned()),
            user_agent: None,
        };
        auth.login(login_by(Some("alice"), None, password), client)
            .await
    });
    let address = [format!("login:ip:{ip}")];
    let counted = || async { fx.store.rate_peek(&address).await.unwrap()[0].count };
    for _ in 0..500 {
        if counted().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(counted().await, 1, "the attempt was never counted");
    abandoned.abort();
    let outcome = abandoned.await;
    assert!(
        outcome.as_ref().is_err_and(|e| e.is_cancelled()),
        "the login finished before it could be abandoned: {outcome:?}"
    );
    // The check runs on to its end on a task of its own, then settles the attempt.
    for _ in 0..200 {
        if counted().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    counted().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_password_abandoned_while_it_is_checked_counts_for_nothing() {
    // One attempt per address; bcrypt slow enough to abandon a login in the middle of it.
    let fx = init_with(AuthSettings {
        password_hash: services::PasswordScheme::Bcrypt { cost: 8 },
        ..limited(100, 1)
    })
    .await;
    fx.register("alice").await;
    let ip = "198.51.100.30";
    assert_eq!(count_after_abandoning(&fx, ip, PASSWORD).await, 0);
    fx.login_from("alice", PASSWORD, Some(ip)).await.unwrap();
    fx.cleanup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_abandoned_while_it_is_checked_still_counts() {
    // Hanging up mid-check must not buy an uncounted guess (nor uncounted bcrypt work).
    let fx = init_with(AuthSettings {
        password_hash: services::PasswordScheme::Bcrypt { cost: 8 },
        ..limited(100, 1)
    })
    .await;
    fx.register("alice").await;
    let ip = "198.51.100.31";
    assert_eq!(count_after_abandoning(&fx, ip, "wrong password").await, 1);
    let r = fx.login_from("alice", PASSWORD, Some(ip)).await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn per_ip_limit_counts_an_ipv6_client_by_its_slash_64() {
    let fx = init_with(limited(100, 3)).await;
    fx.register("bob").await;
    // Three failures from three addresses of one /64: one client, as far as limits go.
    for (i, name) in ["alice", "nobody", "carol"].into_iter().enumerate() {
        let ip = format!("2001:db8:7:7::{}", i + 1);
        let r = fx.login_from(name, "wrong password", Some(&ip)).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = fx
        .login_from("bob", PASSWORD, Some("2001:db8:7:7:ffff::99"))
        .await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    fx.login_from("bob", PASSWORD, Some("2001:db8:7:8::1"))
        .await
        .unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn per_ip_limit_blocks_other_accounts_from_the_same_ip() {
    let fx = init_with(limited(100, 3)).await;
    fx.register("alice").await;
    fx.register("bob").await;
    let ip = Some("198.51.100.1");
    for name in ["alice", "nobody", "carol"] {
        let r = fx.login_from(name, "wrong password", ip).await;
        assert!(matches!(r, Err(ServiceError::InvalidCredentials)), "{r:?}");
    }
    let r = fx.login_from("bob", PASSWORD, ip).await;
    assert!(matches!(r, Err(ServiceError::RateLimited { .. })), "{r:?}");
    // Another IP is not affected.
    fx.login_from("bob", PASSWORD, Some("198.51.100.2"))
        .await
        .unwrap();
    fx.cleanup();
}

// ---- authenticate ---------------------------------------------------------------------

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

// ---- refresh --------------------------------------------------------------------------

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

// ---- logout and sessions --------------------------------------------------------------

#[tokio::test]
async fn refresh_after_logout_is_rejected() {
    let fx = init().await;
    let (_, tokens, _) = fx.user("alice").await;
    let auth = &fx.services;
    auth.sessions.logout(&tokens.access_token).await.unwrap();
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
    auth.sessions.logout_all(&who).await.unwrap();
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
    auth.sessions.logout(&third.access_token).await.unwrap();
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

    let r = auth.sessions.revoke_session(&mine, &bob.session_id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    auth.sessions
        .authenticate(&bob_tokens.access_token)
        .await
        .unwrap();

    for bad in ["not-a-session", "00000000-0000-4000-8000-000000000000"] {
        let r = auth.sessions.revoke_session(&mine, bad).await;
        assert!(matches!(r, Err(ServiceError::NotFound)), "{bad}: {r:?}");
    }

    auth.sessions
        .revoke_session(&mine, &other_mine.session_id)
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
        .revoke_session(&mine, &other_mine.session_id)
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
        .rehash(id, &creds.password_hash, &new)
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
            stored = creds.unwrap().password_hash.expose().to_owned();
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
