//! Where passkeys are bound: the relying party's id (a domain), its name, and the origins
//! a browser may sign from.

use std::sync::Arc;
use std::time::Duration;

use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`, `WEBAUTHN_TIMEOUT`,
/// `PASSKEYS_MAX`, `PASSKEY_OPTIONS_PER_MINUTE` and `PASSKEY_CHALLENGES_MAX`.
#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// A registrable domain suffix of every origin (`localhost` in development).
    pub rp_id: String,
    pub rp_name: String,
    /// The first is the main origin; an origin without a port allows any port.
    pub origins: Vec<Url>,
    /// Most passkeys per account.
    pub max_per_account: u32,
    /// Most sign-in options one client address may ask for per minute.
    pub options_per_minute: u64,
    /// How long the browser is given for a ceremony, and so how long its challenge waits.
    pub timeout: Duration,
    /// Most ceremonies of one kind waiting at once, on every instance together.
    pub max_waiting: usize,
}

impl PasskeySettings {
    /// The WebAuthn relying party these settings describe; `Err` says in one line why it
    /// cannot be one (an RP id that is not a domain suffix of an origin, say).
    pub fn relying_party(&self) -> Result<Arc<Webauthn>, String> {
        let first = self
            .origins
            .first()
            .ok_or("WEBAUTHN_ORIGINS: at least one origin is needed")?;
        let any_port = self.origins.iter().any(|o| o.port().is_none());
        let mut builder = WebauthnBuilder::new(&self.rp_id, first)
            .map_err(|e| self.refusal(e))?
            .rp_name(&self.rp_name)
            .timeout(self.timeout)
            .allow_any_port(any_port);
        for origin in &self.origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        builder.build().map(Arc::new).map_err(|e| self.refusal(e))
    }

    fn refusal(&self, e: webauthn_rs::prelude::WebauthnError) -> String {
        let origins: Vec<&str> = self.origins.iter().map(Url::as_str).collect();
        format!(
            "WEBAUTHN_RP_ID {:?} must be a domain suffix of every origin in WEBAUTHN_ORIGINS ({}): {e}",
            self.rp_id,
            origins.join(", ")
        )
    }
}
