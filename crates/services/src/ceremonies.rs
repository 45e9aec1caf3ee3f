//! The ceremonies of one kind waiting for their answer (a passkey's webauthn-rs state, an
//! OpenID flow, a one-time code): kept in the token store under a random id for `timeout`
//! and taken out in one step, so a replayed or second answer finds nothing. Their number
//! is capped on every instance together, and each is small: a flood cannot fill the store.

use std::time::Duration;

use repos::{AnyTokenStore, SingleUse};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ServiceError;

/// One kind of waiting ceremony.
#[derive(Clone)]
pub(crate) struct Ceremonies {
    store: AnyTokenStore,
    kind: &'static str,
    /// How long one waits.
    timeout: Duration,
    /// Most of this kind waiting at once.
    cap: usize,
}

impl Ceremonies {
    pub(crate) fn new(
        store: AnyTokenStore,
        kind: &'static str,
        timeout: Duration,
        cap: usize,
    ) -> Self {
        Self {
            store,
            kind,
            timeout,
            cap,
        }
    }

    /// Keeps `state` and returns the challenge id to answer under (32 hex digits).
    pub(crate) async fn wait<T: Serialize>(&self, state: &T) -> Result<String, ServiceError> {
        let challenge_id = uuid::Uuid::new_v4().simple().to_string();
        let value = serde_json::to_vec(state)
            .map_err(|e| ServiceError::internal_from("saving a waiting ceremony", e))?;
        self.store
            .single_put(self.kind, &challenge_id, &value, self.timeout, self.cap)
            .await?;
        Ok(challenge_id)
    }

    /// Takes the state waiting under `challenge_id`, once; `None` for an id that was never
    /// handed out, was answered already, or waited past the timeout.
    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        challenge_id: &str,
    ) -> Result<Option<T>, ServiceError> {
        if !(challenge_id.len() == 32 && challenge_id.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Ok(None);
        }
        let value = self.store.single_take(self.kind, challenge_id).await?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }
}
