//! A point in time as the API shows it: UTC, written as RFC 3339 text by chrono
//! (`2026-11-29T10:17:42.123456Z`: no fraction, or 3, 6 or 9 digits, the fewest exact).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// A UTC time in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The time a stored column (UTC, without an offset) holds.
    pub(crate) fn from_utc(t: NaiveDateTime) -> Self {
        Self(Utc.from_utc_datetime(&t))
    }

    /// The time `secs` Unix seconds name (the epoch for one out of range).
    pub(crate) fn from_unix(secs: i64) -> Self {
        Self(DateTime::from_timestamp(secs, 0).unwrap_or_default())
    }

    /// The time itself.
    pub fn get(&self) -> DateTime<Utc> {
        self.0
    }
}

impl Serialize for Timestamp {
    /// chrono's RFC 3339 writer into one string: its own `Serialize` goes through `fmt` a
    /// character at a time, 6% of a 20-task page's CPU (BENCHMARKS.md).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("A UTC time, RFC 3339"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Timestamp")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_written_as_rfc_3339_utc_with_the_fewest_exact_digits() {
        let t = |s: &str| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            serde_json::to_string(&Timestamp::from_utc(naive)).unwrap()
        };
        assert_eq!(
            t("2026-11-29 10:17:42.123456"),
            r#""2026-11-29T10:17:42.123456Z""#
        );
        assert_eq!(
            t("2026-11-29 10:17:42.120"),
            r#""2026-11-29T10:17:42.120Z""#
        );
        assert_eq!(
            t("2026-11-29 10:17:42.123456789"),
            r#""2026-11-29T10:17:42.123456789Z""#
        );
        assert_eq!(t("2026-11-29 10:17:42"), r#""2026-11-29T10:17:42Z""#);
        assert_eq!(
            serde_json::to_string(&Timestamp::from_unix(0)).unwrap(),
            r#""1970-01-01T00:00:00Z""#
        );
    }
}
