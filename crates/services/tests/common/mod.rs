//! The services tests' fixture: `init()` builds every service over real repositories on a
//! fresh SQLite database and an in-memory token store; dropping the [`Fixture`] (or calling
//! [`Fixture::cleanup`]) closes the pool and deletes the database file.
//!
//! Each test binary uses only some of the helpers.
#![allow(dead_code)]

use db::{Backend, PoolOptions};
use services::infra::{AnyTokenStore, MemoryTokenStore, TaskRepo, UserRepo};
use services::Repos;
use services::{
    AuthSettings, ClientInfo, JwtKeys, LoginInput, Principal, ServiceError, Services, SignIn,
    TokenPair, User,
};
use testkit::{random_name, TestDatabase};

/// A fixed test secret: 32 bytes, 64 hex digits.
pub const SECRET: &str = "5f3a9c0e7b21d4681f0e2c3b4a5968778695a4b3c2d1e0f01234567890abcdef";

/// The password every helper-made user gets.
pub const PASSWORD: &str = "correct horse battery";

/// The settings of the tests: the defaults, with bcrypt at its cheapest cost so that
/// hashing does not dominate the run.
pub fn test_settings() -> AuthSettings {
    AuthSettings {
        password_hash: services::PasswordScheme::Bcrypt { cost: 4 },
        // Helpers register many accounts from one (unknown) address.
        register_max_per_ip: 1_000_000,
        ..Default::default()
    }
}

/// Everything one test runs on. The fields drop in declaration order: the services and the
/// repositories (and with them the connection pool) first, then the database itself, whose
/// `Drop` deletes the SQLite file and its `-wal`/`-shm` companions. That is the clean-up,
/// and it also runs when the test panics.
pub struct Fixture {
    pub services: Services,
    /// The same pool as the services, to check what is stored (e.g. a user's task count).
    pub tasks_repo: TaskRepo,
    pub users_repo: UserRepo,
    /// The same token store as the services, to look at what is stored (a counter).
    pub store: AnyTokenStore,
    /// The same pool, for a generated resource's repository.
    pub database: db::Database,
    /// Kept last so it is dropped last.
    db: TestDatabase,
}

/// A fresh fixture with [`test_settings`].
pub async fn init() -> Fixture {
    init_with(test_settings()).await
}

/// A fresh fixture with the given settings (start from [`test_settings`]).
pub async fn init_with(settings: AuthSettings) -> Fixture {
    build(SECRET, settings)
}

/// A fresh fixture signing with another secret (to show tokens do not cross keys).
pub async fn init_with_secret(secret: &str) -> Fixture {
    build(secret, test_settings())
}

fn build(secret: &str, settings: AuthSettings) -> Fixture {
    let db = TestDatabase::create(Backend::Sqlite)
        .unwrap_or_else(|e| panic!("creating the test database: {e:?}"));
    let pool = db::init_db(&db.url(), PoolOptions::default()).expect("migrating the test database");
    let repos = Repos::over(pool, AnyTokenStore::Memory(MemoryTokenStore::new()));
    let keys = JwtKeys::new(secret, None, &settings).expect("test secret is valid");
    let services = Services::new(repos.clone(), keys, settings);
    let Repos {
        users: users_repo,
        tasks: tasks_repo,
        store,
        db: database,
        ..
    } = repos;
    Fixture {
        services,
        tasks_repo,
        users_repo,
        store,
        database,
        db,
    }
}

impl Fixture {
    /// Ends the test explicitly: the pool closes, then the database is deleted.
    pub fn cleanup(self) {
        let Fixture {
            services,
            tasks_repo,
            users_repo,
            store,
            database,
            db,
        } = self;
        drop(services);
        drop(tasks_repo);
        drop(users_repo);
        drop(store);
        drop(database);
        drop(db);
    }

    /// Registers `name` with `<name>@example.com` and [`PASSWORD`].
    pub async fn register(&self, name: &str) -> User {
        self.services
            .registration
            .register(
                name,
                &format!("{name}@example.com"),
                PASSWORD,
                &ClientInfo::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("registering {name}: {e:?}"))
    }

    /// Logs in by username from no particular client.
    pub async fn login(&self, name: &str, password: &str) -> Result<TokenPair, ServiceError> {
        self.login_from(name, password, None).await
    }

    /// Logs in by username from `ip` (an account without a second factor: its session's
    /// tokens).
    pub async fn login_from(
        &self,
        name: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<TokenPair, ServiceError> {
        let signed_in = self
            .services
            .sign_in
            .login(
                LoginInput {
                    username: Some(name.to_owned()),
                    email: None,
                    password: password.to_owned(),
                },
                ClientInfo {
                    ip: ip.map(str::to_owned),
                    user_agent: Some("services-tests".into()),
                },
            )
            .await?;
        Ok(complete(signed_in))
    }

    /// Logs `name` in with [`PASSWORD`] and authenticates the access token: a new session.
    pub async fn session(&self, name: &str) -> (TokenPair, Principal) {
        let tokens = self
            .login(name, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("logging in {name}: {e:?}"));
        let who = self
            .services
            .sessions
            .authenticate(&tokens.access_token)
            .await
            .unwrap_or_else(|e| panic!("authenticating {name}: {e:?}"));
        (tokens, who)
    }

    /// Registers and logs in `name`: the user, their tokens and who they are.
    pub async fn user(&self, name: &str) -> (User, TokenPair, Principal) {
        let user = self.register(name).await;
        let (tokens, who) = self.session(name).await;
        (user, tokens, who)
    }

    /// Registers and logs in a user with a random name.
    pub async fn someone(&self) -> (User, TokenPair, Principal) {
        self.user(&random_name("u")).await
    }
}

/// The tokens of a sign-in that opened its session; panics when a second factor is owed.
#[track_caller]
pub fn complete(signed_in: SignIn) -> TokenPair {
    match signed_in {
        SignIn::Complete(pair) => pair,
        SignIn::SecondFactor(_) => panic!("a second factor was asked for"),
    }
}

/// The field names of a `Validation` error, in order; panics on any other outcome.
#[track_caller]
pub fn fields<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> Vec<String> {
    match r {
        Err(ServiceError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Awaits password attempts run as tasks: how many were checked (`InvalidCredentials`) and
/// how many refused (`RateLimited`). Anything else fails the test.
pub async fn checked_and_refused<T: std::fmt::Debug>(
    attempts: Vec<tokio::task::JoinHandle<Result<T, ServiceError>>>,
) -> (usize, usize) {
    let (mut checked, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.expect("the attempt's task") {
            Err(ServiceError::InvalidCredentials) => checked += 1,
            Err(ServiceError::RateLimited { .. }) => refused += 1,
            other => panic!("expected a wrong password or a refusal, got {other:?}"),
        }
    }
    (checked, refused)
}
