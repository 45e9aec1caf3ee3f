//! The checks a generated resource's values are built from (`cargo xtask new-resource`):
//! text by its length in characters, whole numbers by range, times in RFC 3339.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};

use crate::FieldError;

/// `raw` as given, if it holds `min..=max` characters and no NUL (which not every database
/// stores in text). Text is not trimmed: what is sent is what is stored.
pub fn text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    if raw.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    let n = raw.chars().count();
    if n < min {
        return Err(FieldError::new(
            field,
            match min {
                1 => "must not be empty".to_owned(),
                _ => format!("must be at least {min} characters long"),
            },
        ));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters long"),
        ));
    }
    Ok(raw.to_owned())
}

/// `n`, if it lies in `min..=max`.
pub fn whole(field: &str, n: i64, min: i64, max: i64) -> Result<i64, FieldError> {
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a whole number from {min} to {max}"),
        ))
    }
}

/// A point in time sent as RFC 3339 (`2026-12-07T10:00:00Z`, any offset), kept in UTC to
/// the microsecond: the precision all three databases store. Years 1000 to 9999 in UTC (what
/// MariaDB's `DATETIME` holds, and what RFC 3339 can write back); no leap second, which
/// no database stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(NaiveDateTime);

impl Instant {
    /// Parses RFC 3339 text.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let refused = || {
            FieldError::new(
                field,
                "must be an RFC 3339 time between the years 1000 and 9999 (UTC)",
            )
        };
        let t = DateTime::parse_from_rfc3339(raw)
            .map_err(|_| refused())?
            .naive_utc();
        if !(1000..=9999).contains(&t.year()) || t.nanosecond() >= 1_000_000_000 {
            return Err(refused());
        }
        let micros = t.nanosecond() / 1_000 * 1_000;
        Ok(Self(t.with_nanosecond(micros).unwrap_or(t)))
    }

    /// The UTC time, as a column stores it.
    pub fn naive_utc(&self) -> NaiveDateTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_in_characters_and_kept_as_sent() {
        assert_eq!(text("f", " é ", 1, 3), Ok(" é ".to_owned()));
        assert!(text("f", "", 1, 3).is_err());
        assert!(text("f", "abcd", 0, 3).is_err());
        assert!(text("f", "a\0", 0, 3).is_err());
        assert_eq!(text("f", "", 0, 3), Ok(String::new()));
    }

    #[test]
    fn whole_numbers_and_instants_check_their_bounds_and_format() {
        assert_eq!(whole("n", 5, 1, 5), Ok(5));
        assert!(whole("n", 6, 1, 5).is_err());
        let t = Instant::parse("t", "2026-12-07T10:00:00.1234567+01:00").map(|t| t.naive_utc());
        assert_eq!(
            t.map(|t| t.to_string()),
            Ok("2026-12-07 09:00:00.123456".to_owned())
        );
        for bad in [
            "tomorrow",
            "0500-06-01T00:00:00Z",
            "1000-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-12-07T23:59:60Z",
        ] {
            assert!(Instant::parse("t", bad).is_err(), "{bad}");
        }
        assert!(Instant::parse("t", "9999-12-31T23:59:59Z").is_ok());
    }
}
