//! Write marks on Redis: one string per user, in the user's slot.

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::redis;

use super::RedisTokenStore;
use crate::token_store::WriteMarks;
use crate::RepoError;

impl WriteMarks for RedisTokenStore {
    async fn mark_write(
        &self,
        user_id: &str,
        position: u64,
        hold: Duration,
    ) -> Result<(), RepoError> {
        let key = self.mark_key(user_id);
        let hold_ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX).max(1);
        let script = Arc::clone(&self.mark);
        self.run("mark_write", |mut c| async move {
            script
                .key(&key)
                .arg(format!("{position:020}"))
                .arg(hold_ms)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn last_write(&self, user_id: &str) -> Result<Option<u64>, RepoError> {
        let key = self.mark_key(user_id);
        let held: Option<String> = self
            .run("last_write", |mut c| async move {
                redis::cmd("GET").arg(&key).query_async(&mut c).await
            })
            .await?;
        Ok(held.and_then(|p| p.parse().ok()))
    }
}
