//! The mail section: where mails go, their links and texts, the tokens' lifetimes and the
//! limits, and how the outbox retries.

use std::net::SocketAddr;
use std::path::PathBuf;

use services::{Delivery, MailSettings};

use super::{AppEnv, Reader};

impl Reader<'_> {
    /// `SMTP_URL` (or `.eml` files in `MAIL_DIR`), `MAIL_FROM`, `PUBLIC_URL` and the rest.
    pub(super) fn mail(&mut self, app_env: AppEnv, bind_addr: SocketAddr) -> MailSettings {
        let d = MailSettings::default();
        let delivery = match self.raw("SMTP_URL") {
            Some(url) => {
                if let Err(e) = services::mail::check_smtp_url(&url) {
                    self.errors.push(e);
                }
                Delivery::Smtp { url }
            }
            None => {
                if app_env == AppEnv::Production {
                    self.errors.push(
                        "SMTP_URL: required when APP_ENV=production (without it mails are only written to files)".into(),
                    );
                }
                Delivery::Files {
                    dir: self
                        .raw("MAIL_DIR")
                        .map_or_else(|| PathBuf::from("data/mail"), PathBuf::from),
                }
            }
        };
        let from = self.parse("MAIL_FROM", d.from.clone(), |v| {
            services::mail::check_mailbox(v).map(|()| v.to_owned())
        });
        let public_url = self.parse("PUBLIC_URL", format!("http://{bind_addr}"), |v| {
            if v.starts_with("http://") || v.starts_with("https://") {
                Ok(v.trim_end_matches('/').to_owned())
            } else {
                Err(format!("{v:?} must start with http:// or https://"))
            }
        });
        if app_env == AppEnv::Production && !public_url.starts_with("https://") {
            self.errors.push(
                "PUBLIC_URL: required when APP_ENV=production, as https://… (the links in mails carry tokens)".into(),
            );
        }
        let template_dir = self.parse("MAIL_TEMPLATE_DIR", None, |v| {
            let dir = PathBuf::from(v);
            if dir.is_dir() {
                Ok(Some(dir))
            } else {
                Err(format!("{v:?} is not a directory"))
            }
        });
        let require_verification = self.parse("REQUIRE_EMAIL_VERIFICATION", false, |v| match v {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("{v:?} must be true or false")),
        });
        MailSettings {
            delivery,
            from,
            public_url,
            product: self.raw("MAIL_PRODUCT_NAME").unwrap_or(d.product),
            template_dir,
            verification_ttl: self.duration("EMAIL_VERIFICATION_TTL", d.verification_ttl),
            reset_ttl: self.duration("PASSWORD_RESET_TTL", d.reset_ttl),
            require_verification,
            max_per_address: self.number("MAIL_MAX_PER_ADDRESS", d.max_per_address, 1..=1_000_000),
            reset_max_per_address: self.number(
                "PASSWORD_RESET_MAX_PER_ADDRESS",
                d.reset_max_per_address,
                1..=1_000_000,
            ),
            reset_max_per_ip: self.number(
                "PASSWORD_RESET_MAX_PER_IP",
                d.reset_max_per_ip,
                1..=1_000_000,
            ),
            request_window: self.duration("PASSWORD_RESET_WINDOW", d.request_window),
            retry_base: self.duration("MAIL_RETRY_BASE", d.retry_base),
            retry_max: self.duration("MAIL_RETRY_MAX", d.retry_max),
            max_attempts: self.number("MAIL_MAX_ATTEMPTS", d.max_attempts, 1..=1000),
            retention: self.duration("MAIL_RETENTION", d.retention),
            poll_interval: self.duration("MAIL_POLL_INTERVAL", d.poll_interval),
            lease: self.duration("MAIL_LEASE", d.lease),
            send_timeout: self.duration("MAIL_SEND_TIMEOUT", d.send_timeout),
        }
    }
}
