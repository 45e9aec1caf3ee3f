//! Which copy of the database a user's reads that may lag can use: after the user's own
//! write, only a replica that has replayed it. The mark lives in the token store, so a
//! write on one instance steers the reads on every other.

use db::{Database, Freshness, WalPosition};

use crate::token_store::{AnyTokenStore, WriteMarks};
use crate::RepoError;

/// The user's last write, kept for their later reads.
#[derive(Debug, Clone)]
pub struct ReadYourWrites {
    db: Database,
    store: AnyTokenStore,
}

impl ReadYourWrites {
    pub fn new(db: Database, store: AnyTokenStore) -> Self {
        Self { db, store }
    }

    /// After `user_id`'s write has committed: holds the primary's log position for as long
    /// as a replica lacking it could still serve reads. Nothing without replicas.
    pub async fn wrote(&self, user_id: &str) -> Result<(), RepoError> {
        let Some(hold) = self.db.hold_after_write() else {
            return Ok(());
        };
        if let Some(position) = self.db.written().await? {
            self.store.mark_write(user_id, position.0, hold).await?;
        }
        Ok(())
    }

    /// What `user_id`'s reads that may lag must see: the primary only without replicas,
    /// their last write while it is held, else any replica within the lag limit.
    pub async fn freshness_for(&self, user_id: &str) -> Result<Freshness, RepoError> {
        if !self.db.has_replicas() {
            return Ok(Freshness::Primary);
        }
        Ok(match self.store.last_write(user_id).await? {
            Some(position) => Freshness::Since(WalPosition(position)),
            None => Freshness::AnyReplica,
        })
    }
}
