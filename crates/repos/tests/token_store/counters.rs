//! Failed-attempt counters: hits per window, and how an attempt is settled.

use super::*;

pub(crate) fn cases(s: &Suite) -> Vec<Trial> {
    contract_cases![
        s;
        a_login_begun_before_a_revoke_all_stores_no_session_after_it,
        twenty_logins_racing_a_revoke_all_leave_only_those_begun_after_it,
        every_revoke_all_moves_the_generation_to_a_value_never_held_before,
        hits_count_up_per_key,
        peek_does_not_count,
        window_starts_at_the_first_hit,
        clear_resets_the_counter,
        forgive_takes_back_one_hit_and_keeps_the_window,
        forgive_leaves_a_later_window_alone,
        short_window_expires,
        settle_clears_some_counters_and_forgives_others_at_once,
        a_counter_forgiven_back_to_zero_is_deleted,
    ]
}

pub(crate) async fn hits_count_up_per_key(store: AnyTokenStore) {
    let (a, b) = (id(), id());
    for expected in 1..=3 {
        let got = store
            .rate_hit(std::slice::from_ref(&a), WINDOW)
            .await
            .expect("rate_hit");
        assert_eq!(counts(&got), vec![expected]);
    }
    // Several keys at once, answered in the order asked.
    let got = store
        .rate_hit(&[b.clone(), a.clone()], WINDOW)
        .await
        .expect("rate_hit");
    assert_eq!(counts(&got), vec![1, 4]);
    for r in &got {
        assert!(
            r.resets_in > Duration::ZERO && r.resets_in <= WINDOW,
            "{r:?}"
        );
    }
}

pub(crate) async fn peek_does_not_count(store: AnyTokenStore) {
    let (a, unknown) = (id(), id());
    let keys = [a.clone(), unknown.clone()];
    let got = store.rate_peek(&keys).await.expect("rate_peek");
    assert_eq!(counts(&got), vec![0, 0]);
    assert_eq!(got[0].resets_in, Duration::ZERO, "no window yet");
    for _ in 0..2 {
        store
            .rate_hit(std::slice::from_ref(&a), WINDOW)
            .await
            .expect("rate_hit");
    }
    for _ in 0..3 {
        let got = store.rate_peek(&keys).await.expect("rate_peek");
        assert_eq!(counts(&got), vec![2, 0]);
        assert!(got[0].resets_in > Duration::ZERO && got[0].resets_in <= WINDOW);
        assert_eq!(got[1].resets_in, Duration::ZERO);
    }
}

pub(crate) async fn window_starts_at_the_first_hit(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let first = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    let second = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    assert!(first.resets_in > Duration::ZERO && first.resets_in <= WINDOW);
    assert!(
        second.resets_in <= first.resets_in,
        "a later hit does not extend the window: {first:?} then {second:?}"
    );
    let peeked = store.rate_peek(key).await.expect("rate_peek")[0];
    assert!(peeked.resets_in <= second.resets_in && peeked.resets_in > Duration::ZERO);
}

pub(crate) async fn clear_resets_the_counter(store: AnyTokenStore) {
    let (a, b) = (id(), id());
    for _ in 0..3 {
        store
            .rate_hit(&[a.clone(), b.clone()], WINDOW)
            .await
            .expect("rate_hit");
    }
    store
        .rate_settle(std::slice::from_ref(&a), &[])
        .await
        .expect("rate_settle");
    let got = store
        .rate_peek(&[a.clone(), b.clone()])
        .await
        .expect("rate_peek");
    assert_eq!(counts(&got), vec![0, 3], "only the cleared key is reset");
    let got = store
        .rate_hit(std::slice::from_ref(&a), WINDOW)
        .await
        .expect("rate_hit");
    assert_eq!(counts(&got), vec![1], "counting starts again");
    store
        .rate_settle(&[id()], &[])
        .await
        .expect("clearing an unknown key");
}

pub(crate) async fn a_login_begun_before_a_revoke_all_stores_no_session_after_it(
    store: AnyTokenStore,
) {
    let user = id();
    let before = store.generation(&user).await.expect("generation");
    let mut late = login(&user);
    late.generation = before;
    store.revoke_all(&user, None).await.expect("revoke_all");
    assert!(
        !store.create_session(&late).await.expect("create_session"),
        "a login that began before the revoke-all"
    );
    assert!(list(&store, &user).await.is_empty());
    assert_eq!(auth(&store, &late, &late.pair.access_jti).await, None);
    // A login that begins afterwards reads the new generation and is stored.
    let mut fresh = login(&user);
    fresh.generation = store.generation(&user).await.expect("generation");
    assert_ne!(fresh.generation, before);
    create(&store, &fresh).await;
    assert_eq!(ids(&list(&store, &user).await), [fresh.session_id.as_str()]);
}

pub(crate) async fn every_revoke_all_moves_the_generation_to_a_value_never_held_before(
    store: AnyTokenStore,
) {
    let (user, other) = (id(), id());
    let mut seen = vec![store.generation(&user).await.expect("generation")];
    for u in [&user, &other, &user, &user] {
        store.revoke_all(u, None).await.expect("revoke_all");
        seen.push(store.generation(&user).await.expect("generation"));
    }
    let moved: Vec<bool> = seen.windows(2).map(|w| w[1] > w[0]).collect();
    assert_eq!(moved, [true, false, true, true], "{seen:?}");
}

pub(crate) async fn twenty_logins_racing_a_revoke_all_leave_only_those_begun_after_it(
    store: AnyTokenStore,
) {
    let user = id();
    let before = store.generation(&user).await.expect("generation");
    let logins = (0..20).map(|_| {
        let (store, mut s) = (store.clone(), login(&user));
        s.generation = before;
        tokio::spawn(async move { store.create_session(&s).await.map(|stored| (stored, s)) })
    });
    let revoke = {
        let (store, user) = (store.clone(), user.clone());
        tokio::spawn(async move { store.revoke_all(&user, None).await })
    };
    let mut sessions = Vec::new();
    for l in logins.collect::<Vec<_>>() {
        sessions.push(l.await.expect("join").expect("create_session"));
    }
    revoke.await.expect("join").expect("revoke_all");
    // Every login began before the revoke-all: whether it was stored before (and then
    // revoked) or refused after, none survives it.
    assert!(list(&store, &user).await.is_empty());
    for (_, s) in &sessions {
        assert_eq!(auth(&store, s, &s.pair.access_jti).await, None);
    }
}

pub(crate) async fn settle_clears_some_counters_and_forgives_others_at_once(store: AnyTokenStore) {
    let (a, b, c, later) = (id(), id(), id(), id());
    let keys = [a.clone(), b.clone(), c.clone()];
    store.rate_hit(&keys, WINDOW).await.expect("rate_hit");
    let hits = store.rate_hit(&keys, WINDOW).await.expect("rate_hit");
    store
        .rate_settle(
            std::slice::from_ref(&a),
            &[(b.clone(), hits[1].window), (later.clone(), hits[2].window)],
        )
        .await
        .expect("rate_settle");
    let got = store.rate_peek(&[a, b, c, later]).await.expect("rate_peek");
    assert_eq!(
        counts(&got),
        vec![0, 1, 2, 0],
        "cleared, forgiven once, untouched, never counted"
    );
    store.rate_settle(&[], &[]).await.expect("settling nothing");
}

pub(crate) async fn forgive_takes_back_one_hit_and_keeps_the_window(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let mut hit = None;
    for _ in 0..3 {
        hit = Some(store.rate_hit(key, WINDOW).await.expect("rate_hit")[0]);
    }
    let hit = hit.expect("three hits");
    assert_ne!(hit.window, 0, "a counted hit names its window");
    store
        .rate_settle(&[], &[(a.clone(), hit.window)])
        .await
        .expect("rate_settle");
    let got = store.rate_peek(key).await.expect("rate_peek")[0];
    assert_eq!(got.count, 2);
    assert_eq!(got.window, hit.window, "the same window");
    assert!(
        got.resets_in > Duration::ZERO && got.resets_in <= hit.resets_in,
        "the window is kept: {hit:?} then {got:?}"
    );
    // Down to zero and no further; the next hit counts from one.
    for _ in 0..3 {
        store
            .rate_settle(&[], &[(a.clone(), hit.window)])
            .await
            .expect("rate_settle");
    }
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![0]
    );
    assert_eq!(
        counts(&store.rate_hit(key, WINDOW).await.expect("rate_hit")),
        vec![1]
    );
    // A counter that does not exist is not created by forgiving it.
    let unknown = id();
    store
        .rate_settle(&[], &[(unknown.clone(), hit.window)])
        .await
        .expect("rate_settle");
    let got = store
        .rate_peek(std::slice::from_ref(&unknown))
        .await
        .expect("rate_peek")[0];
    assert_eq!(
        (got.count, got.resets_in, got.window),
        (0, Duration::ZERO, 0)
    );
}

pub(crate) async fn forgive_leaves_a_later_window_alone(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let window = Duration::from_millis(200);
    let old = store.rate_hit(key, window).await.expect("rate_hit")[0];
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The window ended while the attempt was being checked; a new one has begun.
    let new = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    assert_eq!(new.count, 1);
    assert_ne!(new.window, old.window);
    store
        .rate_settle(&[], &[(a.clone(), old.window)])
        .await
        .expect("rate_settle");
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![1],
        "a hit of the old window is not taken from the new one"
    );
    store
        .rate_settle(&[], &[(a.clone(), new.window)])
        .await
        .expect("rate_settle");
    assert_eq!(
        counts(&store.rate_peek(key).await.expect("rate_peek")),
        vec![0]
    );
}

pub(crate) async fn short_window_expires(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let window = Duration::from_millis(300);
    for expected in 1..=2 {
        let got = store.rate_hit(key, window).await.expect("rate_hit");
        assert_eq!(counts(&got), vec![expected]);
        assert!(got[0].resets_in > Duration::ZERO && got[0].resets_in <= window);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = store.rate_peek(key).await.expect("rate_peek");
    assert_eq!(counts(&got), vec![0]);
    assert_eq!(got[0].resets_in, Duration::ZERO);
    let got = store.rate_hit(key, window).await.expect("rate_hit");
    assert_eq!(counts(&got), vec![1], "a new window starts");
}

pub(crate) async fn a_counter_forgiven_back_to_zero_is_deleted(store: AnyTokenStore) {
    let a = id();
    let key = std::slice::from_ref(&a);
    let first = store.rate_hit(key, WINDOW).await.expect("rate_hit")[0];
    store.rate_hit(key, WINDOW).await.expect("rate_hit");
    for _ in 0..2 {
        store
            .rate_settle(&[], &[(a.clone(), first.window)])
            .await
            .expect("rate_settle");
    }
    let got = store.rate_peek(key).await.expect("rate_peek")[0];
    assert_eq!(
        (got.count, got.resets_in, got.window),
        (0, Duration::ZERO, 0),
        "no counter is left, not even one at zero"
    );
}
