//! The counters of auth outcomes that `/metrics` shows, named in one place.

fn count(name: &'static str, label: &'static str, value: &'static str, n: u64) {
    metrics::counter!(name, label => value).increment(n);
}

/// A login's outcome (`ok`, `failed`, `limited`, `mfa_required`, `superseded`).
pub(crate) fn login(outcome: &'static str) {
    count("strata_auth_logins_total", "outcome", outcome, 1);
}

/// A registration's outcome (`created`, `address_taken`, `limited`).
pub(crate) fn registration(outcome: &'static str) {
    count("strata_auth_registrations_total", "outcome", outcome, 1);
}

/// A check of a signed-in user's password (`ok`, `failed`, `limited`).
pub(crate) fn password_check(outcome: &'static str) {
    count("strata_auth_password_checks_total", "outcome", outcome, 1);
}

/// A check of a second-factor code (`ok`, `failed`, `limited`).
pub(crate) fn code_check(outcome: &'static str) {
    count("strata_auth_mfa_checks_total", "outcome", outcome, 1);
}

/// A refresh's outcome (`reused`, `revoked`).
pub(crate) fn refresh(outcome: &'static str) {
    count("strata_auth_refreshes_total", "outcome", outcome, 1);
}

/// `n` sessions ended, and why.
pub(crate) fn revoked(reason: &'static str, n: usize) {
    count("strata_auth_revocations_total", "reason", reason, n as u64);
}

/// A password reset request's outcome (`requested`, `unknown`, `limited`).
pub(crate) fn password_reset(outcome: &'static str) {
    count("strata_auth_password_resets_total", "outcome", outcome, 1);
}

/// A second factor removed by something other than its owner turning it off, and why.
pub(crate) fn factor_removed(reason: &'static str) {
    count("strata_auth_factors_removed_total", "reason", reason, 1);
}
