//! RFC 6238 codes as every authenticator app reads them (SHA-1, 30 s steps, 6 digits), by
//! totp-rs, and the `otpauth://` URI and QR code that hand a secret to such an app.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Digits of a code.
pub(crate) const DIGITS: u8 = 6;
/// Seconds of a time step.
pub(crate) const STEP: u64 = 30;
/// Bytes of a new secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A TOTP secret. `Debug` does not print it.
#[derive(Clone)]
pub(crate) struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

impl TotpSecret {
    /// A new random secret.
    pub(crate) fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret of its base32 text (as sealed and as shown to the user).
    pub(crate) fn from_base32(text: &str) -> Option<Self> {
        Secret::try_from_base32(text)
            .ok()
            .map(|s| Self(s.as_bytes().to_vec()))
    }

    /// Base32 without padding, as authenticator apps take it.
    pub(crate) fn base32(&self) -> String {
        Secret::new(self.0.clone().into_boxed_slice()).to_base32()
    }

    fn totp(&self, digits: u8) -> Option<Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(digits)
            .with_skew(1)
            .with_step_duration(STEP)
            .with_secret(Secret::new(self.0.clone().into_boxed_slice()))
            .build()
            .ok()
    }

    /// The code of `digits` digits at `unix_secs`.
    #[cfg(test)]
    pub(crate) fn code_at(&self, unix_secs: u64, digits: u8) -> Option<String> {
        Some(self.totp(digits)?.generate(unix_secs).to_string())
    }

    /// The time step `code` belongs to, if it is the code of the step of `unix_secs` or of
    /// one step either side (clock skew). Compared in constant time by totp-rs.
    pub(crate) fn step_of(&self, code: &str, unix_secs: u64) -> Option<i64> {
        let step = self.totp(DIGITS)?.check(code, unix_secs)?;
        i64::try_from(step).ok()
    }
}

/// Whether `code` has the shape of a TOTP code: six ASCII digits.
pub(crate) fn looks_like_totp(code: &str) -> bool {
    code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())
}

/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…`, the key-URI format authenticator
/// apps scan.
pub(crate) fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        account = encode(account),
        secret = secret.base32(),
    )
}

/// `uri` as a QR code in SVG, drawn here (no script or image from elsewhere).
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the 20-byte ASCII secret "12345678901234567890".
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(time, 8).as_deref(), Some(code), "T = {time}");
            // Six digits are the last six of the eight (RFC 4226's truncation).
            assert_eq!(
                secret.code_at(time, 6).as_deref(),
                Some(&code[2..]),
                "T = {time}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_says_which_step_it_is() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_015;
        let step = (now / STEP) as i64;
        let at = |t: u64| secret.code_at(t, DIGITS).unwrap_or_default();
        assert_eq!(secret.step_of(&at(now), now), Some(step));
        assert_eq!(secret.step_of(&at(now - STEP), now), Some(step - 1));
        assert_eq!(secret.step_of(&at(now + STEP), now), Some(step + 1));
        assert_eq!(secret.step_of(&at(now - 2 * STEP), now), None);
        assert_eq!(secret.step_of(&at(now + 2 * STEP), now), None);
        assert_eq!(secret.step_of("12345", now), None);
    }

    #[test]
    fn a_secret_survives_base32_and_its_uri_names_issuer_and_account() {
        let secret = TotpSecret::generate();
        let text = secret.base32();
        assert_eq!(text.len(), 32);
        let back = TotpSecret::from_base32(&text).map(|s| s.base32());
        assert_eq!(back.as_deref(), Some(text.as_str()));
        let uri = otpauth_uri("Acme Corp", "alice", &secret);
        assert!(uri.starts_with("otpauth://totp/Acme%20Corp:alice?secret="));
        assert!(uri.contains(&format!("secret={text}&issuer=Acme%20Corp")));
        assert!(qr_svg(&uri).is_some_and(|svg| svg.contains("<svg")));
        assert!(!format!("{secret:?}").contains(&text));
    }

    #[test]
    fn only_six_digits_look_like_a_totp_code() {
        assert!(looks_like_totp("012345"));
        assert!(!looks_like_totp("01234"));
        assert!(!looks_like_totp("0123456"));
        assert!(!looks_like_totp("01234a"));
        assert!(!looks_like_totp("٠١٢٣٤٥"));
    }
}
