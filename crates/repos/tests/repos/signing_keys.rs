//! `signing_keys::` cases: the key life cycle's steps are conditional, so of two instances
//! taking the same step at once exactly one takes it.

use libtest_mimic::Trial;
use repos::{SigningKeyRecord, SigningKeyRepo};

use super::{register, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            a_stored_key_reads_back_as_stored,
            promoting_moves_next_to_current_and_current_to_previous,
            of_two_promotions_at_once_exactly_one_happens,
            retiring_and_revoking_take_only_published_keys,
        ],
    )
}

fn repo(c: &Ctx) -> SigningKeyRepo {
    SigningKeyRepo::new(c.database.clone())
}

/// A key in `state` with a kid of its own (cases share the table).
fn key(state: &str) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: testkit::random_name("kid"),
        algorithm: "EdDSA".into(),
        state: state.into(),
        public_jwk: r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#.into(),
        private_sealed: "sealed".into(),
        created_at: repos::now_utc(),
        activated_at: None,
        deactivated_at: None,
        retired_at: None,
    }
}

fn state(c: &Ctx, kid: &str) -> String {
    c.block_on(repo(c).find(kid))
        .unwrap()
        .map(|k| k.state)
        .unwrap_or_default()
}

fn a_stored_key_reads_back_as_stored(c: Ctx) {
    let k = key("next");
    c.block_on(repo(&c).insert(k.clone())).unwrap();
    assert_eq!(c.block_on(repo(&c).find(&k.kid)).unwrap(), Some(k.clone()));
    let all = c.block_on(repo(&c).all()).unwrap();
    assert!(all.contains(&k), "{all:?}");
    assert_eq!(c.block_on(repo(&c).find("no-such-kid")).unwrap(), None);
}

fn promoting_moves_next_to_current_and_current_to_previous(c: Ctx) {
    let (old, new) = (key("current"), key("next"));
    c.block_on(repo(&c).insert(old.clone())).unwrap();
    c.block_on(repo(&c).insert(new.clone())).unwrap();
    assert!(c
        .block_on(repo(&c).promote(&new.kid, Some(&old.kid), repos::now_utc()))
        .unwrap());
    assert_eq!(
        (state(&c, &old.kid), state(&c, &new.kid)),
        ("previous".into(), "current".into())
    );
    let now = c.block_on(repo(&c).find(&new.kid)).unwrap().unwrap();
    assert!(now.activated_at.is_some());
    let published = c.block_on(repo(&c).published_states()).unwrap();
    for (kid, state) in [(&old.kid, "previous"), (&new.kid, "current")] {
        assert!(
            published.contains(&(kid.clone(), state.to_owned())),
            "{published:?}"
        );
    }
    let first = c.block_on(repo(&c).first_activation()).unwrap();
    assert!(first.is_some_and(|t| Some(t) <= now.activated_at));
    // Again: the keys have moved on, so nothing changes.
    assert!(!c
        .block_on(repo(&c).promote(&new.kid, Some(&old.kid), repos::now_utc()))
        .unwrap());
}

fn of_two_promotions_at_once_exactly_one_happens(c: Ctx) {
    for _ in 0..10 {
        let (old, new) = (key("current"), key("next"));
        c.block_on(repo(&c).insert(old.clone())).unwrap();
        c.block_on(repo(&c).insert(new.clone())).unwrap();
        let (one, two) = (repo(&c), repo(&c));
        let won: Vec<bool> = c.block_on(async {
            let (a, b) = tokio::join!(
                one.promote(&new.kid, Some(&old.kid), repos::now_utc()),
                two.promote(&new.kid, Some(&old.kid), repos::now_utc()),
            );
            vec![a.unwrap(), b.unwrap()]
        });
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
        assert_eq!(
            (state(&c, &old.kid), state(&c, &new.kid)),
            ("previous".into(), "current".into())
        );
    }
}

fn retiring_and_revoking_take_only_published_keys(c: Ctx) {
    let (prev, next) = (key("previous"), key("next"));
    c.block_on(repo(&c).insert(prev.clone())).unwrap();
    c.block_on(repo(&c).insert(next.clone())).unwrap();
    assert!(
        !c.block_on(repo(&c).retire(&next.kid, repos::now_utc()))
            .unwrap(),
        "a next key is not retired"
    );
    assert!(c
        .block_on(repo(&c).retire(&prev.kid, repos::now_utc()))
        .unwrap());
    assert!(
        !c.block_on(repo(&c).retire(&prev.kid, repos::now_utc()))
            .unwrap(),
        "once"
    );
    assert!(
        !c.block_on(repo(&c).revoke(&prev.kid, repos::now_utc()))
            .unwrap(),
        "a retired key stays retired"
    );
    assert!(c
        .block_on(repo(&c).revoke(&next.kid, repos::now_utc()))
        .unwrap());
    assert_eq!(state(&c, &next.kid), "revoked");
    let published = c.block_on(repo(&c).published_states()).unwrap();
    assert!(
        !published
            .iter()
            .any(|(kid, _)| *kid == prev.kid || *kid == next.kid),
        "retired and revoked keys are not published: {published:?}"
    );
    assert!(!c
        .block_on(repo(&c).revoke(&next.kid, repos::now_utc()))
        .unwrap());
    assert!(!c
        .block_on(repo(&c).revoke("no-such-kid", repos::now_utc()))
        .unwrap());
}
