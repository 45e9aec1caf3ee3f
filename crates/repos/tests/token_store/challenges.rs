//! Sign-ins waiting for their second factor: tries one at a time up to a limit, taken
//! once, gone with their lifetime.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        a_challenge_grants_its_tries_one_at_a_time_then_refuses,
        a_granted_try_can_take_the_challenge_even_when_the_tries_are_spent,
        of_twenty_concurrent_tries_one_is_granted_and_the_rest_wait,
        of_twenty_concurrent_takes_of_a_challenge_one_wins,
        a_challenge_ends_with_its_lifetime,
    ]
}

pub(crate) fn challenge() -> (String, SignInChallenge) {
    let c = SignInChallenge {
        user_id: id(),
        proof: id(),
        generation: 3,
    };
    (id().replace('-', ""), c)
}

pub(crate) async fn try_(store: &AnyTokenStore, key: &str, max: u64) -> ChallengeTry {
    store.challenge_try(key, max).await.expect("challenge_try")
}

pub(crate) async fn a_challenge_grants_its_tries_one_at_a_time_then_refuses(store: AnyTokenStore) {
    let (key, c) = challenge();
    assert_eq!(try_(&store, &key, 3).await, ChallengeTry::Gone, "unknown");
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    for n in 1..=3 {
        assert_eq!(
            try_(&store, &key, 3).await,
            ChallengeTry::Granted(c.clone(), n)
        );
        assert_eq!(
            try_(&store, &key, 3).await,
            ChallengeTry::Busy,
            "one at a time"
        );
        store.challenge_release(&key).await.expect("release");
    }
    assert_eq!(try_(&store, &key, 3).await, ChallengeTry::Gone, "spent");
    assert_eq!(
        try_(&store, &key, 3).await,
        ChallengeTry::Gone,
        "still spent"
    );
    store
        .challenge_release(&id())
        .await
        .expect("releasing an unknown challenge");
}

pub(crate) async fn a_granted_try_can_take_the_challenge_even_when_the_tries_are_spent(
    store: AnyTokenStore,
) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Granted(c, 1));
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Busy);
    assert!(store.challenge_take(&key).await.expect("take"));
    assert_eq!(try_(&store, &key, 1).await, ChallengeTry::Gone);
    assert!(!store.challenge_take(&key).await.expect("take"));
}

pub(crate) async fn of_twenty_concurrent_tries_one_is_granted_and_the_rest_wait(
    store: AnyTokenStore,
) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    let tries = (0..20).map(|_| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move { store.challenge_try(&key, 5).await })
    });
    let mut granted = 0;
    for t in tries.collect::<Vec<_>>() {
        match t.await.expect("join").expect("try") {
            ChallengeTry::Granted(_, n) => {
                assert_eq!(n, 1);
                granted += 1;
            }
            ChallengeTry::Busy => {}
            ChallengeTry::Gone => panic!("a live challenge with tries left"),
        }
    }
    assert_eq!(granted, 1);
}

pub(crate) async fn of_twenty_concurrent_takes_of_a_challenge_one_wins(store: AnyTokenStore) {
    let (key, c) = challenge();
    store.challenge_put(&key, &c, WINDOW).await.expect("put");
    let takes = (0..20).map(|_| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move { store.challenge_take(&key).await })
    });
    let mut wins = 0;
    for t in takes.collect::<Vec<_>>() {
        wins += usize::from(t.await.expect("join").expect("take"));
    }
    assert_eq!(wins, 1);
    assert_eq!(try_(&store, &key, 5).await, ChallengeTry::Gone);
}

pub(crate) async fn a_challenge_ends_with_its_lifetime(store: AnyTokenStore) {
    let (key, c) = challenge();
    store
        .challenge_put(&key, &c, Duration::from_millis(300))
        .await
        .expect("put");
    assert!(matches!(
        try_(&store, &key, 5).await,
        ChallengeTry::Granted(..)
    ));
    store.challenge_release(&key).await.expect("release");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(try_(&store, &key, 5).await, ChallengeTry::Gone);
    store
        .challenge_release(&key)
        .await
        .expect("release after the end");
    assert_eq!(
        try_(&store, &key, 5).await,
        ChallengeTry::Gone,
        "a release brings nothing back"
    );
    assert!(!store.challenge_take(&key).await.expect("take"));
}
