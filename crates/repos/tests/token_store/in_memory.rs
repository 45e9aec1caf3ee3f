//! The in-memory store only: its cap on counters.

use super::*;

pub(crate) async fn counters_past_the_cap_are_refused_until_expired_ones_are_swept() {
    let store = MemoryTokenStore::with_counter_cap(100);
    let short = Duration::from_millis(200);
    // Names of any length: each counter is held under a fixed-size digest.
    let names: Vec<String> = (0..100)
        .map(|i| format!("{i}{}", "x".repeat(20_000)))
        .collect();
    for chunk in names.chunks(2) {
        store.rate_hit(chunk, short).await.expect("rate_hit");
    }
    assert_eq!(store.len().1, 100);
    let refused = store.rate_hit(&[id()], WINDOW).await;
    assert!(
        matches!(refused, Err(RepoError::Unavailable { .. })),
        "{refused:?}"
    );
    // Counting on a counter already held still works at the cap.
    let again = store.rate_hit(&names[..1], short).await.expect("rate_hit");
    assert_eq!(counts(&again), vec![2]);
    // Expired, and a second since the last sweep: the next new counter makes room.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store
        .rate_hit(&[id()], WINDOW)
        .await
        .expect("room once expired counters go");
    assert_eq!(store.len().1, 1);
}
