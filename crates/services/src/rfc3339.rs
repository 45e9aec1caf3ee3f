//! UTC times in JSON, as RFC 3339 text: exactly what chrono's own `Serialize` writes
//! (`2026-11-29T10:17:42.123456Z`: no fraction, or 3, 6 or 9 digits, the fewest that are
//! exact), but formatted on the stack and handed to the serializer as one string. chrono
//! goes through `fmt`, one `write_char` at a time through serde_json's escaping writer:
//! about 2,600 instructions a time, and a page of 20 tasks holds 40 of them.
//!
//! Use it on a field with `#[serde(serialize_with = "crate::rfc3339::serialize")]`.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `YYYY-MM-DDTHH:MM:SS.fffffffffZ`: the longest text for a year of four digits.
const MAX_LEN: usize = 30;

/// Serializes `t` as chrono would, faster.
pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match format(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        // A year before 0 or after 9999 is written with a sign: leave that to chrono.
        None => t.serialize(s),
    }
}

/// Writes `t` into `buf`; `None` for a year outside 0-9999.
fn format<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; MAX_LEN]) -> Option<&'a str> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut sec = t.second();
    let mut nano = t.nanosecond();
    // A leap second is kept as an extra billion nanoseconds; chrono writes it as second 60.
    if nano >= 1_000_000_000 {
        sec += 1;
        nano -= 1_000_000_000;
    }
    let mut w = Writer { buf, len: 0 };
    w.digits(year, 4);
    w.byte(b'-');
    w.digits(t.month(), 2);
    w.byte(b'-');
    w.digits(t.day(), 2);
    w.byte(b'T');
    w.digits(t.hour(), 2);
    w.byte(b':');
    w.digits(t.minute(), 2);
    w.byte(b':');
    w.digits(sec, 2);
    if nano != 0 {
        w.byte(b'.');
        if nano.is_multiple_of(1_000_000) {
            w.digits(nano / 1_000_000, 3);
        } else if nano.is_multiple_of(1_000) {
            w.digits(nano / 1_000, 6);
        } else {
            w.digits(nano, 9);
        }
    }
    w.byte(b'Z');
    let Writer { buf, len } = w;
    std::str::from_utf8(&buf[..len]).ok()
}

struct Writer<'a> {
    buf: &'a mut [u8; MAX_LEN],
    len: usize,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// `value` in exactly `width` decimal digits, zero-padded (it never has more).
    fn digits(&mut self, mut value: u32, width: usize) {
        for i in (0..width).rev() {
            self.buf[self.len + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.len += width;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn both(t: DateTime<Utc>) -> (String, String) {
        (
            serde_json::to_string(&Fast(t)).unwrap(),
            serde_json::to_string(&t).unwrap(),
        )
    }

    #[test]
    fn every_fraction_length_and_the_edges_read_as_chrono_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 11, 29, 10, 17, 42).unwrap();
        for nano in [
            0,
            1,
            7_000,
            120_000_000,
            123_456_000,
            999_999_999,
            1_000_000,
        ] {
            let t = base + chrono::Duration::nanoseconds(nano);
            let (fast, chrono) = both(t);
            assert_eq!(fast, chrono, "{nano} ns");
        }
        for t in [
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            // Outside 0-9999: chrono's own text, with its sign.
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
        ] {
            let (fast, chrono) = both(t);
            assert_eq!(fast, chrono);
        }
        assert_eq!(
            both(base + chrono::Duration::microseconds(123_456)).0,
            r#""2026-11-29T10:17:42.123456Z""#
        );
    }

    #[test]
    fn a_leap_second_is_second_60_as_chrono_writes_it() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap();
        let (fast, chrono) = both(Utc.from_utc_datetime(&leap));
        assert_eq!(fast, chrono);
        assert_eq!(fast, r#""2016-12-31T23:59:60.500Z""#);
    }

    proptest! {
        #[test]
        fn any_time_reads_as_chrono_writes_it(
            secs in -62_167_219_200i64..253_402_300_800i64,
            nano in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let t = DateTime::from_timestamp(secs, nano).unwrap();
            let (fast, chrono) = both(t);
            prop_assert_eq!(fast, chrono);
        }
    }
}
