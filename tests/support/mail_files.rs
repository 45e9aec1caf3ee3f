//! Mails delivered as `.eml` files (`MAIL_DIR`, strata's delivery without SMTP): the tests
//! that need a mailed link read it there, as a developer running `make run` would.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::smtp_server::{recipient, token};

/// How long a mail may take to be written: the worker is woken at once, but a loaded
/// machine can be slow.
const BOUND: Duration = Duration::from_secs(30);

/// The messages in `dir` addressed to `to`.
pub fn mails_to(dir: &Path, to: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|m| std::fs::read_to_string(m.path()).ok())
        .filter(|text| recipient(text).as_deref() == Some(to))
        .collect()
}

/// The token of the first mail to `to` whose link opens `page` (`verify-email`,
/// `reset-password`), once it is written; panics after a generous bound.
/// Whether a mail to `to` holding `text` arrives, waiting (bounded: mails are written a
/// moment after the answer that queued them).
pub fn arrives(dir: &Path, to: &str, text: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        if mails_to(dir, to).iter().any(|m| m.contains(text)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn token_for(dir: &Path, to: &str, page: &str) -> String {
    let start = Instant::now();
    let link = format!("/{page}?token=");
    loop {
        let found = mails_to(dir, to).into_iter().find_map(|text| {
            let unfolded = text.replace("=\r\n", "").replace("=3D", "=");
            unfolded.contains(&link).then(|| token(&text)).flatten()
        });
        if let Some(t) = found {
            return t;
        }
        assert!(
            start.elapsed() < BOUND,
            "no {page} mail to {to} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
