//! Users' last writes: the highest position wins, and it lapses with its hold.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        a_users_last_write_is_held_and_a_lower_one_never_replaces_it,
        a_write_mark_lapses_with_its_hold,
        positions_past_two_to_the_fifty_three_keep_their_order,
    ]
}

pub(crate) async fn a_users_last_write_is_held_and_a_lower_one_never_replaces_it(
    store: AnyTokenStore,
) {
    let user = id();
    assert_eq!(store.last_write(&user).await.expect("read"), None);
    store.mark_write(&user, 500, WINDOW).await.expect("mark");
    // A concurrent write that committed earlier finishes its mark later.
    store.mark_write(&user, 300, WINDOW).await.expect("mark");
    assert_eq!(store.last_write(&user).await.expect("read"), Some(500));
    store.mark_write(&user, 9_000, WINDOW).await.expect("mark");
    assert_eq!(store.last_write(&user).await.expect("read"), Some(9_000));
    assert_eq!(
        store.last_write(&id()).await.expect("read"),
        None,
        "per user"
    );
}

pub(crate) async fn a_write_mark_lapses_with_its_hold(store: AnyTokenStore) {
    let user = id();
    store
        .mark_write(&user, 42, Duration::from_millis(200))
        .await
        .expect("mark");
    assert_eq!(store.last_write(&user).await.expect("read"), Some(42));
    let lapsed = async {
        while store.last_write(&user).await.expect("read").is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), lapsed)
        .await
        .expect("the mark never lapsed");
}

pub(crate) async fn positions_past_two_to_the_fifty_three_keep_their_order(store: AnyTokenStore) {
    let user = id();
    let high = (1u64 << 53) + 1;
    store.mark_write(&user, high, WINDOW).await.expect("mark");
    store
        .mark_write(&user, high - 1, WINDOW)
        .await
        .expect("mark");
    assert_eq!(store.last_write(&user).await.expect("read"), Some(high));
}
