//! The primary's write position over the last moments, to tell how far behind a replica is
//! in time from how far it has replayed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::WalPosition;

/// Samples of the primary's write position, oldest first, kept for `span`.
#[derive(Debug)]
pub(crate) struct Timeline {
    samples: VecDeque<(Instant, WalPosition)>,
    span: Duration,
}

impl Timeline {
    pub(crate) fn new(span: Duration) -> Self {
        Self {
            samples: VecDeque::new(),
            span,
        }
    }

    /// Records where the primary was at `at`.
    pub(crate) fn record(&mut self, at: Instant, position: WalPosition) {
        self.samples.push_back((at, position));
        // Keep one sample older than the span, so a lag just past it is still measured.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| at.saturating_duration_since(*t) > self.span)
        {
            self.samples.pop_front();
        }
    }

    /// How far behind a replica that has replayed `replayed` is: the age of the oldest
    /// write it lacks (at least the span when it lacks even the oldest sample). When it has
    /// every sample, the time since the last one beyond `grace` counts too: what the
    /// primary did since is unknown. `None` before the first sample.
    pub(crate) fn lag(
        &self,
        replayed: WalPosition,
        now: Instant,
        grace: Duration,
    ) -> Option<Duration> {
        let (newest, _) = *self.samples.back()?;
        // Positions only grow, so the samples the replica lacks are a suffix.
        let first_lacking = self.samples.partition_point(|(_, p)| *p <= replayed);
        Some(match self.samples.get(first_lacking) {
            None => now.saturating_duration_since(newest).saturating_sub(grace),
            Some((at, _)) if first_lacking == 0 => {
                now.saturating_duration_since(*at).max(self.span)
            }
            Some((at, _)) => now.saturating_duration_since(*at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(2);

    #[test]
    fn lag_is_the_age_of_the_oldest_write_the_replica_lacks() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut line = Timeline::new(Duration::from_secs(10));
        assert_eq!(
            line.lag(WalPosition(0), t0, GRACE),
            None,
            "not measured yet"
        );
        line.record(t0, WalPosition(100));
        line.record(t0 + s, WalPosition(200));
        line.record(t0 + 2 * s, WalPosition(200));
        line.record(t0 + 3 * s, WalPosition(300));
        let now = t0 + 3 * s + Duration::from_millis(250);
        assert_eq!(line.lag(WalPosition(300), now, GRACE), Some(Duration::ZERO));
        // Replayed to 200: it lacks what the primary held at t0 + 3 s.
        assert_eq!(
            line.lag(WalPosition(200), now, GRACE),
            Some(Duration::from_millis(250))
        );
        assert_eq!(line.lag(WalPosition(150), now, GRACE), Some(now - (t0 + s)));
    }

    #[test]
    fn a_replica_behind_every_sample_is_at_least_the_span_behind() {
        let t0 = Instant::now();
        let mut line = Timeline::new(Duration::from_secs(2));
        for i in 0..10u64 {
            line.record(t0 + Duration::from_secs(i), WalPosition(100 + i));
        }
        assert!(line.samples.len() <= 4, "old samples are dropped");
        let lag = line.lag(WalPosition(0), t0 + Duration::from_secs(10), GRACE);
        assert!(lag >= Some(Duration::from_secs(2)), "{lag:?}");
    }

    #[test]
    fn a_timeline_gone_quiet_counts_its_silence_past_the_grace_as_lag() {
        let t0 = Instant::now();
        let mut line = Timeline::new(Duration::from_secs(10));
        line.record(t0, WalPosition(100));
        let caught_up = WalPosition(100);
        assert_eq!(line.lag(caught_up, t0 + GRACE, GRACE), Some(Duration::ZERO));
        assert_eq!(
            line.lag(caught_up, t0 + GRACE + Duration::from_secs(5), GRACE),
            Some(Duration::from_secs(5))
        );
    }
}
