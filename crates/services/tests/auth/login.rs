//! Login: by username or email, one answer for wrong and unknown, and its limits.

use super::*;

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

#[tokio::test]
async fn an_account_without_a_password_is_not_signed_in_by_any_password() {
    let fx = init().await;
    // An account made by a provider's sign-in: a proven address, no password.
    let identities = repos::IdentityRepo::new(fx.database.clone());
    let provider = repos::ProviderAccount {
        provider: "corp".into(),
        issuer: "https://sso.example.com".into(),
        subject: "248289761001".into(),
        email: Some("carol@example.com".into()),
    };
    identities
        .create_account(
            &domain::Username::parse("carol").unwrap(),
            &domain::Email::parse("carol@example.com").unwrap(),
            provider,
            None,
        )
        .await
        .unwrap();
    for guess in [PASSWORD, "strata dummy password", " "] {
        let refused = fx.login("carol", guess).await;
        assert!(
            matches!(refused, Err(ServiceError::InvalidCredentials)),
            "{guess:?}: {refused:?}"
        );
    }
    fx.cleanup();
}
