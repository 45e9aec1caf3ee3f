//! The `identities` table: users' accounts at OpenID Connect providers, found by
//! (provider, subject) at sign-in. An account made by a provider's sign-in is created here
//! together with its first identity, in one transaction.

use chrono::NaiveDateTime;
use db::{on_backend, Database};
use diesel::prelude::*;
use domain::{Email, Username};
use models::schema::identities;
use models::Identity;

use crate::error::one_row;
use crate::users::{insert_new, new_row, split_account};
use crate::{RepoError, UserRecord};

/// An identity row.
pub type IdentityRecord = Identity;

/// Who a provider says signed in: its name, its `sub`, and the address it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
}

/// Reads and writes `identities`.
#[derive(Debug, Clone)]
pub struct IdentityRepo {
    db: Database,
}

impl IdentityRepo {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The identity a provider's account is linked to, if any.
    pub async fn find(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<IdentityRecord>, RepoError> {
        let (provider, subject) = (provider.to_owned(), subject.to_owned());
        self.db
            .run(move |conn| {
                let found = identities::table
                    .filter(identities::provider.eq(&provider))
                    .filter(identities::subject.eq(&subject));
                Ok(on_backend!(conn, |c| found
                    .select(Identity::as_select())
                    .first(c)
                    .optional())?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// The user's identities, oldest first.
    pub async fn for_user(&self, user_id: &str) -> Result<Vec<IdentityRecord>, RepoError> {
        let user_id = user_id.to_owned();
        self.db
            .run(move |conn| {
                let mine = identities::table
                    .filter(identities::user_id.eq(&user_id))
                    .order(identities::id.asc());
                Ok(on_backend!(conn, |c| mine
                    .select(Identity::as_select())
                    .load(c))?)
            })
            .await
            .map_err(RepoError::from)
    }

    /// Creates an account without a password, its address proven by the provider, and
    /// links `account` to it, in one transaction. A taken username or address, or an
    /// identity linked meanwhile, is `Conflict` naming it, and nothing is stored.
    pub async fn create_account(
        &self,
        username: &Username,
        email: &Email,
        account: ProviderAccount,
    ) -> Result<UserRecord, RepoError> {
        let row = new_row(username, email, None, true);
        self.db
            .transaction(move |conn| {
                insert_new(conn, &row)?;
                let identity = Identity {
                    id: uuid::Uuid::now_v7().to_string(),
                    provider: account.provider.clone(),
                    subject: account.subject.clone(),
                    user_id: row.id.clone(),
                    email: account.email.clone(),
                    created_at: row.created_at,
                    last_used_at: Some(row.created_at),
                };
                let insert = diesel::insert_into(identities::table).values(&identity);
                on_backend!(conn, |c| insert.execute(c))?;
                Ok(split_account(row.clone()))
            })
            .await
            .map_err(RepoError::from)
    }

    /// Records a sign-in with identity `id`: when, and the address the provider gave.
    pub async fn used(
        &self,
        id: &str,
        email: Option<String>,
        at: NaiveDateTime,
    ) -> Result<(), RepoError> {
        let id = id.to_owned();
        self.db
            .write(move |conn| {
                let update = diesel::update(identities::table.find(&id)).set((
                    identities::email.eq(&email),
                    identities::last_used_at.eq(Some(at)),
                ));
                one_row(on_backend!(conn, |c| update.execute(c))?)
            })
            .await
            .map_err(RepoError::from)
    }
}
