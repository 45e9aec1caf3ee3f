//! The texts of every mail: a subject, a plain-text and an HTML part per kind, with
//! `{{name}}` placeholders. The built-in ones are compiled in; a deployer's directory
//! (`MAIL_TEMPLATE_DIR`) replaces any of them, file by file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::MailKind;

/// A mail's three parts, filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template file that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the mail template {path}: {source}")]
pub struct TemplateError {
    path: PathBuf,
    source: std::io::Error,
}

/// Every kind's three parts.
#[derive(Debug, Clone)]
pub struct Templates {
    parts: HashMap<(&'static str, &'static str), String>,
}

const PARTS: [&str; 3] = ["subject", "txt", "html"];

fn built_in(kind: MailKind, part: &str) -> &'static str {
    macro_rules! file {
        ($kind:literal) => {
            match part {
                "subject" => include_str!(concat!("../../templates/", $kind, ".subject")),
                "txt" => include_str!(concat!("../../templates/", $kind, ".txt")),
                _ => include_str!(concat!("../../templates/", $kind, ".html")),
            }
        };
    }
    match kind {
        MailKind::VerifyEmail => file!("verify_email"),
        MailKind::ChangeEmail => file!("change_email"),
        MailKind::EmailChangeRequested => file!("email_change_requested"),
        MailKind::PasswordReset => file!("password_reset"),
        MailKind::PasswordChanged => file!("password_changed"),
        MailKind::MfaEnabled => file!("mfa_enabled"),
        MailKind::MfaDisabled => file!("mfa_disabled"),
        MailKind::SignupAttempted => file!("signup_attempted"),
        MailKind::ResetRemovedFactor => file!("reset_removed_factor"),
        MailKind::PasskeyAdded => file!("passkey_added"),
        MailKind::PasskeyRemoved => file!("passkey_removed"),
        MailKind::IdentityLinked => file!("identity_linked"),
        MailKind::IdentityUnlinked => file!("identity_unlinked"),
        MailKind::AccountMadeByProvider => file!("account_made_by_provider"),
    }
}

impl Templates {
    /// The built-in texts, each replaced by `<dir>/<kind>.<part>` where that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut parts = HashMap::new();
        for kind in MailKind::ALL {
            for part in PARTS {
                let text = match dir.map(|d| d.join(format!("{}.{part}", kind.as_str()))) {
                    Some(path) if path.exists() => std::fs::read_to_string(&path)
                        .map_err(|source| TemplateError { path, source })?,
                    _ => built_in(kind, part).to_owned(),
                };
                parts.insert((kind.as_str(), part), text);
            }
        }
        Ok(Self { parts })
    }

    /// Fills `kind`'s parts with `values`; in the HTML part every value is escaped.
    pub fn render(&self, kind: MailKind, values: &[(&str, &str)]) -> Rendered {
        let part = |p: &'static str, escape: bool| {
            let mut text = self
                .parts
                .get(&(kind.as_str(), p))
                .cloned()
                .unwrap_or_default();
            for (name, value) in values {
                let value = if escape {
                    html_escape(value)
                } else {
                    (*value).to_owned()
                };
                text = text.replace(&format!("{{{{{name}}}}}"), &value);
            }
            text
        };
        Rendered {
            // One line: a header may not hold a line break.
            subject: part("subject", false)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            text: part("txt", false),
            html: part("html", true),
        }
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_the_product_and_says_what_to_do_if_it_was_not_you() {
        let t = Templates::load(None).unwrap_or_else(|e| panic!("{e}"));
        for kind in MailKind::ALL {
            let r = t.render(kind, &[("product", "Acme"), ("username", "al")]);
            for text in [&r.subject, &r.text, &r.html] {
                assert!(text.contains("Acme"), "{kind:?}: {text}");
                assert!(!text.contains("{{product}}"), "{kind:?}: {text}");
            }
            assert!(
                r.text.contains("not you")
                    || r.text.contains("not ask")
                    || r.text.contains("not create"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn values_are_escaped_in_html_only_and_a_file_in_the_directory_replaces_a_part() {
        let dir = std::env::temp_dir().join(format!("strata-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        std::fs::write(dir.join("password_changed.txt"), "Custom {{username}}").unwrap_or_default();
        let t = Templates::load(Some(&dir)).unwrap_or_else(|e| panic!("{e}"));
        let r = t.render(MailKind::PasswordChanged, &[("username", "<b>&")]);
        assert_eq!(r.text, "Custom <b>&");
        assert!(r.html.contains("&lt;b&gt;&amp;"), "{}", r.html);
        std::fs::remove_dir_all(&dir).unwrap_or_default();
    }
}
