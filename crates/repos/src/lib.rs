//! Repositories layer: the only code that runs SQL (through `db` and the `models` schema)
//! or token-store commands (Redis through deadpool-redis, or the in-memory store).
//!
//! It may import `db` and `models`; nothing above it. What it hands up carries no row
//! struct with secrets in it: a password hash leaves only inside [`users::Credentials`].

pub mod admin;
pub mod audit;
pub mod error;
pub mod identities;
pub mod mail;
pub mod mailed_tokens;
pub mod mfa;
pub mod outbox;
pub mod paging;
pub mod passkeys;
pub mod probe;
pub mod read_your_writes;
pub mod signing_keys;
pub mod tasks;
pub mod token_store;
pub mod users;

mod clock;
mod lock;

// The generated resources' repositories, a module each (the list is the workspace's
// resources.rs).
include!("../../../resources.rs");
macro_rules! resource_modules {
    ($($name:ident: $service:ident),* $(,)?) => { $(pub mod $name;)* };
}
with_resources!(resource_modules);

/// Opening the database, re-exported so the layers above can start the service without
/// naming the `db` crate.
pub mod database {
    pub use db::{
        connect, default_pool_size, init_db, migrate, redact_url, Backend, Database,
        DatabaseConfig, DatabaseUrl, DbError, Freshness, PoolOptions, PoolStats, Pooler,
        ReplicaState, ReplicaStatus, DEFAULT_DATABASE_URL,
    };
}

pub use admin::{AdminRepo, UserSearch, UserStatus};
pub use audit::{AuditEvent, AuditQuery, AuditRepo};
pub use clock::now_utc;
pub use error::{RepoError, Unique};
pub use identities::{IdentityRecord, IdentityRepo, Linked, ProviderAccount, Unlinked};
pub use mail::{NewMail, NewMailedToken};
pub use mailed_tokens::{MailedTokenRepo, PasswordReset, Verified};
pub use mfa::MfaRepo;
pub use outbox::{Backlog, ClaimedMail, OutboxRepo};
pub use paging::Page;
pub use passkeys::{Added, PasskeyRecord, PasskeyRepo, PasskeyUse};
pub use probe::DatabaseProbe;
pub use read_your_writes::ReadYourWrites;
pub use signing_keys::{SigningKeyRecord, SigningKeyRepo};
pub use tasks::{TaskPage, TaskQuery, TaskRecord, TaskRepo};
pub use token_store::{
    AnyTokenStore, ChallengeTry, MemoryTokenStore, NewSession, PairState, RateCounters,
    RedisOptions, RedisStats, RedisTokenStore, Rotation, RotationRequest, SessionInfo,
    SessionStore, SignInChallenge, SignInChallenges, SingleUse, WriteMarks,
};
pub use users::{Ban, Credentials, PasswordHash, TotpState, UserRecord, UserRepo};
