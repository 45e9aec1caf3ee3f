//! The account a provider's account signs in to: the one its identity is linked to, or a
//! new one without a password when the provider verified an address no account has. An
//! address an account holds is never linked by a sign-in.

use repos::{ProviderAccount, RepoError, Unique};

use super::verify::Asserted;
use super::{Failure, Oidc};
use crate::ServiceError;

impl Oidc {
    /// The account the provider's account signs in to, made if the rules allow.
    pub(super) async fn account_of(
        &self,
        provider: &str,
        who: Asserted,
    ) -> Result<String, Failure> {
        let known = self
            .identities
            .find(&who.issuer, &who.subject)
            .await
            .map_err(|e| Failure::from_service(e.into()))?;
        if let Some(identity) = known {
            // A record of the use: worth a line in the log when it fails, not the sign-in.
            if let Err(e) = self
                .identities
                .used(&identity.id, who.email.clone(), repos::now_utc())
                .await
            {
                tracing::warn!(identity_id = %identity.id, error = %e, "an identity's use was not recorded");
            }
            return Ok(identity.user_id);
        }
        let email = who
            .email
            .as_deref()
            .filter(|_| who.email_verified)
            .and_then(|e| domain::Email::parse(e).ok())
            .ok_or(Failure::EmailUnverified)?;
        if self
            .users
            .find_by_email(&email)
            .await
            .map_err(|e| Failure::from_service(e.into()))?
            .is_some()
        {
            return Err(Failure::EmailTaken);
        }
        let account = ProviderAccount {
            provider: provider.to_owned(),
            issuer: who.issuer.clone(),
            subject: who.subject.clone(),
            email: who.email.clone(),
        };
        // The address's owner hears of it: a provider that vouches for addresses it does not
        // own could have made the account, and a reset by mail takes it back.
        let params = serde_json::json!({ "provider": provider, "email": email.as_str() });
        let notice = self
            .mailer
            .notice(
                crate::mail::MailKind::AccountMadeByProvider,
                email.as_str(),
                params,
            )
            .await
            .map_err(Failure::from_service)?;
        let base = username_base(who.username_hint.as_deref(), email.as_str());
        for attempt in 0..8 {
            let name = if attempt == 0 {
                base.clone()
            } else {
                format!("{base}{}", rand::random_range(1000..100_000))
            };
            let Ok(username) = domain::Username::parse(&name) else {
                continue;
            };
            match self
                .identities
                .create_account(&username, &email, account.clone(), notice.clone())
                .await
            {
                Ok(user) => {
                    self.mailer.queued(&notice);
                    tracing::info!(user_id = %user.id, provider, "account made by an OpenID sign-in");
                    return Ok(user.id);
                }
                Err(RepoError::Conflict(Unique::Username)) => continue,
                Err(RepoError::Conflict(Unique::Email)) => return Err(Failure::EmailTaken),
                // A racing callback of the same account linked it first: sign in to it.
                Err(RepoError::Conflict(Unique::Identity)) => {
                    return match self.identities.find(&who.issuer, &who.subject).await {
                        Ok(Some(identity)) => Ok(identity.user_id),
                        Ok(None) => Err(Failure::State),
                        Err(e) => Err(Failure::from_service(e.into())),
                    };
                }
                Err(e) => return Err(Failure::from_service(e.into())),
            }
        }
        Err(Failure::from_service(ServiceError::internal(
            "no free username for an OpenID account",
        )))
    }
}

/// A username to try first: the provider's hint, or the address's local part, reduced to
/// what a username may hold.
fn username_base(hint: Option<&str>, email: &str) -> String {
    let raw = hint.unwrap_or_else(|| email.split('@').next().unwrap_or_default());
    let mut name: String = raw
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        .take(24)
        .collect();
    while name.chars().count() < domain::Username::MIN_CHARS {
        name.push('_');
    }
    name
}
