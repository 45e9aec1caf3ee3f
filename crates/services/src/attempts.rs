//! Failed-password limits: an attempt is counted on its counters *before* its password is
//! checked, so attempts sent all at once are counted all at once, and then settled by what
//! the check found.
//!
//! - a wrong password stays counted ([`Verdict::Wrong`]);
//! - a right one clears the counters marked to clear (the account's) and is taken back
//!   from the rest ([`Verdict::Right`]);
//! - a right one with more to prove (a second factor owed) is taken back from all and
//!   clears nothing ([`Verdict::Partly`]): only the last proof clears;
//! - a check that could not run (an outage, a full password queue) is taken back from all;
//! - an attempt refused by a limit checks nothing and is taken back at once.
//!
//! The check and the settling run on a task of their own, which the caller waits for but
//! cannot cancel: a request dropped mid-check (its client gone) is still settled by the
//! check's real outcome, so hanging up buys no uncounted guess.

use std::future::Future;
use std::time::Duration;

use repos::{AnyTokenStore, RateCounters};

use crate::ServiceError;

/// One counter of an attempt: its name, the most attempts its window allows, and whether
/// a right password clears it (the account's failures) or only takes the attempt back.
pub(crate) struct Counter {
    pub name: String,
    pub limit: u64,
    pub cleared_by_success: bool,
}

impl Counter {
    /// A counter a right password clears.
    pub(crate) fn cleared(name: String, limit: u64) -> Self {
        Self {
            name,
            limit,
            cleared_by_success: true,
        }
    }

    /// A counter a right password only takes its attempt back from.
    pub(crate) fn kept(name: String, limit: u64) -> Self {
        Self {
            name,
            limit,
            cleared_by_success: false,
        }
    }
}

/// What a checked attempt found: how it is settled, and what it gives the caller.
#[derive(Debug)]
pub(crate) enum Verdict<T> {
    /// Right: the counters marked to clear are cleared, the others take the attempt back.
    Right(T),
    /// Right so far, with more to prove: every counter takes the attempt back, none clears.
    Partly(T),
    /// Wrong: the attempt stays counted.
    Wrong,
}

/// Counts attempts against their limits in the token store.
#[derive(Clone)]
pub(crate) struct Attempts {
    store: AnyTokenStore,
    window: Duration,
}

impl Attempts {
    /// Counters whose windows last `window`.
    pub(crate) fn new(store: AnyTokenStore, window: Duration) -> Self {
        Self { store, window }
    }

    /// Counts an attempt on `counters`, runs `check` on a task of its own, settles the
    /// attempt by its verdict, and returns the verdict. `RateLimited` if a counter is past
    /// its limit: then `check` does not run.
    pub(crate) async fn check<T, F>(
        &self,
        counters: Vec<Counter>,
        check: F,
    ) -> Result<Verdict<T>, ServiceError>
    where
        T: Send + 'static,
        F: Future<Output = Result<Verdict<T>, ServiceError>> + Send + 'static,
    {
        let names: Vec<String> = counters.iter().map(|c| c.name.clone()).collect();
        let counts = self.store.rate_hit(&names, self.window).await?;
        let blocked = counts
            .iter()
            .zip(&counters)
            .filter(|(count, counter)| count.count > counter.limit)
            .map(|(count, _)| count.resets_in)
            .max();
        let counted: Vec<(String, u64)> = names
            .into_iter()
            .zip(counts.iter().map(|c| c.window))
            .collect();
        let cleared: Vec<bool> = counters.iter().map(|c| c.cleared_by_success).collect();
        let store = self.store.clone();
        let task = tokio::spawn(async move {
            if let Some(wait) = blocked {
                // A refused attempt checks nothing, so it counts for nothing: retrying while
                // refused neither lengthens a lock-out nor fills the other counters.
                settle(&store, &[], &counted).await;
                return Err(ServiceError::RateLimited {
                    retry_after: wait.max(Duration::from_secs(1)),
                });
            }
            let outcome = check.await;
            match &outcome {
                Ok(Verdict::Wrong) => {}
                Ok(Verdict::Right(_)) => {
                    let (clear, forgive): (Vec<_>, Vec<_>) = counted
                        .into_iter()
                        .zip(cleared)
                        .partition(|(_, cleared)| *cleared);
                    let clear: Vec<String> = clear.into_iter().map(|((name, _), _)| name).collect();
                    let forgive: Vec<(String, u64)> = forgive.into_iter().map(|(c, _)| c).collect();
                    settle(&store, &clear, &forgive).await;
                }
                Ok(Verdict::Partly(_)) | Err(_) => settle(&store, &[], &counted).await,
            }
            outcome
        });
        task.await
            .map_err(|e| ServiceError::internal_from("the password check task", e))?
    }
}

/// Clears the counters `clear` and takes one attempt back from each of `forgive` (if it is
/// still in the window the attempt was counted in), in one token-store round trip. Best
/// effort: the attempt's outcome stands whatever happens here; a failure is logged and
/// leaves at most one attempt too many counted.
async fn settle(store: &AnyTokenStore, clear: &[String], forgive: &[(String, u64)]) {
    if let Err(e) = store.rate_settle(clear, forgive).await {
        tracing::warn!(error = %e, "could not settle an attempt's failed-attempt counters");
    }
}

/// The block of addresses one client controls, for the limits "per IP": an IPv4 address
/// itself, and the /64 of an IPv6 one (a single host is routinely given a whole /64, so
/// counting per address would give an attacker 2^64 fresh counters). `unknown` without one.
pub(crate) fn address_block(ip: Option<&str>) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    let Some(ip) = ip else {
        return "unknown".to_owned();
    };
    match ip.parse::<IpAddr>().map(|a| a.to_canonical()) {
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::address_block;

    #[test]
    fn per_ip_limits_count_an_ipv6_client_by_its_64_and_an_ipv4_one_by_its_address() {
        let block = |ip: &str| address_block(Some(ip));
        assert_eq!(block("203.0.113.7"), "203.0.113.7");
        assert_eq!(block("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(
            block("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(block("2001:db8:1:2::1"), block("2001:db8:1:2:ffff::9"));
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_eq!(block("not an address"), "not an address");
        assert_eq!(address_block(None), "unknown");
    }
}
