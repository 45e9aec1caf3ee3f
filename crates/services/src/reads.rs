//! Reads that may lag, kept in step with the reader's own writes: after a user writes,
//! their reads skip every replica that has not replayed the write, on every instance.

use repos::database::Freshness;
use repos::ReadYourWrites;

/// The read-your-writes rule, for the services that write for a user and those that show
/// the user what they wrote.
#[derive(Clone)]
pub(crate) struct Reads {
    marks: ReadYourWrites,
}

impl Reads {
    pub(crate) fn new(marks: ReadYourWrites) -> Self {
        Self { marks }
    }

    /// After a write for `user_id` has committed. A mark that cannot be stored is logged,
    /// not returned: the write happened, and a client told otherwise would repeat it.
    pub(crate) async fn wrote(&self, user_id: &str) {
        if let Err(e) = self.marks.wrote(user_id).await {
            tracing::warn!(error = %e, "could not hold a write's log position; the writer's reads may lag for up to REPLICA_MAX_LAG");
        }
    }

    /// What `user_id`'s reads that may lag must see. When the mark cannot be read, the
    /// primary, which never lags.
    pub(crate) async fn for_reader(&self, user_id: &str) -> Freshness {
        self.marks
            .freshness_for(user_id)
            .await
            .unwrap_or(Freshness::Primary)
    }
}
