//! The admin service over real repositories (a fresh SQLite database each, so the count of
//! admins is the test's own): the last-admin rule (its race is in the repos suite); a ban
//! racing sign-ins (no session outlives it); a ban's effect on every way in; the audit
//! trail's owner view and its retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{init, init_with, test_settings, PASSWORD};
use services::admin::Acting;
use services::{ClientInfo, ServiceError};

fn cli() -> Acting {
    Acting {
        admin_id: None,
        client: ClientInfo::default(),
    }
}

fn by(id: &str) -> Acting {
    Acting {
        admin_id: Some(id.to_owned()),
        client: ClientInfo {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("admin-console".into()),
        },
    }
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_banned_or_deleted() {
    let fx = init().await;
    let (a, _, _) = fx.user("ada").await;
    let (b, _, _) = fx.user("bob").await;
    let admin = &fx.services.admin;
    admin.set_role(&cli(), &a.id, "admin").await.unwrap();
    let last = |r: Result<_, ServiceError>| matches!(r, Err(ServiceError::LastAdmin));
    assert!(last(admin.set_role(&cli(), &a.id, "user").await.map(drop)));
    assert!(last(
        admin.ban(&by(&b.id), &a.id, None, None).await.map(drop)
    ));
    assert!(last(admin.delete(&by(&b.id), &a.id).await));
    assert!(matches!(
        admin.ban(&by(&a.id), &a.id, None, None).await,
        Err(ServiceError::CannotBanSelf)
    ));
    // Nor may it delete its own account; it stays signed in.
    let (_, own) = fx.session("ada").await;
    assert!(matches!(
        fx.services.users.delete_account(&own, PASSWORD).await,
        Err(ServiceError::LastAdmin)
    ));
    fx.services
        .sessions
        .authenticate(&fx.session("ada").await.0.access_token)
        .await
        .unwrap();
    fx.services.users.me(&own).await.unwrap();
    // With a second admin, either may go.
    admin.set_role(&by(&a.id), &b.id, "admin").await.unwrap();
    admin.set_role(&by(&a.id), &b.id, "user").await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn a_ban_ends_every_session_and_refuses_the_right_password_only() {
    let fx = init().await;
    let (root, _, _) = fx.user("root").await;
    fx.services
        .admin
        .set_role(&cli(), &root.id, "admin")
        .await
        .unwrap();
    let (victim, tokens, _) = fx.user("victim").await;
    fx.services
        .admin
        .ban(&by(&root.id), &victim.id, None, Some("spam".into()))
        .await
        .unwrap();
    let me = fx
        .services
        .sessions
        .authenticate(&tokens.access_token)
        .await;
    assert!(matches!(me, Err(ServiceError::TokenRevoked)), "{me:?}");
    let refreshed = fx.services.sessions.refresh(&tokens.refresh_token).await;
    assert!(refreshed.is_err(), "{refreshed:?}");
    assert!(matches!(
        fx.login("victim", PASSWORD).await,
        Err(ServiceError::AccountBanned { until: None })
    ));
    assert!(matches!(
        fx.login("victim", "not the password").await,
        Err(ServiceError::InvalidCredentials)
    ));
    fx.services
        .admin
        .lift_ban(&by(&root.id), &victim.id)
        .await
        .unwrap();
    fx.login("victim", PASSWORD).await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn a_ban_racing_sign_ins_leaves_no_session_alive() {
    let fx = init().await;
    let (root, _, _) = fx.user("root").await;
    fx.services
        .admin
        .set_role(&cli(), &root.id, "admin")
        .await
        .unwrap();
    for round in 0..8 {
        let name = format!("racer{round}");
        let (victim, _, _) = fx.user(&name).await;
        let mut logins = Vec::new();
        for _ in 0..4 {
            let (services, name) = (fx.services.clone(), name.clone());
            logins.push(tokio::spawn(async move {
                services
                    .sign_in
                    .login(
                        services::LoginInput {
                            username: Some(name),
                            email: None,
                            password: PASSWORD.into(),
                        },
                        ClientInfo::default(),
                    )
                    .await
            }));
        }
        fx.services
            .admin
            .ban(&by(&root.id), &victim.id, None, None)
            .await
            .unwrap();
        for login in logins {
            match login.await.unwrap() {
                Ok(services::SignIn::Complete(pair)) => {
                    let alive = fx.services.sessions.authenticate(&pair.access_token).await;
                    assert!(alive.is_err(), "round {round}: a session outlived the ban");
                }
                Ok(other) => panic!("{other:?}"),
                Err(ServiceError::AccountBanned { .. } | ServiceError::TokenRevoked) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
    }
    fx.cleanup();
}

#[tokio::test]
async fn a_ban_racing_refreshes_leaves_no_session_alive() {
    let fx = init().await;
    let (root, _, _) = fx.user("root").await;
    fx.services
        .admin
        .set_role(&cli(), &root.id, "admin")
        .await
        .unwrap();
    for round in 0..8 {
        let name = format!("fresh{round}");
        let (victim, _, _) = fx.user(&name).await;
        let mut refreshes = Vec::new();
        for _ in 0..4 {
            let (tokens, _) = fx.session(&name).await;
            let services = fx.services.clone();
            refreshes.push(tokio::spawn(async move {
                services.sessions.refresh(&tokens.refresh_token).await
            }));
        }
        fx.services
            .admin
            .ban(&by(&root.id), &victim.id, None, None)
            .await
            .unwrap();
        for refresh in refreshes {
            if let Ok(pair) = refresh.await.unwrap() {
                let alive = fx.services.sessions.authenticate(&pair.access_token).await;
                assert!(
                    alive.is_err(),
                    "round {round}: a refreshed pair outlived the ban"
                );
                assert!(fx
                    .services
                    .sessions
                    .refresh(&pair.refresh_token)
                    .await
                    .is_err());
            }
        }
    }
    fx.cleanup();
}

#[tokio::test]
async fn a_ban_with_an_end_lifts_itself() {
    let fx = init().await;
    let (root, _, _) = fx.user("root").await;
    fx.services
        .admin
        .set_role(&cli(), &root.id, "admin")
        .await
        .unwrap();
    let (victim, _, _) = fx.user("victim").await;
    let until = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    let banned = fx
        .services
        .admin
        .ban(&by(&root.id), &victim.id, Some(until), None)
        .await
        .unwrap();
    assert!(banned.banned && banned.banned_until.is_some());
    assert!(matches!(
        fx.login("victim", PASSWORD).await,
        Err(ServiceError::AccountBanned { until: Some(_) })
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fx.login("victim", PASSWORD).await.unwrap();
    fx.cleanup();
}

#[tokio::test]
async fn the_owner_sees_sign_ins_and_admin_acts_without_the_admin_and_old_events_go() {
    let fx = init_with(services::AuthSettings {
        audit_retention: Duration::from_secs(1),
        ..test_settings()
    })
    .await;
    let (root, _, _) = fx.user("root").await;
    fx.services
        .admin
        .set_role(&cli(), &root.id, "admin")
        .await
        .unwrap();
    let (victim, _, who) = fx.user("victim").await;
    fx.services
        .admin
        .end_sessions(&by(&root.id), &victim.id)
        .await
        .unwrap();
    let page = fx
        .services
        .audit
        .for_owner(&who.user_id, None, 10)
        .await
        .unwrap();
    let kinds: Vec<&str> = page.items.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["admin_sessions_ended", "signed_in", "registered"],
        "newest first"
    );
    assert!(page.items[0].by_admin && !page.items[1].by_admin);
    assert_eq!(
        (
            page.items[0].ip.as_deref(),
            page.items[0].user_agent.as_deref()
        ),
        (None, None),
        "nor the admin's client"
    );
    let shown = serde_json::to_string(&page.items).unwrap();
    assert!(!shown.contains(&root.id), "the admin is not named: {shown}");
    assert_eq!(page.items[1].details["method"], "password");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(fx.services.audit.prune().await.unwrap() >= 4);
    let left = fx
        .services
        .audit
        .for_owner(&who.user_id, None, 10)
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
    fx.cleanup();
}

/// The kinds of `user_id`'s history, oldest first.
async fn kinds_of(fx: &common::Fixture, user_id: &str) -> Vec<String> {
    let page = fx
        .services
        .audit
        .for_owner(user_id, None, 100)
        .await
        .unwrap();
    page.items.into_iter().rev().map(|e| e.kind).collect()
}

#[tokio::test]
async fn each_change_to_an_account_and_its_sessions_is_recorded_once() {
    let fx = init().await;
    let (user, first, who) = fx.user("walker").await;
    let (second, _) = fx.session("walker").await;
    let (_, third_who) = fx.session("walker").await;
    fx.services
        .sessions
        .logout(&second.access_token, &services::ClientInfo::default())
        .await
        .unwrap();
    fx.services
        .sessions
        .revoke_session(
            &who,
            &third_who.session_id,
            &services::ClientInfo::default(),
        )
        .await
        .unwrap();
    // A refresh token presented twice (past the grace) ends its session.
    let rotated = fx
        .services
        .sessions
        .refresh(&first.refresh_token)
        .await
        .unwrap();
    fx.services
        .sessions
        .refresh(&rotated.refresh_token)
        .await
        .unwrap();
    let reused = fx.services.sessions.refresh(&first.refresh_token).await;
    assert!(reused.is_err());
    let (_, who) = fx.session("walker").await;
    fx.services
        .sessions
        .logout_all(&who, &services::ClientInfo::default())
        .await
        .unwrap();
    let (_, who) = fx.session("walker").await;
    fx.services
        .users
        .change_password(&who, PASSWORD, "a brand new passphrase")
        .await
        .unwrap();
    fx.services
        .users
        .delete_account(&who, "a brand new passphrase")
        .await
        .unwrap();
    assert_eq!(
        kinds_of(&fx, &user.id).await,
        [
            "registered",
            "signed_in",
            "signed_in",
            "signed_in",
            "signed_out",
            "session_revoked",
            "refresh_reuse_detected",
            "signed_in",
            "all_sessions_revoked",
            "signed_in",
            "password_changed",
            "account_deleted",
        ]
    );
    fx.cleanup();
}

#[tokio::test]
async fn where_admins_need_a_second_factor_an_account_without_one_is_not_made_admin() {
    let fx = init_with(services::AuthSettings {
        admin_require_second_factor: true,
        ..test_settings()
    })
    .await;
    let (plain, _, who) = fx.user("plain").await;
    let refused = fx.services.admin.set_role(&cli(), &plain.id, "admin").await;
    assert_eq!(common::fields(refused), ["role"]);
    assert!(matches!(
        fx.services.admin.authorize(&who).await,
        Err(ServiceError::Forbidden)
    ));
    fx.cleanup();
}
