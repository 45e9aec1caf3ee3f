//! The watch: four times a second, the primary's write position and each replica's replay
//! position, each read on a connection of its own so that neither request traffic nor a
//! silent server holds up another check.

use std::time::{Duration, Instant};

use super::{replayed, written, CHECK_EVERY, CHECK_WITHIN};
use crate::Database;

impl Database {
    /// Keeps each replica's state until the future is dropped (which stops its loops);
    /// returns at once without replicas.
    pub async fn watch_replicas(&self) {
        let Some(set) = self.replicas.clone() else {
            return;
        };
        let mut loops = tokio::task::JoinSet::new();
        let (db, timeline) = (self.clone(), set.clone());
        loops.spawn(async move {
            let mut tick = every(CHECK_EVERY);
            loop {
                tick.tick().await;
                // The time before asking: the position read is at least where it was then.
                let at = Instant::now();
                let asked = db.run_on(&timeline.primary_watch, written);
                // A primary that does not answer adds no sample; the replicas' lag then
                // grows with the silence (see `Timeline::lag`).
                if let Ok(Ok(position)) = tokio::time::timeout(CHECK_WITHIN, asked).await {
                    timeline.primary_at(at, position);
                }
            }
        });
        for i in 0..set.members.len() {
            let (db, set) = (self.clone(), set.clone());
            loops.spawn(async move {
                let mut tick = every(CHECK_EVERY);
                loop {
                    tick.tick().await;
                    let Some(replica) = set.members.get(i) else {
                        return;
                    };
                    let asked = db.run_on(&replica.watch, replayed);
                    match tokio::time::timeout(CHECK_WITHIN, asked).await {
                        Ok(Ok(position)) => set.answered(replica, position),
                        Ok(Err(e)) => set.failed(replica, &e),
                        Err(_) => set.failed(replica, &"no answer to the watch within 1s"),
                    }
                }
            });
        }
        while loops.join_next().await.is_some() {}
    }
}

/// A ticker that skips the ticks a slow check missed rather than bunching them.
fn every(period: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}
