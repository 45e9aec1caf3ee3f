//! Registration: the user it returns, taken names, and every bad field at once.

use super::*;

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
