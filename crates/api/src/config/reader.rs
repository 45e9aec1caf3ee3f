//! Reading the environment: each variable as text, a duration, a bounded number or a value
//! of its own parser; every bad value becomes one line of the error list.

use std::time::Duration;

/// Parses `15m`, `7d`, `10s`, `250ms`, `2h`, or a bare number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 15m, 7d, 10s or 30"))?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs);
    let d = match unit {
        "" | "s" => secs(1),
        "ms" => Some(Duration::from_millis(n)),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    };
    d.ok_or_else(|| format!("{raw:?} is not a duration like 15m, 7d, 10s or 30"))
}

/// Reads the variables through `get`, so tests can pass a map instead of the environment.
pub(super) struct Reader<'a> {
    pub(super) get: &'a dyn Fn(&str) -> Option<String>,
    pub(super) errors: Vec<String>,
}

impl Reader<'_> {
    pub(super) fn raw(&self, key: &str) -> Option<String> {
        (self.get)(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Whether `key` is set (to anything but blanks).
    pub(super) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    pub(super) fn parse<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        match self.raw(key) {
            None => default,
            Some(v) => match parse(&v) {
                Ok(x) => x,
                Err(e) => {
                    self.errors.push(format!("{key}: {e}"));
                    default
                }
            },
        }
    }

    pub(super) fn duration(&mut self, key: &str, default: Duration) -> Duration {
        self.parse(key, default, parse_duration)
    }

    pub(super) fn number<T>(
        &mut self,
        key: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> T
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        self.parse(key, default, |v| match v.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "{v:?} must be a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        })
    }
}
