//! What admins do: find accounts, ban and lift bans, end sessions, reset a second factor,
//! change roles, delete accounts; and the one check every admin route starts with. Each
//! act is written to the audit trail with the admin as actor.

mod roles;
mod views;

use chrono::{DateTime, NaiveDateTime, Utc};
use repos::{
    AdminRepo, AnyTokenStore, AuditEvent, Ban, MfaRepo, SessionStore, UserRecord, UserRepo,
    UserSearch, UserStatus,
};
use serde_json::json;

pub use roles::Roles;
pub use views::{AdminUser, AdminUserDetail, AdminUserPage};

use crate::audit::{event, Audit, AuditKind};
use crate::client::ClientInfo;
use crate::mail::{MailKind, Mailer};
use crate::sessions::Principal;
use crate::views::SessionView;
use crate::{outcomes, ServiceError};

/// Why an account without a second factor cannot be made an admin where admins need one.
pub const SECOND_FACTOR_FIRST: &str =
    "admins need two-step sign-in here (ADMIN_REQUIRE_SECOND_FACTOR): the account must turn it on first";

/// The longest ban reason kept.
pub const MAX_REASON: usize = 500;

/// Who acts, and from where: what the audit trail records.
#[derive(Debug, Clone)]
pub struct Acting {
    /// The admin; `None` for the command line (`api admin grant`).
    pub admin_id: Option<String>,
    pub client: ClientInfo,
}

impl Acting {
    /// The audit event of this act (`kind`) on the account `subject`.
    fn event(&self, kind: AuditKind, subject: &str, details: serde_json::Value) -> AuditEvent {
        event(
            kind,
            self.admin_id.as_deref(),
            Some(subject),
            &self.client,
            details,
        )
    }
}

/// A search of the accounts, as the query string gave it.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub query: Option<String>,
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// The admin routes' service.
#[derive(Clone)]
pub struct Admin {
    pub(crate) users: UserRepo,
    pub(crate) repo: AdminRepo,
    pub(crate) mfa: MfaRepo,
    pub(crate) store: AnyTokenStore,
    pub(crate) audit: Audit,
    pub(crate) mailer: Mailer,
    /// `ADMIN_REQUIRE_SECOND_FACTOR`.
    pub(crate) require_second_factor: bool,
    pub(crate) reads: crate::reads::Reads,
    /// Removed with the second factor by a reset.
    pub(crate) passkeys: repos::PasskeyRepo,
}

impl Admin {
    /// Lets `who` through if its account is an admin now (read on every request, so a
    /// demotion bites at once) and, where required, its session proved a second factor.
    pub async fn authorize(&self, who: &Principal) -> Result<(), ServiceError> {
        let now = repos::now_utc();
        let admin = self.users.find_by_id(&who.user_id).await?;
        let Some(admin) = admin.filter(|a| a.is_admin() && a.banned(now).is_none()) else {
            return Err(ServiceError::Forbidden);
        };
        if self.require_second_factor {
            // The factor must be on now too: a session opened with it outlives turning it
            // off, and an admin without one could have it enrolled by a password thief.
            if !admin.mfa_enabled {
                return Err(ServiceError::Forbidden);
            }
            let sessions = self
                .store
                .list(&who.user_id, Utc::now().timestamp())
                .await?;
            if !sessions
                .iter()
                .any(|s| s.session_id == who.session_id && s.second_factor)
            {
                return Err(ServiceError::Forbidden);
            }
        }
        Ok(())
    }

    /// Views of `users`, with their last sign-ins.
    async fn views(
        &self,
        users: Vec<UserRecord>,
        now: NaiveDateTime,
    ) -> Result<Vec<AdminUser>, ServiceError> {
        let ids = users.iter().map(|u| u.id.clone()).collect();
        let last = self.audit.last_sign_ins(ids).await?;
        Ok(users
            .into_iter()
            .map(|u| AdminUser::new(u, &last, now))
            .collect())
    }

    async fn view(&self, user: UserRecord) -> Result<AdminUser, ServiceError> {
        let now = repos::now_utc();
        let mut views = self.views(vec![user], now).await?;
        views.pop().ok_or(ServiceError::NotFound)
    }

    /// One page of the accounts whose username or address starts with `query` (any case),
    /// of one `status` (`active`, `banned`, `unverified`), oldest first. A replica may
    /// serve it, once it has the reading admin's own last act.
    pub async fn search(
        &self,
        by: &Principal,
        q: UserQuery,
    ) -> Result<AdminUserPage, ServiceError> {
        let status = match q.status.as_deref() {
            None | Some("") => None,
            Some("active") => Some(UserStatus::Active),
            Some("banned") => Some(UserStatus::Banned),
            Some("unverified") => Some(UserStatus::Unverified),
            Some(_) => {
                return Err(ServiceError::invalid(
                    "status",
                    "must be active, banned or unverified",
                ))
            }
        };
        let prefix = q
            .query
            .map(|p| p.trim().to_lowercase())
            .filter(|p| !p.is_empty());
        if prefix.as_ref().is_some_and(|p| p.chars().count() > 254) {
            return Err(ServiceError::invalid(
                "query",
                "must be at most 254 characters",
            ));
        }
        let now = repos::now_utc();
        let search = UserSearch {
            prefix,
            status,
            after: q.cursor,
            limit: q.limit,
            now,
        };
        let freshness = self.reads.for_reader(&by.user_id).await;
        let page = self.repo.search(search, freshness).await?;
        Ok(AdminUserPage {
            items: self.views(page.items, now).await?,
            next_cursor: page.next_cursor,
        })
    }

    /// The account `id` and its live sessions.
    pub async fn user(&self, id: &str) -> Result<AdminUserDetail, ServiceError> {
        let user = self
            .users
            .find_by_id(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let sessions = self.store.list(id, Utc::now().timestamp()).await?;
        Ok(AdminUserDetail {
            user: self.view(user).await?,
            sessions: sessions
                .into_iter()
                .map(|s| SessionView::new(s, ""))
                .collect(),
        })
    }

    /// Bans `id` until `until` (`None`: until lifted) and ends every session of it at once,
    /// so its live access tokens fail at their next request on every instance.
    pub async fn ban(
        &self,
        by: &Acting,
        id: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
    ) -> Result<AdminUser, ServiceError> {
        if by.admin_id.as_deref() == Some(id) {
            return Err(ServiceError::CannotBanSelf);
        }
        let now = repos::now_utc();
        let until = until.map(|t| t.naive_utc());
        if until.is_some_and(|u| u <= now) {
            return Err(ServiceError::invalid("until", "must be in the future"));
        }
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON)
        {
            return Err(ServiceError::invalid(
                "reason",
                format!("must be at most {MAX_REASON} characters"),
            ));
        }
        let details = json!({
            "until": until.map(|u| u.and_utc().to_rfc3339()),
            "reason": reason,
        });
        let record = by.event(AuditKind::AdminBanned, id, details);
        let ban = Ban {
            since: now,
            until,
            reason,
        };
        // The sessions end before the ban is stored (a token store that is down leaves
        // nothing half done), and again after: a sign-in that stored its session between
        // the two reads the ban in its last check and withdraws it anyway.
        let mut ended = self.store.revoke_all(id, None).await?;
        let user = self.repo.ban(id, ban, record).await?;
        self.acted(by, id).await;
        ended += self.store.revoke_all(id, None).await?;
        outcomes::revoked("banned", ended);
        tracing::info!(user_id = %id, sessions_ended = ended, "account banned");
        self.view(user).await
    }

    /// Lifts the ban of `id`.
    pub async fn lift_ban(&self, by: &Acting, id: &str) -> Result<AdminUser, ServiceError> {
        let record = by.event(AuditKind::AdminBanLifted, id, json!({}));
        let user = self.repo.lift_ban(id, record).await?;
        self.acted(by, id).await;
        self.view(user).await
    }

    /// Ends every session of `id`; how many there were.
    pub async fn end_sessions(&self, by: &Acting, id: &str) -> Result<usize, ServiceError> {
        self.users
            .find_by_id(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let ended = self.store.revoke_all(id, None).await?;
        outcomes::revoked("admin", ended);
        let record = by.event(
            AuditKind::AdminSessionsEnded,
            id,
            json!({ "sessions": ended }),
        );
        self.audit.record(record).await;
        Ok(ended)
    }

    /// Turns the second factor of `id` off and removes its passkeys (its owner lost the
    /// device), ends every session of the account and mails the owner.
    pub async fn reset_mfa(&self, by: &Acting, id: &str) -> Result<(), ServiceError> {
        let user = self
            .users
            .find_by_id(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let passkeys = self.passkeys.delete_all(id).await?;
        if !user.mfa_enabled {
            if passkeys == 0 {
                return Err(ServiceError::MfaNotEnabled);
            }
            let record = by.event(
                AuditKind::AdminMfaReset,
                id,
                json!({ "passkeys": passkeys }),
            );
            self.audit.record(record).await;
            self.acted(by, id).await;
            let ended = self.store.revoke_all(id, None).await?;
            outcomes::revoked("admin_mfa_reset", ended);
            return Ok(());
        }
        let notice = self
            .mailer
            .notice(
                MailKind::MfaDisabled,
                &user.email,
                json!({ "username": user.username }),
            )
            .await?;
        let record = by.event(AuditKind::AdminMfaReset, id, json!({}));
        if !self.mfa.disable(id, notice.clone(), Some(record)).await? {
            return Err(ServiceError::MfaNotEnabled);
        }
        self.mailer.queued(&notice);
        self.acted(by, id).await;
        // As when the owner turns it off: no session, and no sign-in waiting for a code,
        // outlives the factor that guarded it (the device may be in other hands).
        let ended = self.store.revoke_all(id, None).await?;
        outcomes::revoked("admin_mfa_reset", ended);
        Ok(())
    }

    /// Makes `id` an admin (`admin`) or not (`user`).
    pub async fn set_role(
        &self,
        by: &Acting,
        id: &str,
        role: &str,
    ) -> Result<AdminUser, ServiceError> {
        if ![repos::users::ADMIN, repos::users::USER].contains(&role) {
            return Err(ServiceError::invalid("role", "must be user or admin"));
        }
        if role == repos::users::ADMIN && self.require_second_factor {
            let target = self.users.find_by_id(id).await?;
            if !target.ok_or(ServiceError::NotFound)?.mfa_enabled {
                return Err(ServiceError::invalid("role", SECOND_FACTOR_FIRST));
            }
        }
        let record = by.event(AuditKind::AdminRoleChanged, id, json!({ "role": role }));
        let user = self
            .repo
            .set_role(id, role, repos::now_utc(), record)
            .await?;
        self.acted(by, id).await;
        self.view(user).await
    }

    /// Deletes the account `id` and ends its sessions.
    pub async fn delete(&self, by: &Acting, id: &str) -> Result<(), ServiceError> {
        let record = by.event(AuditKind::AdminAccountDeleted, id, json!({}));
        let mut ended = self.store.revoke_all(id, None).await?;
        self.repo.delete(id, repos::now_utc(), record).await?;
        self.acted(by, id).await;
        ended += self.store.revoke_all(id, None).await?;
        outcomes::revoked("admin_deleted", ended);
        Ok(())
    }

    /// After an act on `subject`: the admin's lists and the subject's own reads show it.
    async fn acted(&self, by: &Acting, subject: &str) {
        if let Some(admin) = &by.admin_id {
            self.reads.wrote(admin).await;
        }
        self.reads.wrote(subject).await;
    }
}
