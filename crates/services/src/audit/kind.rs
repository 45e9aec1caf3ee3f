//! What an audit event records.

/// The kinds of audit event. `Admin…` kinds are acts of an admin on another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Registered,
    EmailVerified,
    EmailChanged,
    PasswordChanged,
    PasswordReset,
    AccountDeleted,
    SignedIn,
    SignInFailed,
    SignedOut,
    SessionRevoked,
    AllSessionsRevoked,
    RefreshReuseDetected,
    MfaEnabled,
    MfaDisabled,
    BackupCodesReplaced,
    AdminBanned,
    AdminBanLifted,
    AdminSessionsEnded,
    AdminMfaReset,
    AdminRoleChanged,
    AdminAccountDeleted,
    PasskeyAdded,
    PasskeyRemoved,
    /// A passkey's signature counter went backwards: its authenticator may be cloned.
    PasskeyCounterRegressed,
    /// An OpenID provider's account was linked, from a signed-in session.
    IdentityLinked,
    IdentityUnlinked,
}

impl AuditKind {
    /// Every kind, for parsing and the documentation.
    pub const ALL: [AuditKind; 26] = [
        Self::Registered,
        Self::EmailVerified,
        Self::EmailChanged,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::AccountDeleted,
        Self::SignedIn,
        Self::SignInFailed,
        Self::SignedOut,
        Self::SessionRevoked,
        Self::AllSessionsRevoked,
        Self::RefreshReuseDetected,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::BackupCodesReplaced,
        Self::AdminBanned,
        Self::AdminBanLifted,
        Self::AdminSessionsEnded,
        Self::AdminMfaReset,
        Self::AdminRoleChanged,
        Self::AdminAccountDeleted,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::PasskeyCounterRegressed,
        Self::IdentityLinked,
        Self::IdentityUnlinked,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        use repos::audit::kinds;
        match self {
            Self::Registered => kinds::REGISTERED,
            Self::EmailVerified => kinds::EMAIL_VERIFIED,
            Self::EmailChanged => kinds::EMAIL_CHANGED,
            Self::PasswordChanged => kinds::PASSWORD_CHANGED,
            Self::PasswordReset => kinds::PASSWORD_RESET,
            Self::AccountDeleted => kinds::ACCOUNT_DELETED,
            Self::SignedIn => kinds::SIGNED_IN,
            Self::SignInFailed => "sign_in_failed",
            Self::SignedOut => "signed_out",
            Self::SessionRevoked => "session_revoked",
            Self::AllSessionsRevoked => "all_sessions_revoked",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::MfaEnabled => kinds::MFA_ENABLED,
            Self::MfaDisabled => "mfa_disabled",
            Self::BackupCodesReplaced => kinds::BACKUP_CODES_REPLACED,
            Self::AdminBanned => "admin_banned",
            Self::AdminBanLifted => "admin_ban_lifted",
            Self::AdminSessionsEnded => "admin_sessions_ended",
            Self::AdminMfaReset => "admin_mfa_reset",
            Self::AdminRoleChanged => "admin_role_changed",
            Self::AdminAccountDeleted => "admin_account_deleted",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeyCounterRegressed => "passkey_counter_regressed",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::AuditKind;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditKind::parse("nonsense"), None);
    }
}
