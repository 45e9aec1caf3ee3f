use std::time::Duration;

use crate::mail::MailSettings;
use crate::mfa::MfaSettings;
use crate::password::PasswordScheme;

/// The rules' knobs, read from the environment by the api crate.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Absolute cap of a session, whatever the refreshes.
    pub session_max_lifetime: Duration,
    /// How long the previous refresh token still returns the current pair.
    pub refresh_reuse_grace: Duration,
    /// Clock-skew allowance when checking `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How new passwords are hashed (any stored hash still verifies).
    pub password_hash: PasswordScheme,
    /// Most memory (KiB) the argon2id hashes running at once may take: fewer run at once
    /// than there are cores if they would take more.
    pub password_memory_budget_kib: u64,
    /// Whether a login rehashes an out-of-date hash by `password_hash`.
    pub password_rehash: bool,
    /// Failed logins allowed per account and client IP in one window.
    pub login_max_per_account: u64,
    /// Failed logins allowed per client IP in one window.
    pub login_max_per_ip: u64,
    pub login_window: Duration,
    /// Registrations allowed per client IP in one window.
    pub register_max_per_ip: u64,
    pub register_window: Duration,
    /// Most password checks, and most new hashes, waiting for a hash slot at once.
    pub password_queue: usize,
    /// Mails, their tokens and the outbox.
    pub mail: MailSettings,
    /// The second factor.
    pub mfa: MfaSettings,
    /// The access tokens' signing keys (`JWT_ALGORITHM` and the key life cycle).
    pub signing: crate::signing::SigningSettings,
    /// Who may introspect tokens (`INTROSPECTION_CLIENTS`).
    pub introspection: crate::introspection::IntrospectionSettings,
    /// `ADMIN_REQUIRE_SECOND_FACTOR`: admin routes take only sessions opened with one.
    pub admin_require_second_factor: bool,
    /// `AUDIT_RETENTION`: audit events older than this are deleted.
    pub audit_retention: Duration,
    /// The passkeys' relying party; `None`: passkeys are off (no domain to bind them to).
    pub passkeys: Option<crate::passkeys::PasskeySettings>,
    /// The OpenID Connect providers to sign in with (`OIDC_PROVIDERS`); none by default.
    pub oidc: Vec<crate::oidc::OidcProviderSettings>,
    /// Most OpenID sign-ins one client address may start per minute.
    pub oidc_starts_per_minute: u64,
    /// How long an OpenID flow waits for the provider's redirect back.
    pub oidc_flow_timeout: std::time::Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "strata".into(),
            audience: "strata-api".into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            session_max_lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            leeway: Duration::from_secs(30),
            password_hash: PasswordScheme::default(),
            password_memory_budget_kib: 256 * 1024,
            password_rehash: true,
            login_max_per_account: 10,
            login_max_per_ip: 100,
            login_window: Duration::from_secs(15 * 60),
            register_max_per_ip: 20,
            register_window: Duration::from_secs(3600),
            password_queue: 64,
            mail: MailSettings::default(),
            mfa: MfaSettings::default(),
            signing: crate::signing::SigningSettings::default(),
            introspection: crate::introspection::IntrospectionSettings::default(),
            admin_require_second_factor: false,
            audit_retention: Duration::from_secs(365 * 24 * 3600),
            passkeys: None,
            oidc: Vec::new(),
            oidc_starts_per_minute: 30,
            oidc_flow_timeout: crate::oidc::DEFAULT_FLOW_TTL,
        }
    }
}
