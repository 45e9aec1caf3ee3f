//! Services layer: the business rules of accounts, sessions and tasks.
//!
//! It parses raw input into domain types, hashes and verifies passwords, signs and checks
//! JWTs, and calls the repositories. It may import `repos` (never `models` or `db`
//! directly, never SQL or Redis) and knows nothing of HTTP.

mod attempts;
pub mod auth;
pub mod bootstrap;
pub mod domain;
pub mod error;
pub mod health;
pub mod jwt;
pub mod mail;
pub mod mfa;
pub mod paging;
pub mod password;
pub mod recovery;
mod rfc3339;
mod seal;
mod sessions;
pub mod settings;
pub mod tasks;
pub mod users;
pub mod views;

pub use auth::{AuthService, ClientInfo, LoginInput, Principal};
pub use bootstrap::{Infra, StartupError};
pub use error::{FieldError, ServiceError};
pub use health::{HealthService, InfraStats};
pub use jwt::{JwtKeys, SecretError};
pub use mail::{Delivery, MailSettings, OutboxWorker};
pub use mfa::{MfaService, MfaSettings};
pub use password::PasswordScheme;
pub use recovery::RecoveryService;
pub use repos::RedisOptions;
pub use settings::AuthSettings;
pub use tasks::{NewTaskInput, TaskListInput, TaskPatchInput, TaskService};
pub use users::UserService;
pub use views::{
    Enrolment, PublicUser, RecoveryCodes, SessionView, Task, TaskPage, TokenPair, User,
};

/// The repositories and stores the services run on, re-exported so the binary can build
/// them without naming the `repos` crate.
pub mod infra {
    pub use repos::{
        AnyTokenStore, MemoryTokenStore, MfaRepo, OneTimeRepo, OutboxRepo, PasswordHash,
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
    pub tokens: repos::OneTimeRepo,
    pub outbox: repos::OutboxRepo,
    pub mfa: repos::MfaRepo,
    pub store: repos::AnyTokenStore,
}

impl Repos {
    /// Every repository over one database, with `store`.
    pub fn over(database: repos::database::Database, store: repos::AnyTokenStore) -> Self {
        Self {
            database: repos::DatabaseProbe::new(database.clone()),
            users: repos::UserRepo::new(database.clone()),
            tasks: repos::TaskRepo::new(database.clone()),
            tokens: repos::OneTimeRepo::new(database.clone()),
            outbox: repos::OutboxRepo::new(database.clone()),
            mfa: repos::MfaRepo::new(database),
            store,
        }
    }
}

/// Every service, built once at start-up and shared by all requests.
#[derive(Clone)]
pub struct Services {
    pub auth: AuthService,
    pub users: UserService,
    pub tasks: TaskService,
    pub recovery: RecoveryService,
    pub mfa: MfaService,
    pub health: HealthService,
    /// Builds and queues mails; [`OutboxWorker::new`] takes it to deliver them.
    pub letters: mail::Letters,
}

impl Services {
    /// Wires the services over the repositories and the token store.
    pub fn new(repos: Repos, keys: JwtKeys, settings: AuthSettings) -> Self {
        let Repos {
            database,
            users,
            tasks,
            tokens,
            outbox,
            mfa,
            store,
        } = repos;
        let passwords = password::Passwords::new(
            settings.password_hash,
            settings.password_memory_budget_kib,
            settings.password_queue,
        );
        let letters = mail::Letters::new(
            settings.mail.clone(),
            mail::Sealer::new(keys.outbox_keys()),
            outbox,
            store.clone(),
        );
        let health = HealthService::new(database, store.clone());
        let mfa_keys = (settings.mfa.keys.clone()).unwrap_or_else(|| keys.derived_mfa_keys());
        let factor = mfa::SecondFactor::new(mfa.clone(), mfa_keys);
        let issuer = settings.mfa.issuer.clone();
        let auth = AuthService::new(
            users.clone(),
            store,
            keys,
            settings,
            passwords.clone(),
            letters.clone(),
            factor,
        );
        let mfa = MfaService::new(users.clone(), mfa, auth.clone(), letters.clone(), issuer);
        let recovery = RecoveryService::new(
            users.clone(),
            tokens.clone(),
            letters.clone(),
            passwords.clone(),
            auth.clone(),
        );
        Self {
            health,
            users: UserService::new(users, tokens, letters.clone(), auth.clone(), passwords),
            tasks: TaskService::new(tasks),
            recovery,
            mfa,
            letters,
            auth,
        }
    }
}
