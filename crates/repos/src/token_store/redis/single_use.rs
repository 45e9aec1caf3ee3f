//! Single-use records on Redis: a string per record and a sorted set per kind that counts
//! the live ones, both under the kind's hash tag (one slot on a cluster), each operation
//! one script.

use std::sync::Arc;
use std::time::Duration;

use super::RedisTokenStore;
use crate::token_store::single_use::{refused, SingleUse, MAX_SINGLE_USE_BYTES};
use crate::RepoError;

impl SingleUse for RedisTokenStore {
    async fn single_put(
        &self,
        kind: &str,
        key: &str,
        value: &[u8],
        ttl: Duration,
        cap: usize,
    ) -> Result<(), RepoError> {
        if value.len() > MAX_SINGLE_USE_BYTES {
            return Err(refused(kind, format!("{} bytes", value.len())));
        }
        let keys = [self.single_key(kind, key), self.single_index(kind)];
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let script = Arc::clone(&self.single_put);
        let stored: i64 = self
            .run("single_put", |mut c| async move {
                script
                    .key(&keys[..])
                    .arg(value)
                    .arg(ttl_ms)
                    .arg(cap)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if stored == 1 {
            Ok(())
        } else {
            Err(refused(kind, format!("{cap} live records")))
        }
    }

    async fn single_take(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let keys = [self.single_key(kind, key), self.single_index(kind)];
        let script = Arc::clone(&self.single_take);
        self.run("single_take", |mut c| async move {
            script.key(&keys[..]).invoke_async(&mut c).await
        })
        .await
    }
}
