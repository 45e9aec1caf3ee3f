//! Single-use records in memory: one map per kind, lapsed records swept when a kind is
//! full, taken by removal under the store's lock.

use std::time::{Duration, Instant};

use super::MemoryTokenStore;
use crate::token_store::single_use::{refused, SingleUse, MAX_SINGLE_USE_BYTES};
use crate::RepoError;

impl SingleUse for MemoryTokenStore {
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
        let mut inner = self.lock();
        let now = Instant::now();
        let records = inner.single_use.entry(kind.to_owned()).or_default();
        if records.len() >= cap {
            records.retain(|_, (_, until)| *until > now);
            if records.len() >= cap {
                return Err(refused(kind, format!("{cap} live records")));
            }
        }
        records.insert(key.to_owned(), (value.to_vec(), now + ttl));
        Ok(())
    }

    async fn single_take(&self, kind: &str, key: &str) -> Result<Option<Vec<u8>>, RepoError> {
        let mut inner = self.lock();
        let taken = inner.single_use.get_mut(kind).and_then(|r| r.remove(key));
        Ok(taken
            .filter(|(_, until)| *until > Instant::now())
            .map(|(value, _)| value))
    }
}
