//! Sending one message: over SMTP (lettre, rustls) or into an `.eml` file.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use super::Delivery;

/// Where a message went.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Why a message was not sent: `permanent` when retrying cannot help (the server refused
/// the message or the recipient for good).
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

/// Checks an `SMTP_URL` at start-up, so a typo is one line then, not a failure per mail.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|e| format!("SMTP_URL is not a valid SMTP URL: {e}"))
}

/// Checks a `MAIL_FROM` (`name <address>` or an address).
pub fn check_mailbox(value: &str) -> Result<(), String> {
    value
        .parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| {
            format!("{value:?} is not a mailbox like `strata <no-reply@example.com>`: {e}")
        })
}

impl Transport {
    /// The transport `delivery` names. The file directory is created if needed.
    pub fn new(delivery: &Delivery, timeout: Duration) -> Result<Self, String> {
        match delivery {
            Delivery::Smtp { url } => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("SMTP_URL is not a valid SMTP URL: {e}"))?;
                Ok(Transport::Smtp(builder.timeout(Some(timeout)).build()))
            }
            Delivery::Files { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("cannot create the mail directory {}: {e}", dir.display())
                })?;
                Ok(Transport::Files(AsyncFileTransport::new(dir), dir.clone()))
            }
        }
    }

    /// Sends `message`; for the file transport, returns the file written.
    pub async fn send(&self, message: Message) -> Result<Option<PathBuf>, SendError> {
        match self {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(None),
                Err(e) => Err(SendError {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                }),
            },
            Transport::Files(files, dir) => match files.send(message).await {
                Ok(id) => Ok(Some(dir.join(format!("{id}.eml")))),
                Err(e) => Err(SendError {
                    permanent: false,
                    message: e.to_string(),
                }),
            },
        }
    }
}
