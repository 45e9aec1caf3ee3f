//! Domain types: raw input goes in, a value that is valid by construction comes out, or a
//! message naming what is wrong. The fields are private, so no unchecked value exists.
//!
//! The bottom of the workspace beside `db`: it imports nothing of strata's, and the parsed
//! values travel from the services down to the repositories' queries unchanged.

use std::fmt;

pub mod checks;
mod field_error;
mod task_patch;

pub use checks::Instant;
pub use field_error::FieldError;
pub use task_patch::TaskPatch;

// The generated resources' values, a module each (the list is the workspace's resources.rs).
include!("../../../resources.rs");
macro_rules! resource_modules {
    ($($name:ident: $service:ident),* $(,)?) => { $(pub mod $name;)* };
}
with_resources!(resource_modules);

/// A login name: 3 to 32 of `a-z 0-9 _ . -`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Shortest and longest, in characters.
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;

    /// Lower-cases and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // ASCII only, lower-cased the ASCII way: no Unicode folding (the Kelvin sign is not `k`).
        let s = raw.trim().to_ascii_lowercase();
        let len = s.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&len) {
            return Err(FieldError::new(
                "username",
                format!(
                    "must be {} to {} characters long",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(
                "username",
                "may contain only letters a-z, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(s))
    }

    /// The lower-case name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, stored lower-case, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Longest, in characters.
    pub const MAX_CHARS: usize = 254;

    /// Lower-cases and checks `raw`: one `@`, a local part of at most 64 characters, a
    /// domain with a dot, no spaces or control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let bad = |m: &str| Err(FieldError::new("email", m));
        if s.is_empty() {
            return bad("is required");
        }
        if s.chars().count() > Self::MAX_CHARS {
            return bad(&format!(
                "must be at most {} characters long",
                Self::MAX_CHARS
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("must not contain spaces or control characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return bad("must be an address like name@example.com");
        };
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..");
        if local.is_empty() || local.chars().count() > 64 || !domain_ok {
            return bad("must be an address like name@example.com");
        }
        Ok(Self(s))
    }

    /// The lower-case address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password: at least 8 characters (as people and NIST SP 800-63B count them) and at
/// most 72 bytes in UTF-8 (bcrypt's input limit; longer ones are refused, never
/// truncated). `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest, in characters (Unicode scalar values, as JSON Schema's `minLength`).
    pub const MIN_CHARS: usize = 8;
    /// Longest, in bytes of UTF-8: bcrypt's input limit.
    pub const MAX_BYTES: usize = 72;

    /// Checks the length: characters for the minimum, bytes for the maximum.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        if raw.chars().count() < Self::MIN_CHARS {
            Err(FieldError::new(
                field,
                format!("must be at least {} characters long", Self::MIN_CHARS),
            ))
        } else if raw.len() > Self::MAX_BYTES {
            Err(FieldError::new(
                field,
                format!(
                    "must be at most {} bytes long in UTF-8 (bcrypt's limit)",
                    Self::MAX_BYTES
                ),
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// Refuses a password equal to the username or the email (ignoring case).
    pub fn check_not_identity(
        &self,
        field: &str,
        username: &str,
        email: &str,
    ) -> Result<(), FieldError> {
        let p = self.0.to_lowercase();
        if p == username || p == email {
            return Err(FieldError::new(
                field,
                "must not be the same as the username or email",
            ));
        }
        Ok(())
    }

    /// The password, for bcrypt only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A task title: 1 to 200 characters after trimming surrounding white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    /// Longest, in characters after trimming.
    pub const MAX_CHARS: usize = 200;

    /// Trims and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.contains('\0') {
            return Err(FieldError::new("title", "must not contain NUL characters"));
        }
        match s.chars().count() {
            0 => Err(FieldError::new("title", "must not be empty")),
            n if n <= Self::MAX_CHARS => Ok(Self(s.to_owned())),
            _ => Err(FieldError::new(
                "title",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            )),
        }
    }

    /// The trimmed title.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    /// Longest, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Checks the length of `raw`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.contains('\0') {
            return Err(FieldError::new(
                "description",
                "must not contain NUL characters",
            ));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new(
                "description",
                format!("must be at most {} characters long", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An id of a user, task or session: a UUID, kept in its canonical lower-case form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(uuid::Uuid);

impl Id {
    /// Parses a UUID in any of its textual forms; `None` if it is not one.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 45 {
            return None;
        }
        uuid::Uuid::parse_str(raw).ok().map(Self)
    }

    /// A fresh random (v4) id, for sessions and token ids: nothing to learn from it.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_is_lowercased_and_limited_to_its_alphabet() {
        assert_eq!(
            Username::parse(" Alice_1.x-y ").map(|u| u.0),
            Ok("alice_1.x-y".into())
        );
        for bad in [
            "ab",
            "a b c",
            "ünïcode",
            "x'; drop",
            &"a".repeat(33),
            "",
            "\u{212A}elvin",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_is_lowercased_and_needs_a_domain() {
        assert_eq!(
            Email::parse("Bob@Example.COM").map(|e| e.0),
            Ok("bob@example.com".into())
        );
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "bob",
            "bob@",
            "@x.io",
            "bob@localhost",
            "a b@x.io",
            "a@b@c.io",
            "a@.x.io",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_counts_bytes_not_characters() {
        assert!(Password::parse("1234567", "password").is_err());
        assert!(Password::parse("12345678", "password").is_ok());
        // Characters, not bytes, for the minimum: six characters in eleven bytes, and
        // four CJK characters in twelve, are too short.
        assert!(Password::parse("EÍõäã°", "password").is_err());
        assert!(Password::parse("密码密码", "password").is_err());
        assert!(Password::parse("密码密码密码密码", "password").is_ok());
        assert!(Password::parse(&"é".repeat(36), "password").is_ok()); // 72 bytes
        assert!(Password::parse(&"é".repeat(37), "password").is_err()); // 74 bytes
        assert_eq!(
            format!("{:?}", Password::parse("hunter2hunter2", "p").ok()),
            "Some(Password(***))"
        );
    }

    #[test]
    fn password_may_not_be_the_username_or_email() {
        let p = Password::parse("AliceAlice", "password").ok();
        assert!(p.is_some_and(|p| p
            .check_not_identity("password", "alicealice", "a@x.io")
            .is_err()));
    }

    #[test]
    fn title_is_trimmed_and_bounded() {
        assert_eq!(
            TaskTitle::parse("  buy milk ").map(|t| t.0),
            Ok("buy milk".into())
        );
        assert!(TaskTitle::parse("   ").is_err());
        assert!(TaskTitle::parse(&"x".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
        assert!(TaskDescription::parse(&"y".repeat(2001)).is_err());
        assert!(TaskTitle::parse("a\0b").is_err());
        assert!(TaskDescription::parse("a\0b").is_err());
    }

    #[test]
    fn ids_are_canonical_uuids() {
        let id = Id::parse("0190A0B1-0000-7000-8000-00000000000A").map(|i| i.to_string());
        assert_eq!(id.as_deref(), Some("0190a0b1-0000-7000-8000-00000000000a"));
        assert!(Id::parse("42").is_none());
        assert!(Id::parse("' OR 1=1 --").is_none());
    }
}
