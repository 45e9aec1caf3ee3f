//! Keyset pages, for any owner-scoped list: the `limit` and `cursor` query parameters and
//! boolean filters, each parsed on its own with a field message. A new resource's list uses
//! these.

use crate::domain::Id;
use crate::error::FieldError;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The page size: `DEFAULT_LIMIT` when absent, else 1 to `MAX_LIMIT`.
pub fn limit(raw: Option<&str>) -> Result<u32, FieldError> {
    match raw.map(str::parse::<u32>) {
        None => Ok(DEFAULT_LIMIT),
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(FieldError::new(
            "limit",
            format!("must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// The previous page's cursor (the id of its last item); absent or empty is the first page.
pub fn cursor(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => Id::parse(raw)
            .map(|id| Some(id.to_string()))
            .ok_or_else(|| FieldError::new("cursor", "is not a cursor this API returned")),
    }
}

/// A boolean filter parameter (`?done=true`): `true`, `false`, or absent.
pub fn flag(field: &str, raw: Option<&str>) -> Result<Option<bool>, FieldError> {
    match raw {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FieldError::new(field, "must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_cursors_and_flags_parse_or_name_their_field() {
        let id = Id::random().to_string();
        assert_eq!(limit(Some("5")), Ok(5));
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(cursor(Some(&id)), Ok(Some(id.clone())));
        assert_eq!(cursor(Some("")), Ok(None));
        assert_eq!(flag("done", Some("false")), Ok(Some(false)));
        assert_eq!(flag("done", None), Ok(None));

        let field = |r: Result<(), FieldError>| r.err().map(|e| e.field);
        assert_eq!(field(limit(Some("0")).map(drop)).as_deref(), Some("limit"));
        assert_eq!(
            field(limit(Some("101")).map(drop)).as_deref(),
            Some("limit")
        );
        assert_eq!(
            field(cursor(Some("nope")).map(drop)).as_deref(),
            Some("cursor")
        );
        assert_eq!(
            field(flag("done", Some("yes")).map(drop)).as_deref(),
            Some("done")
        );
    }
}
