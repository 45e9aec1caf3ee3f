//! The passkeys section: the relying party passkeys are bound to.

use std::time::Duration;

use services::passkeys::{PasskeySettings, Url, DEFAULT_MAX_WAITING, DEFAULT_TIMEOUT};

use super::Reader;

impl Reader<'_> {
    /// `WEBAUTHN_RP_ID` (default: the host of `PUBLIC_URL`, when it is a name: an IP
    /// address cannot be one, and passkeys are then off), `WEBAUTHN_RP_NAME` (`strata`),
    /// `WEBAUTHN_ORIGINS` (default: `PUBLIC_URL`'s origin; comma-separated; an origin
    /// without a port allows any), `WEBAUTHN_TIMEOUT` (5 minutes, at most an hour: the
    /// browser's time for a ceremony and its challenge's life), `PASSKEYS_MAX` (10),
    /// `PASSKEY_OPTIONS_PER_MINUTE` (60 sign-in options per client address) and
    /// `PASSKEY_CHALLENGES_MAX` (50,000 ceremonies of a kind waiting at once). An RP id
    /// that is not a domain suffix of every origin stops start-up.
    pub(super) fn passkeys(&mut self, public_url: &str) -> Option<PasskeySettings> {
        let public = Url::parse(public_url).ok();
        let default_rp = public
            .as_ref()
            .and_then(Url::host_str)
            .filter(|h| !h.starts_with('[') && h.parse::<std::net::IpAddr>().is_err())
            .map(str::to_owned);
        let explicit = self.raw("WEBAUTHN_RP_ID");
        let rp_id = explicit.clone().or(default_rp)?;
        let rp_name = self
            .raw("WEBAUTHN_RP_NAME")
            .unwrap_or_else(|| "strata".to_owned());
        let origins = match self.raw("WEBAUTHN_ORIGINS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .filter_map(|o| match Url::parse(o) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        self.errors
                            .push(format!("WEBAUTHN_ORIGINS: {o:?} is not a URL: {e}"));
                        None
                    }
                })
                .collect(),
            None => public.into_iter().collect(),
        };
        let max_per_account = self.number("PASSKEYS_MAX", 10, 1..=100);
        let options_per_minute = self.number("PASSKEY_OPTIONS_PER_MINUTE", 60, 1..=1_000_000);
        let max_waiting = self.number(
            "PASSKEY_CHALLENGES_MAX",
            DEFAULT_MAX_WAITING,
            1..=10_000_000,
        );
        let timeout = self.duration("WEBAUTHN_TIMEOUT", DEFAULT_TIMEOUT);
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&timeout) {
            self.errors
                .push("WEBAUTHN_TIMEOUT must be between 1s and 1h".to_owned());
        }
        let settings = PasskeySettings {
            rp_id,
            rp_name,
            origins,
            max_per_account,
            options_per_minute,
            timeout,
            max_waiting,
        };
        match settings.relying_party() {
            Ok(_) => Some(settings),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }
}
