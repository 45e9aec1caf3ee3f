//! Keyset pages, for any owner-scoped list: the `limit` and `cursor` query parameters and
//! boolean filters, parsed with a field message each. A new resource's list uses these.

use crate::domain::{Checks, Id};
use crate::error::FieldError;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Which page: at most `limit` items with ids after `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// The cursor of the previous page: the id of its last item.
    pub after: Option<String>,
}

impl PageRequest {
    /// Reads the raw `limit` and `cursor` parameters; a bad one is noted in `checks` (and a
    /// default stands in for it until [`Checks::finish`] refuses the request).
    pub fn parse(limit: Option<&str>, cursor: Option<&str>, checks: &mut Checks) -> Self {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    checks.push(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(raw) => {
                let id = Id::parse(raw);
                if id.is_none() {
                    checks.push(FieldError::new(
                        "cursor",
                        "is not a cursor this API returned",
                    ));
                }
                id.map(|i| i.to_string())
            }
        };
        Self { limit, after }
    }
}

/// A boolean filter parameter (`?done=true`): `true`, `false`, or absent.
pub fn flag(field: &str, raw: Option<&str>, checks: &mut Checks) -> Option<bool> {
    match raw {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            checks.push(FieldError::new(field, "must be true or false"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(checks: Checks) -> Vec<String> {
        match checks.finish() {
            Ok(()) => Vec::new(),
            Err(crate::ServiceError::Validation(e)) => e.into_iter().map(|e| e.field).collect(),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn limits_cursors_and_flags_parse_or_name_their_field() {
        let mut c = Checks::default();
        let id = Id::random().to_string();
        let p = PageRequest::parse(Some("5"), Some(&id), &mut c);
        assert_eq!((p.limit, p.after.as_deref()), (5, Some(id.as_str())));
        assert_eq!(flag("done", Some("false"), &mut c), Some(false));
        assert!(fields(c).is_empty());

        let mut c = Checks::default();
        let p = PageRequest::parse(None, Some(""), &mut c);
        assert_eq!(
            p,
            PageRequest {
                limit: DEFAULT_LIMIT,
                after: None
            }
        );
        assert!(fields(c).is_empty());

        let mut c = Checks::default();
        PageRequest::parse(Some("0"), Some("nope"), &mut c);
        PageRequest::parse(Some("101"), None, &mut c);
        flag("done", Some("yes"), &mut c);
        assert_eq!(fields(c), ["limit", "cursor", "limit", "done"]);
    }
}
