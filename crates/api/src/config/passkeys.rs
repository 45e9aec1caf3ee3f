//! The passkeys section: the relying party passkeys are bound to.

use services::passkeys::{PasskeySettings, Url};

use super::Reader;

impl Reader<'_> {
    /// `WEBAUTHN_RP_ID` (default: the host of `PUBLIC_URL`, when it is a name: an IP
    /// address cannot be one, and passkeys are then off), `WEBAUTHN_RP_NAME` (`strata`),
    /// `WEBAUTHN_ORIGINS` (default: `PUBLIC_URL`'s origin; comma-separated; an origin
    /// without a port allows any), `PASSKEYS_MAX` (10) and `PASSKEY_OPTIONS_PER_MINUTE`
    /// (60 sign-in options per client address). An RP id that is not a domain
    /// suffix of every origin stops start-up.
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
        let settings = PasskeySettings {
            rp_id,
            rp_name,
            origins,
            max_per_account,
            options_per_minute,
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
