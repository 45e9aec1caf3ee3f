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

    /// How long ago the primary first held something `replayed` lacks: zero when the
    /// replica has everything sampled, and at least the span when it lacks even the oldest.
    pub(crate) fn lag(&self, replayed: WalPosition, now: Instant) -> Duration {
        match self.samples.iter().find(|(_, p)| *p > replayed) {
            None => Duration::ZERO,
            Some((at, _)) if Some(at) == self.samples.front().map(|(t, _)| t) => {
                now.saturating_duration_since(*at).max(self.span)
            }
            Some((at, _)) => now.saturating_duration_since(*at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_write_the_replica_lacks() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut line = Timeline::new(Duration::from_secs(10));
        line.record(t0, WalPosition(100));
        line.record(t0 + s, WalPosition(200));
        line.record(t0 + 2 * s, WalPosition(200));
        line.record(t0 + 3 * s, WalPosition(300));
        let now = t0 + 4 * s;
        assert_eq!(line.lag(WalPosition(300), now), Duration::ZERO);
        // Replayed to 200: it lacks what the primary held at t0 + 3 s.
        assert_eq!(line.lag(WalPosition(200), now), s);
        assert_eq!(line.lag(WalPosition(150), now), 3 * s);
    }

    #[test]
    fn a_replica_behind_every_sample_is_at_least_the_span_behind() {
        let t0 = Instant::now();
        let mut line = Timeline::new(Duration::from_secs(2));
        for i in 0..10u64 {
            line.record(t0 + Duration::from_secs(i), WalPosition(100 + i));
        }
        assert!(line.samples.len() <= 4, "old samples are dropped");
        let lag = line.lag(WalPosition(0), t0 + Duration::from_secs(10));
        assert!(lag >= Duration::from_secs(2), "{lag:?}");
    }
}
