//! Write marks in memory: one entry per user who wrote lately, swept when it expires.

use std::time::{Duration, Instant};

use super::MemoryTokenStore;
use crate::token_store::WriteMarks;
use crate::RepoError;

impl WriteMarks for MemoryTokenStore {
    async fn mark_write(
        &self,
        user_id: &str,
        position: u64,
        hold: Duration,
    ) -> Result<(), RepoError> {
        let mut inner = self.lock();
        let until = Instant::now() + hold;
        let held = inner
            .marks
            .get(user_id)
            .filter(|(_, until)| *until > Instant::now())
            .map_or(0, |(p, _)| *p);
        inner
            .marks
            .insert(user_id.to_owned(), (held.max(position), until));
        Ok(())
    }

    async fn last_write(&self, user_id: &str) -> Result<Option<u64>, RepoError> {
        let inner = self.lock();
        Ok(inner
            .marks
            .get(user_id)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(p, _)| *p))
    }
}
