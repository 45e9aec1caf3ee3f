//! Records taken once: a replay finds nothing, concurrent takes have one winner, a kind
//! holds at most its cap of live records, and a record lapses with its lifetime.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        a_single_use_record_is_taken_once_and_then_is_gone,
        of_twenty_concurrent_takes_of_a_single_use_record_one_wins,
        a_kind_at_its_cap_refuses_new_records_until_one_is_taken,
        kinds_are_capped_apart,
        a_single_use_record_lapses_with_its_lifetime,
        an_oversized_single_use_record_is_refused,
    ]
}

/// A kind of this run's own, so counts start at zero on a shared server.
fn new_kind() -> String {
    format!("test-{}", id().replace('-', ""))
}

async fn put(store: &AnyTokenStore, kind: &str, key: &str, cap: usize) -> Result<(), RepoError> {
    store
        .single_put(kind, key, key.as_bytes(), WINDOW, cap)
        .await
}

async fn take(store: &AnyTokenStore, kind: &str, key: &str) -> Option<Vec<u8>> {
    store.single_take(kind, key).await.expect("take")
}

pub(crate) async fn a_single_use_record_is_taken_once_and_then_is_gone(store: AnyTokenStore) {
    let (kind, key) = (new_kind(), id());
    assert_eq!(take(&store, &kind, &key).await, None, "unknown");
    put(&store, &kind, &key, 10).await.expect("put");
    assert_eq!(
        take(&store, &kind, &key).await,
        Some(key.clone().into_bytes())
    );
    assert_eq!(
        take(&store, &kind, &key).await,
        None,
        "a replay finds nothing"
    );
    assert_eq!(
        take(&store, &new_kind(), &key).await,
        None,
        "keys are per kind"
    );
}

pub(crate) async fn of_twenty_concurrent_takes_of_a_single_use_record_one_wins(
    store: AnyTokenStore,
) {
    let (kind, key) = (new_kind(), id());
    put(&store, &kind, &key, 10).await.expect("put");
    let takes = (0..20).map(|_| {
        let (store, kind, key) = (store.clone(), kind.clone(), key.clone());
        tokio::spawn(async move { store.single_take(&kind, &key).await })
    });
    let mut wins = 0;
    for t in takes.collect::<Vec<_>>() {
        wins += usize::from(t.await.expect("join").expect("take").is_some());
    }
    assert_eq!(wins, 1);
}

pub(crate) async fn a_kind_at_its_cap_refuses_new_records_until_one_is_taken(store: AnyTokenStore) {
    let kind = new_kind();
    let keys: Vec<String> = (0..5).map(|_| id()).collect();
    for key in &keys {
        put(&store, &kind, key, 5).await.expect("under the cap");
    }
    let refused = put(&store, &kind, &id(), 5).await;
    assert!(
        matches!(refused, Err(RepoError::Unavailable { .. })),
        "{refused:?}"
    );
    assert!(take(&store, &kind, &keys[0]).await.is_some());
    put(&store, &kind, &id(), 5).await.expect("room again");
    // What was refused was not stored: the other four are still there, and taken once.
    for key in &keys[1..] {
        assert!(take(&store, &kind, key).await.is_some(), "{key}");
    }
}

pub(crate) async fn kinds_are_capped_apart(store: AnyTokenStore) {
    let (full, other) = (new_kind(), new_kind());
    put(&store, &full, &id(), 1).await.expect("put");
    assert!(put(&store, &full, &id(), 1).await.is_err(), "full");
    put(&store, &other, &id(), 1)
        .await
        .expect("another kind has room");
}

pub(crate) async fn a_single_use_record_lapses_with_its_lifetime(store: AnyTokenStore) {
    let (kind, key) = (new_kind(), id());
    store
        .single_put(&kind, &key, b"state", Duration::from_millis(300), 1)
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(take(&store, &kind, &key).await, None, "lapsed");
    // A lapsed record no longer counts against the cap.
    put(&store, &kind, &id(), 1)
        .await
        .expect("room after the lapse");
}

pub(crate) async fn an_oversized_single_use_record_is_refused(store: AnyTokenStore) {
    let (kind, key) = (new_kind(), id());
    let big = vec![b'x'; repos::token_store::MAX_SINGLE_USE_BYTES + 1];
    let refused = store.single_put(&kind, &key, &big, WINDOW, 10).await;
    assert!(
        matches!(refused, Err(RepoError::Unavailable { .. })),
        "{refused:?}"
    );
    assert_eq!(take(&store, &kind, &key).await, None);
}
