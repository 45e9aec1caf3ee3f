//! Services layer: the business rules of accounts, sessions and tasks.
//!
//! It parses raw input into domain types, hashes and verifies passwords, signs and checks
//! JWTs, and calls the repositories. It may import `repos` (never `models` or `db`
//! directly, never SQL or Redis) and knows nothing of HTTP.

pub mod admin;
mod attempts;
pub mod audit;
pub mod bootstrap;
pub(crate) mod ceremonies;
mod client;
pub mod domain;
pub mod error;
pub mod health;
pub mod introspection;
pub mod jwt;
pub mod mail;
pub mod mfa;
pub mod oidc;
mod outcomes;
pub mod paging;
pub mod passkeys;
pub mod password;
mod proofs;
mod reads;
pub mod recovery;
pub mod registration;
pub mod seal;
pub mod sessions;
pub mod settings;
pub mod signin;
pub mod signing;
pub mod tasks;
mod timestamp;
pub mod users;
pub mod views;

// The generated resources' services (the list is the workspace's resources.rs): a module
// each, and a field of [`Resources`].
include!("../../../resources.rs");
macro_rules! resource_services {
    ($($name:ident: $service:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// The services of the resources added with `cargo xtask new-resource`, a field
        /// each, named like its routes (`services.resources.notes`).
        #[derive(Clone)]
        pub struct Resources {
            $(pub $name: $name::$service,)*
        }

        impl Resources {
            /// Each resource's service over its repository on `database`.
            #[allow(unused_variables)]
            fn over(database: &repos::database::Database) -> Self {
                Self { $($name: $name::$service::over(database.clone()),)* }
            }
        }
    };
}
with_resources!(resource_services);

/// Makes rustls on ring the process's TLS provider. reqwest is built without one of its own
/// (the workspace's TLS is lettre's ring), and every reqwest client, the OpenID providers'
/// and the OTLP exporter's alike, needs it before it is built. A second call does nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub use bootstrap::{Infra, StartupError};
pub use client::ClientInfo;
pub use error::{FieldError, ServiceError};
pub use health::{HealthService, InfraStats};
pub use jwt::{JwtKeys, SecretError};
pub use mail::{Courier, Delivery, MailSettings};
pub use mfa::{MfaService, MfaSettings};
pub use password::PasswordScheme;
pub use recovery::RecoveryService;
pub use registration::Registration;
pub use repos::RedisOptions;
pub use sessions::{Principal, Sessions};
pub use settings::AuthSettings;
pub use signin::{Challenge, LoginInput, PasswordSignIn, SecondStep, SignIn};
pub use tasks::{NewTaskInput, TaskListInput, TaskPatchInput, TaskService};
pub use users::UserService;
pub use views::{BackupCodes, Enrolment, PublicUser, SessionView, Task, TaskPage, TokenPair, User};

/// The repositories and stores the services run on, re-exported so the binary can build
/// them without naming the `repos` crate.
pub mod infra {
    pub use repos::{
        AnyTokenStore, MailedTokenRepo, MemoryTokenStore, MfaRepo, OutboxRepo, PasswordHash,
        RateCounters, RedisOptions, RedisTokenStore, SessionStore, SignInChallenges, TaskRepo,
        UserRepo,
    };
}

/// The repositories and the token store the services run on. A new repository is a new
/// field here, read in [`Services::new`].
#[derive(Clone)]
pub struct Repos {
    pub database: repos::DatabaseProbe,
    pub users: repos::UserRepo,
    pub tasks: repos::TaskRepo,
    pub mailed_tokens: repos::MailedTokenRepo,
    pub outbox: repos::OutboxRepo,
    pub mfa: repos::MfaRepo,
    pub store: repos::AnyTokenStore,
    /// The database itself, for the generated resources' repositories.
    pub db: repos::database::Database,
}

impl Repos {
    /// Every repository over one database, with `store`.
    pub fn over(database: repos::database::Database, store: repos::AnyTokenStore) -> Self {
        Self {
            database: repos::DatabaseProbe::new(database.clone()),
            users: repos::UserRepo::new(database.clone()),
            tasks: repos::TaskRepo::new(database.clone()),
            mailed_tokens: repos::MailedTokenRepo::new(database.clone()),
            outbox: repos::OutboxRepo::new(database.clone()),
            mfa: repos::MfaRepo::new(database.clone()),
            store,
            db: database,
        }
    }
}

/// Every service, built once at start-up and shared by all requests.
#[derive(Clone)]
pub struct Services {
    pub registration: Registration,
    /// The password step of a sign-in.
    pub sign_in: PasswordSignIn,
    /// The second-factor step of a sign-in.
    pub second_step: SecondStep,
    pub sessions: Sessions,
    pub users: UserService,
    pub tasks: TaskService,
    pub recovery: RecoveryService,
    pub mfa: MfaService,
    pub health: HealthService,
    /// The resources added with `cargo xtask new-resource`.
    pub resources: Resources,
    /// The access tokens' signing keys and their life cycle.
    pub signing: signing::SigningKeys,
    /// RFC 7662 introspection, for resource servers.
    pub introspection: introspection::Introspection,
    /// Builds and queues mails; [`Courier::new`] takes it to deliver them.
    pub mailer: mail::Mailer,
    /// The admin routes.
    pub admin: admin::Admin,
    /// The audit trail (and its retention worker, [`audit::Audit::run`]).
    pub audit: audit::Audit,
    /// An account's passkeys.
    pub passkeys: passkeys::Passkeys,
    /// Signing in with a passkey.
    pub passkey_sign_in: passkeys::PasskeySignIn,
    /// Signing in with an OpenID Connect provider.
    pub oidc: oidc::Oidc,
}

impl Services {
    /// Wires the services over the repositories and the token store: the pieces several
    /// of them share (the password pool, the attempt counters, the proofs, the sessions)
    /// are made once here and handed to each.
    pub fn new(repos: Repos, keys: JwtKeys, settings: AuthSettings) -> Self {
        let Repos {
            database,
            users,
            tasks,
            mailed_tokens,
            outbox,
            mfa,
            store,
            db,
        } = repos;
        let reads = reads::Reads::new(repos::ReadYourWrites::new(db.clone(), store.clone()));
        let passwords = password::Passwords::new(
            settings.password_hash,
            settings.password_memory_budget_kib,
            settings.password_queue,
        );
        let mailer = mail::Mailer::new(
            settings.mail.clone(),
            mail::Sealer::new(keys.outbox_keys()),
            outbox,
            store.clone(),
        );
        let mfa_keys = (settings.mfa.keys.clone()).unwrap_or_else(|| keys.derived_mfa_keys());
        let factor = mfa::SecondFactor::new(mfa.clone(), mfa_keys);
        let attempts = attempts::Attempts::new(store.clone(), settings.login_window);
        let limits = proofs::Limits {
            per_account: settings.login_max_per_account,
            per_ip: settings.login_max_per_ip,
        };
        let proofs = proofs::Proofs::new(attempts.clone(), passwords.clone(), factor, limits);
        let signing = signing::SigningKeys::new(
            repos::SigningKeyRepo::new(db.clone()),
            &settings,
            keys.ring(),
        );
        let audit = audit::Audit::new(repos::AuditRepo::new(db.clone()), settings.audit_retention);
        let admin = admin::Admin {
            users: users.clone(),
            repo: repos::AdminRepo::new(db.clone()),
            mfa: mfa.clone(),
            store: store.clone(),
            audit: audit.clone(),
            mailer: mailer.clone(),
            require_second_factor: settings.admin_require_second_factor,
            reads: reads.clone(),
            passkeys: repos::PasskeyRepo::new(db.clone()),
        };
        // Checked at start-up already (`PasskeySettings::relying_party`).
        let webauthn = settings
            .passkeys
            .as_ref()
            .and_then(|p| p.relying_party().ok());
        let max_passkeys = settings.passkeys.as_ref().map_or(0, |p| p.max_per_account);
        let options_per_minute = settings
            .passkeys
            .as_ref()
            .map_or(0, |p| p.options_per_minute);
        let (passkey_timeout, passkey_cap) = settings.passkeys.as_ref().map_or(
            (passkeys::DEFAULT_TIMEOUT, passkeys::DEFAULT_MAX_WAITING),
            |p| (p.timeout, p.max_waiting),
        );
        let ceremonies =
            |kind| passkeys::Ceremonies::new(store.clone(), kind, passkey_timeout, passkey_cap);
        let passkey_repo = repos::PasskeyRepo::new(db.clone());
        let settings = std::sync::Arc::new(settings);
        let sessions = Sessions::new(
            users.clone(),
            store.clone(),
            keys,
            settings.clone(),
            audit.clone(),
        );
        let introspection = introspection::Introspection::new(
            settings.introspection.clone(),
            sessions.clone(),
            users.clone(),
            store.clone(),
        );
        let second_step = SecondStep::new(
            users.clone(),
            store.clone(),
            proofs.clone(),
            sessions.clone(),
            settings.mfa.clone(),
        );
        let sign_in = PasswordSignIn::new(
            users.clone(),
            store.clone(),
            passwords.clone(),
            attempts,
            sessions.clone(),
            second_step.clone(),
            signin::PasswordSignInRules {
                limits,
                require_verification: settings.mail.require_verification,
                rehash: settings.password_rehash,
            },
        );
        let registration = Registration::new(
            users.clone(),
            store.clone(),
            passwords.clone(),
            mailer.clone(),
            registration::RegistrationLimits {
                max_per_ip: settings.register_max_per_ip,
                window: settings.register_window,
            },
            reads.clone(),
        );
        let mfa = MfaService::new(
            users.clone(),
            mfa,
            proofs.clone(),
            sessions.clone(),
            mailer.clone(),
            settings.mfa.issuer.clone(),
            reads.clone(),
        );
        let recovery = RecoveryService::new(
            users.clone(),
            mailed_tokens.clone(),
            mailer.clone(),
            passwords.clone(),
            store.clone(),
            sessions.clone(),
            reads.clone(),
        );
        let passkeys = passkeys::Passkeys {
            webauthn: webauthn.clone(),
            repo: passkey_repo.clone(),
            users: users.clone(),
            waiting: ceremonies(passkeys::REGISTRATION),
            proofs: proofs.clone(),
            audit: audit.clone(),
            mailer: mailer.clone(),
            max_per_account: max_passkeys,
        };
        let passkey_sign_in = passkeys::PasskeySignIn {
            webauthn,
            repo: passkey_repo,
            users: users.clone(),
            store: store.clone(),
            waiting: ceremonies(passkeys::signin::SIGN_IN),
            sessions: sessions.clone(),
            audit: audit.clone(),
            options_per_minute,
        };
        let oidc = oidc::Oidc::new(
            oidc::Providers::new(settings.oidc.clone()),
            store.clone(),
            repos::IdentityRepo::new(db.clone()),
            users.clone(),
            sessions.clone(),
            second_step.clone(),
            (proofs.clone(), mailer.clone(), audit.clone()),
            oidc::OidcLimits {
                starts_per_minute: settings.oidc_starts_per_minute,
                flow_ttl: settings.oidc_flow_timeout,
            },
            &settings.mail.public_url,
        );
        let users = UserService {
            users,
            mailed_tokens,
            mailer: mailer.clone(),
            store: store.clone(),
            proofs,
            sessions: sessions.clone(),
            passwords,
            reads: reads.clone(),
        };
        Self {
            health: HealthService::new(database, store),
            registration,
            sign_in,
            second_step,
            sessions,
            users,
            tasks: TaskService::new(tasks, reads),
            resources: Resources::over(&db),
            signing,
            introspection,
            recovery,
            mfa,
            mailer,
            admin,
            audit,
            passkeys,
            passkey_sign_in,
            oidc,
        }
    }
}
